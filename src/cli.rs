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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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

fn run(cli: Cli) -> Result<()> {
    let config = Config::load(&cli.config)?;
    match cli.command {
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
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
