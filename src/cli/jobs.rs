//! The one-shot jobs: `pharos check` (monitors once), `pharos publish` (render and upload once,
//! for cron and CI) and `pharos notify` (try or drain the channels).

use super::{NotifyCommand, Usage};
use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, Utc};

/// `pharos check`: returns whether every checked monitor is up.
pub(super) fn check(config: &Config, ids: &[String]) -> Result<bool> {
    let monitors = crate::monitor::compile(config);
    for id in ids {
        if !monitors.iter().any(|m| &m.id == id) {
            let known: Vec<&str> = monitors.iter().map(|m| m.id.as_str()).collect();
            let hint = crate::suggest::closest(id, &known)
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            return Err(Usage(format!("unknown monitor {id:?}{hint}")).into());
        }
    }
    let chosen: Vec<_> = monitors
        .into_iter()
        .filter(|m| ids.is_empty() || ids.contains(&m.id))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Heartbeats are judged by the pings the daemon recorded (none recorded: unknown).
    let pings = crate::store::Store::open_for_reading(&config.database_path())
        .and_then(|s| s.last_pings())
        .unwrap_or_default();
    let results = runtime.block_on(async {
        let checker = crate::monitor::Checker::one_shot(pings);
        // All at once: the slowest monitor (its timeout) bounds the wait.
        let handles: Vec<_> = chosen
            .iter()
            .map(|m| {
                let (checker, m) = (checker.clone(), m.clone());
                tokio::spawn(async move { checker.check(&m, Utc::now()).await })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("a check task panicked"));
        }
        out
    });
    let mut all_up = true;
    for (m, r) in chosen.iter().zip(&results) {
        all_up &= r.outcome == crate::monitor::Outcome::Up;
        let latency = r
            .latency
            .map(|l| format!("{} ms", l.as_millis()))
            .unwrap_or_else(|| "-".into());
        let outcome = match r.outcome {
            crate::monitor::Outcome::Inconclusive => "unknown",
            o => o.as_str(),
        };
        println!(
            "{:<24} {:<13} {:>9}  {}",
            m.id,
            outcome,
            latency,
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(all_up)
}

/// `pharos publish`: returns whether every target succeeded.
pub(super) fn publish(
    config: &Config,
    now: DateTime<Utc>,
    dry_run: bool,
    verify: bool,
    out: Option<&std::path::Path>,
) -> Result<bool> {
    let mut store = crate::store::Store::open(&config.database_path())?;
    let targets = config.publish.targets.iter().any(|t| t.enabled);
    let (site, manifest, folder_ok) = if dry_run {
        let snap = crate::build::snapshot(
            config,
            &mut store,
            now,
            &mut crate::build::Incremental::default(),
        )?;
        let site = crate::build::render_site(config, &snap, &mut Default::default())?;
        let manifest =
            crate::output::Manifest::of(&site, &config.publish.cache_control, &|_| None, &mut None);
        (
            std::sync::Arc::new(site),
            std::sync::Arc::new(manifest),
            true,
        )
    } else {
        let mut b = crate::build::update(
            &mut store,
            config,
            out,
            now,
            &mut crate::build::Incremental::default(),
        )?;
        warn_history(&b.report.warnings);
        let folder_ok = match b.write_error.take() {
            // A full or read-only disk does not keep the site from the targets.
            Some(e) if targets => {
                eprintln!(
                    "error: {e:#}\nthe output folder keeps its previous site; publishing the new one to the targets"
                );
                false
            }
            Some(e) => return Err(e),
            None => {
                eprintln!(
                    "built {} files into {}",
                    b.report.write.files,
                    b.report.out.display()
                );
                true
            }
        };
        (b.site, b.report.write.manifest, folder_ok)
    };
    if !targets {
        eprintln!(
            "no enabled publish targets in {}: the site is in the output folder only",
            config.file.display()
        );
        return Ok(true);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut all_ok = true;
        for target in crate::publisher::targets(config).await? {
            if dry_run {
                let remote = store.remote_objects(&target.name)?;
                let plan = crate::publisher::plan(&manifest, &remote, None, now, target.asset_grace);
                println!("target {:?}: {} to upload, {} to delete", target.name, plan.puts.len(), plan.deletes.len());
                for (path, why) in &plan.puts {
                    println!("  PUT    {path}  ({})", why.as_str());
                }
                for path in &plan.orphan {
                    println!("  KEEP   {path}  (unused hashed asset, kept for the grace period)");
                }
                for (path, why) in &plan.deletes {
                    println!("  DELETE {path}  ({})", why.as_str());
                }
                continue;
            }
            let started = std::time::Instant::now();
            if verify {
                match crate::publisher::verify(&store, &target).await {
                    Ok(drifted) => {
                        for p in &drifted {
                            println!("target {:?}: {p} is missing or different in the bucket; uploading it again", target.name);
                        }
                    }
                    Err(e) => {
                        eprintln!("error: target {:?}: cannot verify: {e:#}", target.name);
                        all_ok = false;
                        continue;
                    }
                }
            }
            // Large publishes (a first upload of a long history) show progress: a live counter on
            // a terminal, a line every 10 % otherwise.
            use std::io::IsTerminal;
            let tty = std::io::stderr().is_terminal();
            let name = target.name.clone();
            let progress = move |done: usize, total: usize| {
                if total < 200 {
                    return;
                }
                if tty {
                    eprint!("\r{name}: {done}/{total} uploaded");
                    if done == total {
                        eprintln!();
                    }
                } else if done * 10 / total != (done - 1) * 10 / total || done == total {
                    eprintln!("{name}: {done}/{total} uploaded");
                }
            };
            let result = crate::publisher::publish(&store, &target, &site, &manifest, now, Some(&progress), &mut Default::default()).await;
            store.publish_attempt(&target.name, Utc::now(), result.as_ref().err().map(|e| format!("{e:#}")).as_deref())?;
            match result {
                Ok(r) => println!(
                    "target {:?}: {} uploaded, {} deleted, {} requests in {} ms",
                    r.target,
                    r.uploaded.len(),
                    r.deleted.len(),
                    r.requests,
                    started.elapsed().as_millis()
                ),
                Err(e) => {
                    eprintln!("error: target {:?}: {e:#}; the next publish resumes where this one stopped", target.name);
                    all_ok = false;
                }
            }
        }
        Ok::<bool, anyhow::Error>(all_ok && folder_ok)
    })
}

/// Print content warnings (history naming removed components): not errors.
pub(super) fn warn_history(warnings: &[crate::diag::Problem]) {
    if !warnings.is_empty() {
        eprintln!("warning:\n{}", crate::diag::Problems(warnings.to_vec()));
    }
}

/// `pharos notify`: try a channel, or send what the outbox holds.
pub(super) fn notify(config: &Config, command: NotifyCommand) -> Result<()> {
    crate::tls_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        NotifyCommand::Test { channel } => {
            let ids: Vec<&str> = config.notifications.iter().map(|n| n.id.as_str()).collect();
            let Some(ch) = config
                .notifications
                .iter()
                .find(|n| n.id.as_str() == channel)
            else {
                return Err(Usage(format!(
                    "no notification channel {channel:?}{}",
                    crate::suggest::closest(&channel, &ids)
                        .map(|s| format!(" (did you mean {s:?}?)"))
                        .unwrap_or_else(|| format!("; channels: {}", ids.join(", ")))
                ))
                .into());
            };
            let event = crate::event::Event::Incident {
                kind: crate::model::EventKind::IncidentUpdated,
                at: Utc::now(),
                incident: crate::event::IncidentChange {
                    id: "pharos-test".into(),
                    title: "Test notification".into(),
                    status: crate::model::IncidentStatus::Resolved,
                    impact: crate::model::Impact::None,
                    update: format!(
                        "This is a test message from Pharos for channel {channel:?}. Nothing is wrong."
                    ),
                    components: Vec::new(),
                },
            };
            let key = format!("test:{channel}:{}", Utc::now().timestamp_millis());
            let timeout = ch
                .timeout
                .map_or(std::time::Duration::from_secs(10), |d| d.0);
            match runtime.block_on(crate::notify::channels::send(
                config, ch, &key, &event, timeout,
            )) {
                Ok(answer) => println!("{channel}: {answer}"),
                Err(e) => anyhow::bail!("{channel}: {e}"),
            }
        }
        NotifyCommand::Send => {
            let mut store = crate::store::Store::open(&config.database_path())?;
            let mut failed = Vec::new();
            for ch in config.notifications.iter().filter(|n| n.enabled) {
                if runtime.block_on(crate::notify::drain(&mut store, config, ch))? {
                    let state = store.channel_state(ch.id.as_str())?;
                    eprintln!(
                        "{}: {}",
                        ch.id.as_str(),
                        state.last_error.as_deref().unwrap_or("waiting to retry")
                    );
                    failed.push(ch.id.to_string());
                }
            }
            if !failed.is_empty() {
                anyhow::bail!(
                    "pending notifications stay queued for: {}",
                    failed.join(", ")
                );
            }
        }
    }
    Ok(())
}
