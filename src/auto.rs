//! Automatic incidents: what a monitor's confirmed transitions write into `content/incidents/`.
//!
//! Down opens `<local date>-<monitor>.md` (`automatic: true`), or adds to the monitor's incident
//! when it is still open because an admin took it over. Recovery resolves an incident nobody else
//! wrote to; once an admin has written an update (or with `auto_resolve: never`) it posts
//! `monitoring` and leaves resolving to the admin. Every write goes through the one content
//! writer, which never overwrites a file that changed under it.

use crate::config::{AutoResolve, Config};
use crate::content::{self, Kind, ParseContext, SourceFile, write as content_write};
use crate::model::{ComponentStatus, Incident, IncidentStatus};
use crate::monitor::Monitor;
use crate::store::Store;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// What a transition did to the monitor's incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Opened(String),
    /// An update with this status was added to the open incident.
    Updated(String, IncidentStatus),
    Resolved(String),
    /// The incident was resolved or removed by someone else: the monitor lets go of it.
    Released(String),
    Nothing,
}

/// The monitor's incident file as it is now.
enum File {
    Missing,
    /// It does not parse (an admin is editing it): someone else has written to it.
    Broken,
    Parsed(Incident),
}

fn dir(config: &Config) -> PathBuf {
    config.content_path().join(content::INCIDENTS_DIR)
}

fn read(config: &Config, path: &Path, id: &str) -> File {
    let Ok(text) = std::fs::read_to_string(path) else {
        return File::Missing;
    };
    let src = SourceFile {
        kind: Kind::Incident,
        id: id.to_string(),
        path: path.to_path_buf(),
        text,
        loaded: true,
        hash: String::new(),
    };
    match content::parse_incident(&src, &ParseContext::of(config)) {
        Ok(p) => File::Parsed(p.item),
        Err(_) => File::Broken,
    }
}

/// Whether only the monitor has written to `i`: the one update it opened the incident with.
fn untouched(i: &Incident) -> bool {
    matches!(&i.updates[..], [only] if only.status == IncidentStatus::Investigating)
}

/// The effect a monitor writes for its component while its incident is open.
fn effect(m: &Monitor) -> ComponentStatus {
    m.down_status.max(ComponentStatus::DegradedPerformance)
}

/// An unused id for a new incident of `m` opened at `at`: `<local date>-<monitor>`, then `-2`,
/// `-3`, ... (neither a file nor an incident the store holds).
pub fn incident_id(
    config: &Config,
    m: &Monitor,
    at: DateTime<Utc>,
    taken: &std::collections::HashSet<String>,
) -> String {
    let base: String = crate::admin::dated(config, at, &m.id)
        .chars()
        .take(90)
        .collect();
    crate::admin::unique_id(&dir(config), &base, taken)
}

/// Where the monitor's incident `id` is now: following a rename (the monitor follows it too),
/// and writing back a file deleted while the incident was open (the site keeps showing it, so
/// the monitor must still be able to resolve it).
fn locate(
    config: &Config,
    store: &mut Store,
    m: &Monitor,
    id: String,
) -> Result<(String, PathBuf)> {
    let path = |id: &str| dir(config).join(format!("{id}.md"));
    if path(&id).exists() {
        return Ok((id.clone(), path(&id)));
    }
    if let Some((_, new)) = store
        .incident_moves()?
        .into_iter()
        .find(|(old, _)| *old == id)
    {
        store.set_open_incident(&m.id, Some(&new))?;
        return Ok((new.clone(), path(&new)));
    }
    crate::admin::restore_deleted_incident(config, &id)?;
    Ok((id.clone(), path(&id)))
}

/// `m` confirmed its component down at `at`.
/// `seen_from`: in a cluster, the regions whose checks saw the failure (named in the update:
/// "Detected from eu-west and us-east.").
pub fn down(
    config: &Config,
    store: &mut Store,
    m: &Monitor,
    at: DateTime<Utc>,
    seen_from: &[String],
) -> Result<Done> {
    let message = match seen_from {
        [] => m.incident.message.clone(),
        regions => format!(
            "{} Detected from {}.",
            m.incident.message,
            crate::cluster::judge::and_list(regions)
        ),
    };
    let linked = store.monitor_state(&m.id)?.and_then(|s| s.open_incident);
    if let Some(id) = linked {
        let (id, path) = locate(config, store, m, id)?;
        let status = match read(config, &path, &id) {
            File::Parsed(i) if i.status().is_open() => Some(match i.status() {
                // The monitor said "working again"; now it is not.
                IncidentStatus::Monitoring => IncidentStatus::Investigating,
                s => s,
            }),
            File::Broken => Some(IncidentStatus::Investigating),
            File::Parsed(_) | File::Missing => None,
        };
        if let Some(status) = status {
            content_write::update(&path, |text| {
                let text = crate::admin::set_components(text, &[(m.component.clone(), effect(m))])
                    .unwrap_or_else(|_| text.to_string());
                content_write::add_update(&text, at, status.as_str(), &message)
            })?;
            return Ok(Done::Updated(id, status));
        }
    }
    // Remember the id before writing the file: after a crash in between, the monitor still
    // knows its incident (and resolving a missing file only lets go of it), so none is doubled.
    let id = incident_id(config, m, at, &store.ids(Kind::Incident)?);
    store.set_open_incident(&m.id, Some(&id))?;
    let text = content_write::incident_text(
        &m.incident.title,
        &m.component,
        effect(m),
        true,
        at,
        IncidentStatus::Investigating,
        &message,
    );
    if let Err(e) = content_write::create(&dir(config).join(format!("{id}.md")), &text) {
        let _ = store.set_open_incident(&m.id, None);
        return Err(e.into());
    }
    Ok(Done::Opened(id))
}

