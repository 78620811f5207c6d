//! The command line: parse arguments, run a command, print errors with their causes, map them to
//! exit codes (0 ok, 1 failure, 2 usage, 3 invalid config or content).

use crate::config::{Config, DEFAULT_CONFIG_FILE, Problems};
use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "pharos",
    version,
    about = "A status page that stays up when your stack is down",
    after_help = "Examples:\n  pharos --config config.example.yaml build\n  pharos -c site/config.yaml build --out /tmp/site"
)]
pub struct Cli {
    /// Config file; paths inside it resolve relative to its folder.
    #[arg(short, long, global = true, env = "PHAROS_CONFIG", default_value = DEFAULT_CONFIG_FILE)]
    pub config: PathBuf,
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: monitors, automatic incidents, and a fresh site on every change.
    #[command(
        after_help = "Examples:\n  pharos run\n  pharos -c /etc/pharos/config.yaml run --log-format json\n\nStops cleanly on SIGINT/SIGTERM. Logs go to stderr (RUST_LOG=debug for more)."
    )]
    Run {
        /// Output folder (default: publish.output from the config).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Render the current state and publish it to every enabled target once (for cron or CI).
    #[command(
        after_help = "Examples:\n  pharos publish\n  pharos publish --dry-run      # what would be uploaded and deleted, and why\n  pharos publish --verify       # also repair objects deleted or edited in the bucket\n\nExits 1 if a target fails; the next run (or the daemon) resumes where it stopped."
    )]
    Publish {
        /// Print the plan without touching any target.
        #[arg(long)]
        dry_run: bool,
        /// Compare the bucket with what Pharos recorded and re-upload what drifted.
        #[arg(long)]
        verify: bool,
        /// Output folder (default: publish.output from the config).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Render as if it were this time (as for `build`).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
    /// Run monitors once and print each outcome, latency and reason (private detail: for your terminal).
    #[command(
        after_help = "Examples:\n  pharos check\n  pharos check api-health db-port\n\nExits 1 if any monitor is down."
    )]
    Check {
        /// Monitor ids (default: all).
        monitors: Vec<String>,
    },
    /// Render the whole site (HTML, API, widget, badges, feeds) into the output folder.
    #[command(
        after_help = "Examples:\n  pharos build\n  pharos -c config.example.yaml build --out /var/www/status\n  pharos build --now 2026-12-01T02:30:00Z   # render as of a moment (previews, reproducible builds)"
    )]
    Build {
        /// Output folder (default: publish.output from the config, i.e. publish/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Render as if it were this time (ISO 8601 or "YYYY-MM-DD HH:MM" in the site time zone).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
}

fn now_from(arg: Option<&str>, config: &Config) -> Result<DateTime<Utc>> {
    match arg {
        None => Ok(Utc::now()),
        Some(s) => {
            crate::time::parse_timestamp(s, config.tz()).map_err(|e| anyhow::anyhow!("--now: {e}"))
        }
    }
}

fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `pharos check`: returns whether every checked monitor is up.
fn check(config: &Config, ids: &[String]) -> Result<bool> {
    let monitors = crate::monitor::compile(config);
    for id in ids {
        if !monitors.iter().any(|m| &m.id == id) {
            let known: Vec<&str> = monitors.iter().map(|m| m.id.as_str()).collect();
            let hint = crate::suggest::closest(id, &known)
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            anyhow::bail!("unknown monitor {id:?}{hint}");
        }
    }
    let chosen: Vec<_> = monitors
        .into_iter()
        .filter(|m| ids.is_empty() || ids.contains(&m.id))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(async {
        let checker = crate::monitor::Checker::new(Utc::now());
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
        println!(
            "{:<24} {:<13} {:>9}  {}",
            m.id,
            r.outcome.as_str(),
            latency,
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(all_up)
}

/// `pharos publish`: returns whether every target succeeded.
fn publish(
    config: &Config,
    now: DateTime<Utc>,
    dry_run: bool,
    verify: bool,
    out: Option<&std::path::Path>,
) -> Result<bool> {
    let mut store = crate::store::Store::open(&config.database_path())?;
    let (site, manifest) = if dry_run {
        let snap = crate::build::snapshot(config, &mut store, now)?;
        let site = crate::build::render_site(config, &snap)?;
        let manifest = crate::output::Manifest::of(&site, &config.publish.cache_control);
        (std::sync::Arc::new(site), std::sync::Arc::new(manifest))
    } else {
        let b = crate::build::build_site(
            &mut store,
            config,
            out,
            now,
            &mut crate::build::Incremental::default(),
        )?;
        eprintln!(
            "built {} files into {}",
            b.report.write.files,
            b.report.out.display()
        );
        (b.site, b.report.write.manifest)
    };
    if !config.publish.targets.iter().any(|t| t.enabled) {
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
                let plan = crate::publisher::plan(&manifest, &remote, now, target.asset_grace);
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
            let result = crate::publisher::publish(&store, &target, &site, &manifest, now, Some(&progress)).await;
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
        Ok::<bool, anyhow::Error>(all_ok)
    })
}

fn run(cli: Cli) -> Result<()> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Run { out } => {
            init_logs(cli.log_format);
            crate::daemon::run(config, crate::daemon::Options { out, stop: None })?;
        }
        Command::Publish {
            dry_run,
            verify,
            out,
            now,
        } => {
            let now = now_from(now.as_deref(), &config)?;
            if !publish(&config, now, dry_run, verify, out.as_deref())? {
                return Err(SomeDown.into());
            }
        }
        Command::Check { monitors } => {
            if !check(&config, &monitors)? {
                return Err(SomeDown.into());
            }
        }
        Command::Build { out, now } => {
            let now = now_from(now.as_deref(), &config)?;
            let started = std::time::Instant::now();
            let r = crate::build::build(&config, out.as_deref(), now)?;
            let phases: Vec<String> = r
                .phases
                .iter()
                .map(|(name, d)| format!("{name} {} ms", d.as_millis()))
                .collect();
            eprintln!(
                "built {} files ({} KiB) into {} in {} ms ({}); {} changed, {} removed",
                r.write.files,
                r.write.bytes / 1024,
                r.out.display(),
                started.elapsed().as_millis(),
                phases.join(", "),
                r.write.changed.len(),
                r.write.removed.len()
            );
        }
    }
    Ok(())
}

/// `pharos check` found a monitor that is not up (already printed).
#[derive(Debug, thiserror::Error)]
#[error("not every monitor is up")]
struct SomeDown;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<SomeDown>().is_some() {
                return ExitCode::FAILURE;
            }
            if let Some(p) = e.downcast_ref::<Problems>() {
                eprintln!("{p}");
                let n = p.0.len();
                eprintln!(
                    "error: {n} problem{} found; nothing was written",
                    if n == 1 { "" } else { "s" }
                );
                return ExitCode::from(3);
            }
            eprint!("error: {e}");
            for cause in e.chain().skip(1) {
                eprint!(": {cause}");
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}
