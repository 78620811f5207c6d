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

fn run(cli: Cli) -> Result<()> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Run { out } => {
            init_logs(cli.log_format);
            crate::daemon::run(
                config,
                crate::daemon::Options {
                    out,
                    on_render: None,
                    stop: None,
                },
            )?;
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
