//! What admins do from the command line: create and change incident and maintenance files.
//!
//! The CLI writes the same Markdown an admin would write by hand, through the one content writer
//! ([`crate::content::write`]: atomic, and it refuses to overwrite a file that changed while it
//! worked). Every new text is parsed before it is written, so the CLI never leaves a broken
//! file; then the change is imported into the store. A running daemon sees the file through its
//! watcher and publishes it.

use crate::config::Config;
use crate::content::write::{self, yaml_string};
use crate::content::{Kind, ParseContext, SourceFile};
use crate::model::{ComponentStatus, Impact, IncidentStatus, MaintenanceStatus};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How often an edit is retried when someone else changed the file at the same moment.
const RETRIES: usize = 5;

fn folder(config: &Config, kind: Kind) -> PathBuf {
    config.content_path().join(kind.dir())
}

/// A path as printed: without a leading `./`.
pub fn shown(p: &Path) -> String {
    p.strip_prefix(".").unwrap_or(p).display().to_string()
}

/// The ids of every file of `kind` (file names without `.md`), sorted.
pub fn ids(config: &Config, kind: Kind) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(folder(config, kind))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| !n.starts_with(['.', '_']))
                .filter_map(|n| n.strip_suffix(".md").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The file of an existing incident or maintenance; an unknown id gets a "did you mean".
pub fn existing(config: &Config, kind: Kind, id: &str) -> Result<PathBuf> {
    let path = folder(config, kind).join(format!("{id}.md"));
    if crate::ids::check_id(id).is_ok() && path.is_file() {
        return Ok(path);
    }
    let known = ids(config, kind);
    let refs: Vec<&str> = known.iter().map(String::as_str).collect();
    // The slug without its date is a likely way to misremember an id too.
    let hint = crate::suggest::closest(id, &refs)
        .or_else(|| refs.iter().copied().find(|k| k.ends_with(id)))
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_else(|| format!("; `pharos {} list` shows them", kind.noun()));
    bail!(
        "no {} {id:?} in {}{hint}",
        kind.noun(),
        shown(&folder(config, kind))
    )
}

/// A readable id: the local date and a slug of the title (`2026-11-26-api-errors`), made
/// unique with `-2`, `-3`... Always valid for [`crate::ids::check_id`].
pub fn new_id(config: &Config, kind: Kind, title: &str, at: DateTime<Utc>) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { kind.noun() } else { slug };
    let taken = crate::store::Store::open_for_reading(&config.database_path())
        .and_then(|s| s.ids(kind))
        .unwrap_or_default();
    unique_id(&folder(config, kind), &dated(config, at, slug), &taken)
}

/// `<local date>-<rest>`: ids start with the site's local date (an incident opened at 00:30 in
/// Berlin is dated that day, not the day before in UTC).
pub fn dated(config: &Config, at: DateTime<Utc>, rest: &str) -> String {
    let day = crate::time::local_day(at, config.tz());
    format!("{}-{rest}", day.format("%Y-%m-%d"))
}

/// `base`, or `base-2`, `base-3`, ...: the first without a file in `dir` that the store does
/// not hold either (`taken`; no daily cap).
pub fn unique_id(dir: &Path, base: &str, taken: &std::collections::HashSet<String>) -> String {
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|id| !taken.contains(id) && !dir.join(format!("{id}.md")).exists())
        .expect("some suffix is free")
}

/// If the file of incident `id` is gone but the store still holds it open (its file was
/// deleted while it was open, so the site keeps showing it), write the file back from the
/// store, so it can be updated and resolved. Returns the path written, if any.
pub fn restore_deleted_incident(config: &Config, id: &str) -> Result<Option<PathBuf>> {
    let path = folder(config, Kind::Incident).join(format!("{id}.md"));
    if crate::ids::check_id(id).is_err() || path.exists() {
        return Ok(None);
    }
    let store = crate::store::Store::open(&config.database_path())?;
    let Some(incident) = store.incident(id)?.filter(|i| i.status().is_open()) else {
        return Ok(None);
    };
    write::create(&path, &write::incident_file(&incident))?;
    Ok(Some(path))
}

/// `api=major_outage` or `api` (then `default`); checks the id against the config.
pub fn component_arg(
    config: &Config,
    arg: &str,
    default: ComponentStatus,
) -> Result<(String, ComponentStatus)> {
    let (id, status) = match arg.split_once('=') {
        Some((id, s)) => (
            id.trim(),
            ComponentStatus::from_str(s.trim()).map_err(anyhow::Error::msg)?,
        ),
        None => (arg.trim(), default),
    };
    check_component(config, id)?;
    Ok((id.to_string(), status))
}

