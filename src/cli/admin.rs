//! The admin commands: validate, status, incident ..., maintenance ... (see [`crate::admin`] for
//! what they write).

use super::{Change, IncidentCommand, MaintenanceCommand, Usage, usage};
use crate::admin::{self, MaintenanceWindow, NewIncident, NewMaintenance};
use crate::config::Config;
use crate::content::Kind;
use crate::diag::Problems;
use crate::model::{ComponentStatus, Incident, IncidentStatus};
use crate::snapshot::{MaintenanceInstance, Snapshot};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::io::{IsTerminal, Read};
use std::path::Path;

/// `pharos validate`: every problem of the config and of every content file, or none. Content
/// is checked even when the config has problems (against what of it could be read), so one
/// run shows them all.
pub fn validate(config_path: &Path) -> Result<()> {
    let (config, mut problems) = Config::load_checked(config_path)?;
    let mut warnings = Vec::new();
    let mut files = 0;
    if let Some(config) = &config {
        let ctx = crate::content::ParseContext::of(config);
        let scan =
            crate::content::scan(&config.content_path(), &ctx, &mut Default::default(), None);
        let now = Utc::now();
        problems.extend(scan.problems);
        problems.extend(crate::build::misnamed_problems(&scan.misnamed, &ctx, now));
        files = scan.files.len() + scan.misnamed.len();
        for f in &scan.files {
            match crate::build::parse(f, &ctx)
                .and_then(|(item, unknown)| crate::build::judge(item, unknown, now))
            {
                Ok((_, mut w)) => warnings.append(&mut w),
                Err(mut p) => problems.append(&mut p),
            }
        }
    }
    if !warnings.is_empty() {
        eprintln!("warning:\n{}", Problems(warnings));
    }
    if !problems.is_empty() {
        // The config first, then each file, each in its own order.
        problems.sort_by(|a, b| {
            (a.file != config_path, &a.file, a.pos.line, a.pos.col).cmp(&(
                b.file != config_path,
                &b.file,
                b.pos.line,
                b.pos.col,
            ))
        });
        return Err(Problems(problems).into());
    }
    println!(
        "{}: config and {} content file{} are valid",
        config_path.display(),
        files,
        if files == 1 { "" } else { "s" }
    );
    Ok(())
}

/// The state as the site shows it: content imported into the store (a broken file keeps its
/// last good version, as in the daemon), then a snapshot; with the content problems found.
fn snapshot_and_problems(
    config: &Config,
    now: DateTime<Utc>,
) -> Result<(Snapshot, Vec<crate::diag::Problem>)> {
    let mut store = crate::store::Store::open_for_reading(&config.database_path())?;
    let mut inc = crate::build::Incremental::lenient(Some(config.daemon.settle.0));
    let snap = crate::build::snapshot(config, &mut store, now, &mut inc)?;
    Ok((snap, inc.problems))
}

/// [`snapshot_and_problems`], telling the admin of problems on stderr.
fn snapshot(config: &Config, now: DateTime<Utc>) -> Result<Snapshot> {
    let (snap, problems) = snapshot_and_problems(config, now)?;
    warn_problems(&problems);
    Ok(snap)
}

fn warn_problems(problems: &[crate::diag::Problem]) {
    if !problems.is_empty() {
        eprintln!(
            "warning: the site keeps the last good version of these files until they are fixed:\n{}",
            Problems(problems.to_vec())
        );
    }
}

fn time(t: DateTime<Utc>, config: &Config) -> String {
    crate::time::human(t, config.tz())
}

fn incident_json(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "title": i.title,
        "status": i.status().as_str(),
        "impact": i.impact.as_str(),
        "automatic": i.automatic,
        "created_at": crate::time::iso(i.created_at()),
        "updated_at": crate::time::iso(i.updated_at()),
        "resolved_at": i.resolved_at().map(crate::time::iso),
        "components": i.components.iter().map(|(c, s)| json!({"id": c, "status": s.as_str()})).collect::<Vec<_>>(),
        "updates": i.updates.iter().map(|u| json!({"at": crate::time::iso(u.at), "status": u.status.as_str(), "body": u.body_md})).collect::<Vec<_>>(),
    })
}

fn maintenance_json(m: &MaintenanceInstance) -> Value {
    json!({
        "id": m.id,
        "source_id": m.source_id,
        "title": m.title,
        "status": m.status.as_str(),
        "components": m.components,
        "from": crate::time::iso(m.from),
        "until": crate::time::iso(m.until),
        "recurring": m.recurring,
    })
}