/// `m` confirmed its component up (or only degraded) again at `at`.
pub fn recovered(
    config: &Config,
    store: &mut Store,
    m: &Monitor,
    at: DateTime<Utc>,
) -> Result<Done> {
    let Some(id) = store.monitor_state(&m.id)?.and_then(|s| s.open_incident) else {
        return Ok(Done::Nothing);
    };
    let (id, path) = locate(config, store, m, id)?;
    let file = read(config, &path, &id);
    let resolve = match (&file, m.incident.auto_resolve) {
        (File::Missing, _) => None,
        (File::Parsed(i), _) if !i.status().is_open() => None,
        (_, AutoResolve::Always) => Some(true),
        (_, AutoResolve::Never) | (File::Broken, _) => Some(false),
        (File::Parsed(i), AutoResolve::Untouched) => Some(untouched(i)),
    };
    match resolve {
        None => {
            store.set_open_incident(&m.id, None)?;
            Ok(Done::Released(id))
        }
        Some(true) => {
            let result = content_write::update(&path, |text| {
                content_write::add_update(
                    text,
                    at,
                    IncidentStatus::Resolved.as_str(),
                    &m.incident.recovery,
                )
            });
            // Resolved, or edited by hand meanwhile (then the admin owns it): either way the
            // monitor lets go of it.
            store.set_open_incident(&m.id, None)?;
            Ok(result.map(|()| Done::Resolved(id))?)
        }
        Some(false) => {
            // The admin resolves; the component follows the monitor meanwhile: the effect the
            // monitor wrote leaves the incident (one an admin set stays).
            let ours = match &file {
                File::Parsed(i) => i
                    .components
                    .iter()
                    .any(|(c, s)| *c == m.component && *s == effect(m)),
                _ => false,
            };
            content_write::update(&path, |text| {
                let text = if ours {
                    crate::admin::set_components(
                        text,
                        &[(m.component.clone(), ComponentStatus::Operational)],
                    )?
                } else {
                    text.to_string()
                };
                content_write::add_update(
                    &text,
                    at,
                    IncidentStatus::Monitoring.as_str(),
                    &m.incident.monitoring,
                )
            })?;
            Ok(Done::Updated(id, IncidentStatus::Monitoring))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(dir: &Path) -> (Config, Monitor) {
        let yaml = "site:\n  title: T\n  base_url: https://t.test\n  time_zone: Europe/Berlin\ncomponents:\n  - id: api\n    name: API\nmonitors:\n  - id: api-http\n    component: api\n    kind: http\n    url: http://127.0.0.1:9/\n";
        let config = Config::parse(yaml, &dir.join("config.yaml")).unwrap();
        let m = crate::monitor::compile(&config).remove(0);
        (config, m)
    }

    #[test]
    fn automatic_ids_use_the_local_date_and_have_no_daily_cap() {
        let dir = tempfile::tempdir().unwrap();
        let (config, m) = site(dir.path());
        // 00:30 in Berlin is 23:30 UTC the day before.
        let at = DateTime::parse_from_rfc3339("2026-11-26T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let none = std::collections::HashSet::new();
        assert_eq!(incident_id(&config, &m, at, &none), "2026-11-27-api-http");
        let incidents = dir.path().join("content/incidents");
        std::fs::create_dir_all(&incidents).unwrap();
        std::fs::write(incidents.join("2026-11-27-api-http.md"), "x").unwrap();
        for n in 2..=150 {
            std::fs::write(incidents.join(format!("2026-11-27-api-http-{n}.md")), "x").unwrap();
        }
        assert_eq!(
            incident_id(&config, &m, at, &none),
            "2026-11-27-api-http-151"
        );
        // An id the store still holds (an open incident whose file was deleted) is taken too.
        let held = std::collections::HashSet::from(["2026-11-27-api-http-151".to_string()]);
        assert_eq!(
            incident_id(&config, &m, at, &held),
            "2026-11-27-api-http-152"
        );
    }

    #[test]
    fn only_the_opening_update_leaves_an_incident_untouched() {
        let update = |status| crate::model::Update {
            at: Utc::now(),
            status,
            body_md: String::new(),
            body_html: String::new(),
        };
        let incident = |updates| Incident {
            id: "i".into(),
            title: "t".into(),
            impact: crate::model::Impact::Major,
            components: vec![],
            updates,
            automatic: true,
            explicit_impact: false,
        };
        assert!(untouched(&incident(vec![update(
            IncidentStatus::Investigating
        )])));
        assert!(!untouched(&incident(vec![update(
            IncidentStatus::Identified
        )])));
        assert!(!untouched(&incident(vec![
            update(IncidentStatus::Investigating),
            update(IncidentStatus::Investigating),
        ])));
    }
}