/// That `id` is a component of the config; an unknown one gets a "did you mean".
pub fn check_component(config: &Config, id: &str) -> Result<()> {
    if config.components.iter().any(|c| c.id.as_str() == id) {
        return Ok(());
    }
    let known: Vec<&str> = config.components.iter().map(|c| c.id.as_str()).collect();
    let hint = crate::suggest::closest(id, &known)
        .map(|s| format!("did you mean {s:?}? "))
        .unwrap_or_default();
    bail!(
        "unknown component {id:?}: {hint}known components: {}",
        known.join(", ")
    )
}

/// Parse `text` as the file would be parsed; the problems, located in `path`, if any.
fn check_text(config: &Config, kind: Kind, path: &Path, id: &str, text: &str) -> Result<()> {
    // Never write a file the daemon would then refuse.
    if let Some(p) = crate::content::size_problem(path, text.len() as u64, &config.limits) {
        return Err(crate::diag::Problems(vec![p]).into());
    }
    let src = SourceFile {
        kind,
        id: id.to_string(),
        path: path.to_path_buf(),
        text: text.to_string(),
        hash: String::new(),
        loaded: true,
    };
    crate::build::parse(&src, &ParseContext::of(config))
        .and_then(|(item, unknown)| crate::build::judge(item, unknown, chrono::Utc::now()))
        .map(drop)
        .map_err(|p| crate::diag::Problems(p).into())
}

/// Headings in an update's text become level 3 or deeper: `#` and `##` lines start updates in
/// a content file. Fenced code blocks are left alone.
pub fn demote_headings(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.trim().lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        if !fenced && (1..3).contains(&level) && line[level..].starts_with([' ', '\t']) {
            out.push_str(&"#".repeat(3 - level));
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// What `incident new` writes.
pub struct NewIncident<'a> {
    pub title: &'a str,
    pub components: &'a [(String, ComponentStatus)],
    pub impact: Option<Impact>,
    pub status: IncidentStatus,
    pub message: &'a str,
    pub at: DateTime<Utc>,
}

/// Create an incident file; returns (id, path).
pub fn incident_new(config: &Config, n: &NewIncident) -> Result<(String, PathBuf)> {
    if n.title.trim().is_empty() {
        bail!("the title is empty");
    }
    let mut text = format!("---\ntitle: {}\n", yaml_string(n.title.trim()));
    if let Some(impact) = n.impact {
        text.push_str(&format!("impact: {impact}\n"));
    }
    text.push_str(&components_block(n.components));
    text.push_str(&format!(
        "---\n## {} · {}\n{}\n",
        write::heading_time(n.at),
        n.status,
        demote_headings(n.message)
    ));
    let id = new_id(config, Kind::Incident, n.title, n.at);
    let path = folder(config, Kind::Incident).join(format!("{id}.md"));
    check_text(config, Kind::Incident, &path, &id, &text)?;
    write::create(&path, &text)?;
    Ok((id, path))
}

fn components_block(components: &[(String, ComponentStatus)]) -> String {
    if components.is_empty() {
        return String::new();
    }
    let mut out = String::from("components:\n");
    for (id, s) in components {
        out.push_str(&format!("  {id}: {s}\n"));
    }
    out
}

/// Apply `edit` to a content file and check the result parses before writing it; retried when
/// the file changed underneath (someone saved it at the same moment).
fn edit_file(
    config: &Config,
    kind: Kind,
    id: &str,
    mut edit: impl FnMut(&str) -> Result<String>,
) -> Result<PathBuf> {
    let path = existing(config, kind, id)?;
    let mut last = None;
    for _ in 0..RETRIES {
        match write::update(&path, |text| {
            let after = edit(text)?;
            check_text(config, kind, &path, id, &after)?;
            Ok(after)
        }) {
            Ok(()) => return Ok(path),
            Err(e @ write::Error::Changed(_)) => {
                last = Some(e);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            // A problem of the new text is reported as itself (exit 3 for content problems).
            Err(write::Error::Edit(e)) => return Err(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or_else(
        || anyhow::anyhow!("{} keeps changing", path.display()),
        anyhow::Error::from,
    ))
}

/// Add an update (newest first) and optionally change component effects.
pub fn incident_update(
    config: &Config,
    id: &str,
    status: IncidentStatus,
    message: &str,
    components: &[(String, ComponentStatus)],
    at: DateTime<Utc>,
) -> Result<PathBuf> {
    edit_file(config, Kind::Incident, id, |text| {
        let text = set_components(text, components)?;
        write::add_update(&text, at, status.as_str(), &demote_headings(message))
    })
}

/// Change the `components:` effects of an incident file: `operational` removes a component (it
/// is no longer affected), any other status sets or adds it. Nothing else changes.
pub fn set_components(text: &str, changes: &[(String, ComponentStatus)]) -> Result<String> {
    if changes.is_empty() {
        return Ok(text.to_string());
    }
    let mut current = front_components(text)?;
    for (cid, s) in changes {
        match current.iter_mut().find(|(c, _)| c == cid) {
            Some(_) if *s == ComponentStatus::Operational => current.retain(|(c, _)| c != cid),
            Some(e) => e.1 = s.to_string(),
            None if *s == ComponentStatus::Operational => {}
            None => current.push((cid.clone(), s.to_string())),
        }
    }
    let block = current
        .iter()
        .map(|(c, s)| format!("  {c}: {s}\n"))
        .collect::<String>();
    let block = if block.is_empty() {
        String::new()
    } else {
        format!("components:\n{block}")
    };
    set_front_key(text, "components", &block)
}

/// Attach a postmortem: an update with status `postmortem`.
pub fn incident_postmortem(
    config: &Config,
    id: &str,
    message: &str,
    at: DateTime<Utc>,
) -> Result<PathBuf> {
    let path = existing(config, Kind::Incident, id)?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", shown(&path)))?;
    let src = SourceFile {
        kind: Kind::Incident,
        id: id.to_string(),
        path: path.clone(),
        text,
        hash: String::new(),
        loaded: true,
    };
    let incident = crate::content::parse_incident(&src, &ParseContext::of(config))
        .map_err(crate::diag::Problems)?
        .item;
    if incident.status().is_open() {
        bail!(
            "incident {id} is still open ({}): a postmortem follows a resolved incident; resolve it first with `pharos incident resolve {id}`",
            incident.status().as_str()
        );
    }
    incident_update(config, id, IncidentStatus::Postmortem, message, &[], at)
}

/// The `components:` mapping of an incident file's front matter, as (id, status text).
pub fn front_components(text: &str) -> Result<Vec<(String, String)>> {
    let (yaml, _) = split_front(text)?;
    #[derive(serde::Deserialize)]
    struct Front {
        #[serde(default)]
        components: serde_yaml::Mapping,
    }
    if let Some(pos) = crate::yamlpos::too_deep(yaml) {
        anyhow::bail!(
            "cannot read the front matter: brackets nested too deep at line {}",
            pos.line + 1
        );
    }
    let front: Front = serde_yaml::from_str(yaml).context("cannot read the front matter")?;
    Ok(front
        .components
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str()?.to_string(),
                v.as_str().unwrap_or("").to_string(),
            ))
        })
        .collect())
}