/// The occurrence of maintenance file `id` an update is about: the one in progress, else the
/// next one, else the last one.
fn current_window<'a>(
    windows: &'a [MaintenanceInstance],
    id: &str,
) -> Option<&'a MaintenanceInstance> {
    let of_file = || windows.iter().filter(move |m| m.source_id == id);
    of_file()
        .find(|m| m.is_active())
        .or_else(|| {
            of_file()
                .filter(|m| m.status == crate::model::MaintenanceStatus::Scheduled)
                .min_by_key(|m| m.from)
        })
        .or_else(|| of_file().max_by_key(|m| m.until))
}

/// In a cluster: the other regions as the leader last saw them.
fn regions(config: &Config) -> Result<Vec<crate::store::RegionRow>> {
    if config.cluster().is_none() {
        return Ok(Vec::new());
    }
    crate::store::Store::open_for_reading(&config.database_path())?.regions()
}

/// In a cluster: who holds the lease now, read from the cluster store: (holder, term), or why
/// it could not be read.
fn lease_now(config: &Config) -> Option<std::result::Result<(String, u64), String>> {
    let c = config.cluster()?;
    let read = || -> Result<(String, u64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let remote = crate::cluster::remote::Remote::new(c).await?;
            let got = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                remote.read::<crate::cluster::lease::Body>(
                    crate::cluster::lease::PATH,
                    crate::cluster::lease::KIND,
                ),
            )
            .await
            .map_err(|_| anyhow::anyhow!("the cluster store did not answer within 10 s"))??;
            match got {
                None => Ok(("nobody (no lease yet)".to_string(), 0)),
                Some(r) => {
                    let b = r
                        .body
                        .map_err(|e| anyhow::anyhow!("the lease object is refused: {e}"))?;
                    Ok((b.holder, b.term))
                }
            }
        })
    };
    Some(read().map_err(|e| format!("{e:#}")))
}

/// `pharos status`.
pub fn status(config: &Config, json: bool) -> Result<()> {
    let now = Utc::now();
    let lease = lease_now(config);
    let (snap, problems) = snapshot_and_problems(config, now)?;
    let open: Vec<&Incident> = snap.open_incidents().collect();
    let active: Vec<&MaintenanceInstance> = snap.active_maintenances().collect();
    let upcoming: Vec<&MaintenanceInstance> = snap.upcoming_maintenances().collect();
    if json {
        let out = json!({
            "overall": {"indicator": snap.overall.indicator.as_str(), "description": snap.overall.description},
            "components": snap.components.iter().map(|c| json!({
                "id": c.info.id, "name": c.info.name, "status": c.status.as_str(),
                "since": crate::time::iso(c.updated_at),
            })).collect::<Vec<_>>(),
            "open_incidents": open.iter().map(|i| incident_json(i)).collect::<Vec<_>>(),
            "active_maintenance": active.iter().map(|m| maintenance_json(m)).collect::<Vec<_>>(),
            "upcoming_maintenance": upcoming.iter().map(|m| maintenance_json(m)).collect::<Vec<_>>(),
            "content_problems": problems.iter().map(|p| json!({
                "file": p.file.display().to_string(), "line": p.pos.line, "column": p.pos.col,
                "entity": p.entity, "message": p.message, "text": p.to_string(),
            })).collect::<Vec<_>>(),
            "subscriptions": super::subscribers::status_json(config, now)?,
            "regions": regions(config)?.iter().map(|r| json!({
                "region": r.region, "silent": r.silent, "heard": crate::time::iso(r.heard),
            })).collect::<Vec<_>>(),
            "cluster": lease.as_ref().map(|l| match l {
                Ok((holder, term)) => json!({"leader": holder, "term": term}),
                Err(e) => json!({"error": e}),
            }),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &lease {
        Some(Ok((holder, term))) => println!(
            "Cluster: the lease is held by {holder} (term {term}). What follows is this machine's store: current on the leader only (the leader's region is the part before the '/').\n"
        ),
        Some(Err(e)) => println!(
            "Cluster: cannot read the lease ({e}). What follows is this machine's store: current on the leader only.\n"
        ),
        None => {}
    }
    println!(
        "{} ({})\n",
        snap.overall.description,
        snap.overall.indicator.as_str()
    );
    if !problems.is_empty() {
        println!(
            "CONTENT PROBLEMS: the site keeps the last good version of these files (or leaves them out) until they are fixed:\n{}\n",
            Problems(problems.clone())
        );
    }
    let width = snap
        .components
        .iter()
        .map(|c| c.info.name.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    println!("{:<width$}  {:<22}  SINCE", "COMPONENT", "STATUS");
    for c in &snap.components {
        println!(
            "{:<width$}  {:<22}  {}",
            c.info.name,
            c.status.as_str(),
            time(c.updated_at, config)
        );
    }
    println!();
    if open.is_empty() {
        println!("No open incidents.");
    } else {
        println!("Open incidents:");
        for i in &open {
            println!(
                "  {}  {} · {} impact · {} since {}",
                i.id,
                i.title,
                i.impact.as_str(),
                i.status().as_str(),
                time(i.created_at(), config)
            );
        }
    }
    for (label, list) in [
        ("Maintenance now", &active),
        ("Upcoming maintenance", &upcoming),
    ] {
        if !list.is_empty() {
            println!("{label}:");
            for m in list.iter() {
                println!(
                    "  {}  {} · {} to {}",
                    m.source_id,
                    m.title,
                    time(m.from, config),
                    time(m.until, config)
                );
            }
        }
    }
    if let Some(text) = super::subscribers::status_text(config, now)? {
        println!("\n{text}");
    }
    let regions = regions(config)?;
    if !regions.is_empty() {
        println!("\nOther regions (as this machine last saw them while it led):");
        let width = regions.iter().map(|r| r.region.len()).max().unwrap_or(6);
        for r in &regions {
            if r.silent {
                println!(
                    "  {:<width$}  SILENT since {}: its checks do not count towards the quorum",
                    r.region,
                    time(r.heard, config)
                );
            } else {
                println!(
                    "  {:<width$}  reporting (last {})",
                    r.region,
                    time(r.heard, config)
                );
            }
        }
    }
    Ok(())
}

/// Write back the file of an open incident deleted by hand (see
/// [`admin::restore_deleted_incident`]), and say so.
fn restored(config: &Config, id: &str) -> Result<()> {
    if let Some(path) = admin::restore_deleted_incident(config, id)? {
        eprintln!(
            "{} was deleted while the incident was open; wrote it back from the store",
            admin::shown(&path)
        );
    }
    Ok(())
}

/// The text of an update: `--message`, "-" or a pipe for stdin, else `default`, else `$EDITOR`.
fn message(arg: Option<String>, what: &str, default: Option<&str>) -> Result<String> {
    let mut text = match arg.as_deref() {
        Some("-") => read_stdin()?,
        Some(m) => m.to_string(),
        None if !std::io::stdin().is_terminal() => read_stdin()?,
        None => String::new(),
    };
    if text.trim().is_empty() && arg.is_none() {
        text = match default {
            Some(d) => d.to_string(),
            None => from_editor(what)?,
        };
    }
    if text.trim().is_empty() {
        return Err(Usage(format!(
            "{what} is empty: pass --message TEXT, pipe it on stdin, or set $EDITOR"
        ))
        .into());
    }
    Ok(text.trim().to_string())
}

fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the message from stdin")?;
    Ok(s)
}

const EDITOR_MARKER: &str =
    "<!-- pharos: write above this line; Markdown is fine. An empty text cancels. -->";

fn from_editor(what: &str) -> Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .map_err(|_| {
            Usage(format!(
                "{what}: pass --message TEXT, pipe it on stdin, or set $EDITOR"
            ))
        })?;
    let path = std::env::temp_dir().join(format!("pharos-{}.md", std::process::id()));
    std::fs::write(&path, format!("\n{EDITOR_MARKER}\n"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let status = status.with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} failed ({status}); nothing was written");
    }
    Ok(text.split(EDITOR_MARKER).next().unwrap_or("").to_string())
}

/// After a file was written: bring the store in line, and publish if asked.
fn record(config: &Config, change: &Change, now: DateTime<Utc>, written: &Path) -> Result<()> {
    let mut store = crate::store::Store::open(&config.database_path())?;
    // The file we wrote is whole and valid; others are imported as the daemon would (a broken
    // one keeps its last good version, one an editor is still saving waits).
    let mut scan = crate::content::ScanCache::default();
    scan.trust(written);
    let report = crate::build::import_content(
        config,
        &mut store,
        now,
        crate::build::Strictness::Lenient {
            settle: Some(config.daemon.settle.0),
        },
        &mut scan,
    )?;
    warn_problems(&report.problems);
    drop(store);
    if change.publish {
        if !super::publish(config, now, false, false, None)? {
            return Err(super::SomeDown.into());
        }
    } else if !change.json {
        eprintln!("a running `pharos run` publishes it within seconds; or run `pharos publish`");
    }
    Ok(())
}

fn done(change: &Change, action: &str, kind: Kind, id: &str, path: &Path) {
    let noun = kind.noun();
    if change.json {
        println!(
            "{}",
            json!({"action": action, "kind": noun, "id": id, "path": admin::shown(path)})
        );
    } else {
        println!("{action} {noun} {id} ({})", admin::shown(path));
    }
}

fn when(change: &Change, config: &Config, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    match &change.at {
        Some(t) => crate::time::parse_when(t, now, config.tz())
            .map_err(|e| Usage(format!("--at: {e}")).into()),
        None => Ok(now),
    }
}

fn components(
    config: &Config,
    args: &[String],
    default: ComponentStatus,
) -> Result<Vec<(String, ComponentStatus)>> {
    usage(
        args.iter()
            .map(|a| admin::component_arg(config, a, default))
            .collect(),
    )
}

/// `pharos incident ...`
pub fn incident(config: &Config, cmd: IncidentCommand) -> Result<()> {
    let now = Utc::now();
    match cmd {
        IncidentCommand::New {
            title,
            components: comps,
            impact,
            status,
            message: m,
            change,
        } => {
            if title.trim().is_empty() {
                return Err(Usage("the title is empty".into()).into());
            }
            let comps = components(config, &comps, ComponentStatus::PartialOutage)?;
            let text = message(m, "the first update", None)?;
            let at = when(&change, config, now)?;
            let (id, path) = admin::incident_new(
                config,
                &NewIncident {
                    title: &title,
                    components: &comps,
                    impact,
                    status,
                    message: &text,
                    at,
                },
            )?;
            done(&change, "opened", Kind::Incident, &id, &path);
            record(config, &change, now, &path)
        }
        IncidentCommand::Update {
            id,
            status,
            message: m,
            components: comps,
            change,
        } => {
            restored(config, &id)?;
            usage(admin::existing(config, Kind::Incident, &id))?;
            let comps = components(config, &comps, ComponentStatus::PartialOutage)?;
            let text = message(m, "the update", None)?;
            let at = when(&change, config, now)?;
            let path = admin::incident_update(config, &id, status, &text, &comps, at)?;
            done(&change, "updated", Kind::Incident, &id, &path);
            record(config, &change, now, &path)
        }
        IncidentCommand::Resolve {
            id,
            message: m,
            change,
        } => {
            restored(config, &id)?;
            usage(admin::existing(config, Kind::Incident, &id))?;
            let text = message(m, "the update", Some("This incident has been resolved."))?;
            let at = when(&change, config, now)?;
            let path =
                admin::incident_update(config, &id, IncidentStatus::Resolved, &text, &[], at)?;
            done(&change, "resolved", Kind::Incident, &id, &path);
            record(config, &change, now, &path)
        }
        IncidentCommand::Postmortem {
            id,
            message: m,
            change,
        } => {
            restored(config, &id)?;
            usage(admin::existing(config, Kind::Incident, &id))?;
            let text = message(m, "the postmortem", None)?;
            let at = when(&change, config, now)?;
            let path = admin::incident_postmortem(config, &id, &text, at)?;
            done(&change, "added a postmortem to", Kind::Incident, &id, &path);
            record(config, &change, now, &path)
        }
        IncidentCommand::List { open, json } => {
            let snap = snapshot(config, now)?;
            let list: Vec<&Incident> = snap
                .incidents
                .iter()
                .filter(|i| !open || i.status().is_open())
                .collect();
            if json {
                let out: Vec<Value> = list.iter().map(|i| incident_json(i)).collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if list.is_empty() {
                println!("No {}incidents.", if open { "open " } else { "" });
            } else {
                for i in list {
                    println!(
                        "{}  {:<13} {:<8} {}  {}",
                        i.id,
                        i.status().as_str(),
                        i.impact.as_str(),
                        time(i.created_at(), config),
                        i.title
                    );
                }
            }
            Ok(())
        }
        IncidentCommand::Show { id, json } => {
            usage(admin::existing(config, Kind::Incident, &id))?;
            let snap = snapshot(config, now)?;
            let i = snap
                .incidents
                .iter()
                .find(|i| i.id == id)
                .with_context(|| format!("incident {id:?} is not in the store"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&incident_json(i))?);
                return Ok(());
            }
            println!("{}\n{}", i.title, "=".repeat(i.title.chars().count()));
            println!(
                "id: {}\nstatus: {}\nimpact: {}\ncomponents: {}",
                i.id,
                i.status().as_str(),
                i.impact.as_str(),
                i.components
                    .iter()
                    .map(|(c, s)| format!("{c} ({s})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for u in &i.updates {
                println!(
                    "\n{} · {}\n{}",
                    time(u.at, config),
                    u.status.as_str(),
                    u.body_md
                );
            }
            Ok(())
        }
    }
}

/// `pharos maintenance ...`
pub fn maintenance(config: &Config, cmd: MaintenanceCommand) -> Result<()> {
    let now = Utc::now();
    let tz = config.tz();
    match cmd {
        MaintenanceCommand::New {
            title,
            components,
            from,
            until,
            cron,
            duration,
            message: m,
            change,
        } => {
            if title.trim().is_empty() {
                return Err(Usage("the title is empty".into()).into());
            }
            for c in &components {
                usage(admin::check_component(config, c))?;
            }
            let bad = |flag: &str, e: String| Usage(format!("{flag}: {e}"));
            let window = match (from, until, cron, duration) {
                (Some(f), Some(u), None, None) => {
                    let parse = |flag: &str, t: &str| {
                        crate::time::parse_when(t, now, tz).map_err(|e| bad(flag, e))
                    };
                    let (from, until) = (parse("--from", &f)?, parse("--until", &u)?);
                    if until <= from {
                        return Err(Usage("--until must be after --from".into()).into());
                    }
                    MaintenanceWindow::Once(from, until)
                }
                (None, None, Some(c), Some(d)) => {
                    crate::schedule::parse_cron(&c).map_err(|e| bad("--cron", e))?;
                    match crate::time::parse_duration(&d) {
                        Ok(len) if len.as_secs() >= 60 => {}
                        Ok(_) => return Err(bad("--duration", "must be at least 1m".into()).into()),
                        Err(e) => return Err(bad("--duration", e).into()),
                    }
                    MaintenanceWindow::Recurring(c, d)
                }
                _ => {
                    return Err(Usage(
                        "give --from and --until (one window) or --cron and --duration (recurring)"
                            .into(),
                    )
                    .into());
                }
            };
            let text = message(m, "the description", None)?;
            let (id, path) = admin::maintenance_new(
                config,
                &NewMaintenance {
                    title: &title,
                    components: &components,
                    window,
                    message: &text,
                    created: now,
                },
            )?;
            done(&change, "scheduled", Kind::Maintenance, &id, &path);
            record(config, &change, now, &path)
        }
        MaintenanceCommand::Update {
            id,
            status,
            message: m,
            change,
        } => {
            usage(admin::existing(config, Kind::Maintenance, &id))?;
            let text = message(m, "the update", None)?;
            let at = when(&change, config, now)?;
            // The window's state at the update's time (content imported as of now): what a
            // note without --status keeps.
            snapshot(config, now)?;
            let stored = crate::store::Store::open(&config.database_path())?.maintenances()?;
            let windows = crate::snapshot::expand_maintenances(&stored, tz, at);
            let current = current_window(&windows, &id);
            let status = status.unwrap_or_else(|| {
                current.map_or(crate::model::MaintenanceStatus::Scheduled, |w| w.status)
            });
            let early = current.filter(|w| {
                w.status == crate::model::MaintenanceStatus::Scheduled
                    && status == crate::model::MaintenanceStatus::InProgress
            });
            let path = admin::maintenance_update(config, &id, status, &text, at)?;
            done(&change, "updated", Kind::Maintenance, &id, &path);
            if let Some(w) = early {
                let note = format!(
                    "maintenance {id} is in progress from {} (it was scheduled to start {}): {} under maintenance now",
                    time(at, config),
                    time(w.from, config),
                    w.components.join(", ")
                );
                if change.json {
                    eprintln!("{note}");
                } else {
                    println!("{note}");
                }
            }
            record(config, &change, now, &path)
        }
        MaintenanceCommand::Cancel { id, change } => {
            usage(admin::existing(config, Kind::Maintenance, &id))?;
            let path = admin::maintenance_cancel(config, &id)?;
            done(&change, "cancelled", Kind::Maintenance, &id, &path);
            record(config, &change, now, &path)
        }
        MaintenanceCommand::List { json } => {
            let snap = snapshot(config, now)?;
            if json {
                let out: Vec<Value> = snap.maintenances.iter().map(maintenance_json).collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if snap.maintenances.is_empty() {
                println!("No maintenance.");
            } else {
                for m in &snap.maintenances {
                    println!(
                        "{}  {:<11} {} to {}  {}{}",
                        m.source_id,
                        m.status.as_str(),
                        time(m.from, config),
                        time(m.until, config),
                        m.title,
                        m.recurring
                            .as_ref()
                            .map(|c| format!(" (every {c})"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
    }
}