/// (front matter YAML, offset of the closing `---` line) of a content file.
fn split_front(text: &str) -> Result<(&str, usize)> {
    let rest = text
        .strip_prefix("---\n")
        .context("the file does not start with a `---` front matter line")?;
    let end = if rest.starts_with("---") {
        0
    } else {
        rest.find("\n---")
            .map(|i| i + 1)
            .context("the front matter has no closing `---` line")?
    };
    Ok((&rest[..end], 4 + end))
}

/// Replace the top-level `key:` of the front matter (with its indented block) by `block` (empty
/// to remove it), or add `block` at the end of the front matter. Comments and everything else
/// stay as the admin wrote them.
pub fn set_front_key(text: &str, key: &str, block: &str) -> Result<String> {
    let (yaml, close) = split_front(text)?;
    let lines: Vec<&str> = yaml.split_inclusive('\n').collect();
    let starts = |l: &str| l.strip_prefix(key).is_some_and(|r| r.starts_with(':'));
    let mut out = String::from("---\n");
    let mut i = 0;
    let mut replaced = false;
    while i < lines.len() {
        if !replaced && starts(lines[i]) {
            out.push_str(block);
            i += 1;
            // The value's block: indented lines, list items and blank lines after the key.
            while i < lines.len()
                && (lines[i].starts_with([' ', '\t', '-']) || lines[i].trim().is_empty())
            {
                i += 1;
            }
            replaced = true;
            continue;
        }
        out.push_str(lines[i]);
        i += 1;
    }
    if !replaced {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(block);
    }
    out.push_str(&text[close..]);
    Ok(out)
}

/// What `maintenance new` writes.
pub struct NewMaintenance<'a> {
    pub title: &'a str,
    pub components: &'a [String],
    /// One window, or a cron expression and a duration.
    pub window: MaintenanceWindow,
    pub message: &'a str,
    pub created: DateTime<Utc>,
}

pub enum MaintenanceWindow {
    Once(DateTime<Utc>, DateTime<Utc>),
    Recurring(String, String),
}

/// Create a maintenance file; returns (id, path).
pub fn maintenance_new(config: &Config, n: &NewMaintenance) -> Result<(String, PathBuf)> {
    if n.title.trim().is_empty() {
        bail!("the title is empty");
    }
    for c in n.components {
        check_component(config, c)?;
    }
    let tz = config.tz();
    // Local wall time with its offset: readable, and exact across DST changes.
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %:z")
            .to_string()
    };
    let mut text = format!(
        "---\ntitle: {}\ncomponents: [{}]\n",
        yaml_string(n.title.trim()),
        n.components.join(", ")
    );
    let id_time = match &n.window {
        MaintenanceWindow::Once(from, until) => {
            if until <= from {
                bail!("--until must be after --from");
            }
            text.push_str(&format!(
                "scheduled_for: {}\nscheduled_until: {}\n",
                yaml_string(&local(*from)),
                yaml_string(&local(*until))
            ));
            *from
        }
        MaintenanceWindow::Recurring(cron, duration) => {
            text.push_str(&format!(
                "schedule: {}\nduration: {}\n",
                yaml_string(cron),
                yaml_string(duration)
            ));
            n.created
        }
    };
    text.push_str(&format!("---\n{}\n", demote_headings(n.message)));
    let id = new_id(config, Kind::Maintenance, n.title, id_time);
    let path = folder(config, Kind::Maintenance).join(format!("{id}.md"));
    check_text(config, Kind::Maintenance, &path, &id, &text)?;
    write::create(&path, &text)?;
    Ok((id, path))
}

/// Add an update to a maintenance window (a section below its description).
pub fn maintenance_update(
    config: &Config,
    id: &str,
    status: MaintenanceStatus,
    message: &str,
    at: DateTime<Utc>,
) -> Result<PathBuf> {
    edit_file(config, Kind::Maintenance, id, |text| {
        let (_, close) = split_front(text)?;
        let body_start = text[close..]
            .find('\n')
            .map_or(text.len(), |i| close + i + 1);
        let (head, body) = text.split_at(body_start);
        // The description comes first; updates follow it, newest first.
        let (description, updates) = match body.find("\n## ") {
            Some(i) => body.split_at(i + 1),
            None if body.starts_with("## ") => ("", body),
            None => (body, ""),
        };
        let description = description.trim_end_matches('\n');
        let sep = if description.is_empty() { "" } else { "\n\n" };
        Ok(format!(
            "{head}{description}{sep}## {} · {status}\n{}\n{}{}",
            write::heading_time(at),
            demote_headings(message),
            if updates.is_empty() { "" } else { "\n" },
            updates
        ))
    })
}

/// Cancel a maintenance window (`cancelled: true`: it leaves the page, the file stays).
pub fn maintenance_cancel(config: &Config, id: &str) -> Result<PathBuf> {
    edit_file(config, Kind::Maintenance, id, |text| {
        set_front_key(text, "cancelled", "cancelled: true\n")
    })
}

/// A scaffold for `pharos init`: (relative path, text). The sample incident happened
/// yesterday, the sample maintenance is tomorrow, so the site shows both right away.
pub fn scaffold(now: DateTime<Utc>) -> Vec<(String, String)> {
    let yesterday = (now - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let tomorrow = (now + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    vec![
        ("config.yaml".into(), include_str!("init/config.yaml").to_string()),
        (
            ".gitignore".into(),
            "# Rendered output and the state database: Pharos rebuilds them.\n/publish/\n/pharos.db\n/pharos.db-*\n# Pharos' lock for edits of content files.\n.pharos.lock\n".into(),
        ),
        (
            format!("content/incidents/{yesterday}-example-incident.md"),
            include_str!("init/incident.md").replace("DAY", &yesterday),
        ),
        (
            format!("content/maintenance/{tomorrow}-example-maintenance.md"),
            include_str!("init/maintenance.md").replace("DAY", &tomorrow),
        ),
    ]
}

/// `pharos init DIR`: write the scaffold; refuses to overwrite any existing file.
pub fn init(dir: &Path, now: DateTime<Utc>) -> Result<Vec<PathBuf>> {
    let files = scaffold(now);
    let clashes: Vec<String> = files
        .iter()
        .map(|(p, _)| dir.join(p))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !clashes.is_empty() {
        bail!(
            "refusing to overwrite existing files: {}; choose an empty or new folder",
            clashes.join(", ")
        );
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        write::create(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}
