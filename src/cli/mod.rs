//! The command line: parse arguments, run a command, print errors with their causes, map them to
//! exit codes (0 ok, 1 failure, 2 usage, 3 invalid config or content). A usage error is clap's,
//! or an argument clap cannot judge: one that names nothing in the site (an unknown component,
//! monitor, channel or id) or cannot be read (a bad status or time); see [`Usage`].

mod admin;
mod jobs;
mod subscribers;

use jobs::{check, notify, publish, warn_history};

use crate::config::{Config, DEFAULT_CONFIG_FILE};
use crate::diag::Problems;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "pharos",
    version,
    about = "A status page that stays up when your stack is down",
    after_help = "Examples:\n  pharos --config config.example.yaml build\n  pharos -c site/config.yaml build --out /tmp/site"
)]
pub struct Cli {
    /// Config file; paths inside it resolve relative to its folder. Default: config.yaml in the
    /// current folder, or else in the nearest folder above it.
    #[arg(short, long, global = true, env = "PHAROS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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
        after_help = "Examples:\n  pharos run\n  pharos -c /etc/pharos/config.yaml run --log-format json\n  pharos run --region eu-west   # with `cluster:`: leads, or stands by to take over\n\nStops cleanly on SIGINT/SIGTERM. Logs go to stderr (RUST_LOG=debug for more)."
    )]
    Run {
        /// Output folder (default: publish.output from the config).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// With `cluster:`: the region this machine checks from (its checks count as this
        /// region's; it leads, or stands by to take over).
        #[arg(long, value_name = "NAME")]
        region: Option<String>,
    },
    /// With `cluster:`: check from this region and write signed results to the cluster store
    /// (renders, publishes and notifies nothing).
    #[command(
        after_help = "Examples:\n  pharos probe --region us-east\n\nEvery check's User-Agent names Pharos, its version and the region. Stops cleanly on SIGINT/SIGTERM."
    )]
    Probe {
        /// The region this probe checks from (letters, digits, '-' and '_').
        #[arg(long, value_name = "NAME")]
        region: String,
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
        after_help = "Examples:\n  pharos check\n  pharos check api-health db-port\n\nExits 1 if any monitor is down, 2 if an id names no monitor."
    )]
    Check {
        /// Monitor ids (default: all).
        monitors: Vec<String>,
    },
    /// Create a new site: config.yaml with comments, content folders, a sample incident and
    /// maintenance, and a .gitignore. It builds right away.
    #[command(
        after_help = "Examples:\n  pharos init my-status && cd my-status && pharos build\n  pharos init            # in the current folder\n\nRefuses to overwrite existing files."
    )]
    Init {
        /// Folder to create the site in (default: the current folder).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Check the config and every content file; print every problem with file:line:col.
    #[command(
        after_help = "Examples:\n  pharos validate\n  pharos -c site/config.yaml validate && git commit\n\nExits 3 if there is any problem, 0 otherwise. Writes nothing."
    )]
    Validate,
    /// The current status: overall, each component and since when, open incidents, maintenance.
    #[command(after_help = "Examples:\n  pharos status\n  pharos status --json | jq .overall")]
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Open, update, resolve and list incidents (the Markdown files in content/incidents).
    #[command(
        after_help = "Examples:\n  pharos incident new \"Elevated API errors\" --component api=partial_outage -m \"Investigating.\"\n  pharos incident update 2026-11-26-elevated-api-errors --status identified -m \"Found it.\"\n  pharos incident resolve 2026-11-26-elevated-api-errors\n  pharos incident list --open\n\nThe files are plain Markdown: edit them by hand too; a running daemon publishes either within seconds."
    )]
    Incident {
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Schedule, update, cancel and list maintenance windows (content/maintenance).
    #[command(
        after_help = "Examples:\n  pharos maintenance new \"Database upgrade\" --component database --from \"2026-12-01 02:00\" --until \"2026-12-01 04:00\" -m \"Short pauses.\"\n  pharos maintenance list\n  pharos maintenance cancel 2026-12-01-database-upgrade"
    )]
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Notification channels: send a test message, or deliver what is pending.
    #[command(
        after_help = "Examples:\n  pharos notify test ops-slack\n  pharos notify send\n\n`pharos run` delivers notifications by itself; `send` is for sites published by cron."
    )]
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Email subscribers: list, add, remove, export, import (a Statuspage export too), stats.
    #[command(
        after_help = "Examples:\n  pharos subscribers list\n  pharos subscribers add jane@example.com --component api\n  pharos subscribers import --csv statuspage-subscribers.csv\n  pharos subscribers export > subscribers.csv\n  pharos subscribers stats\n\nNeeds the subscriptions: section of the config (list, export and remove work without it)."
    )]
    Subscribers {
        #[command(subcommand)]
        command: subscribers::SubscribersCommand,
    },
    /// Preview the site locally, re-rendering on every change to content, config or theme.
    #[command(
        after_help = "Examples:\n  pharos serve\n  pharos serve --addr 127.0.0.1:4000\n\nA preview for admins (monitors do not run, nothing is published); never expose it publicly."
    )]
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        addr: std::net::SocketAddr,
        /// Output folder to render into (default: publish.output from the config).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
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

/// Options every command that changes content shares.
#[derive(clap::Args, Debug, Clone)]
pub struct Change {
    /// When it happened (default now): ISO 8601, "2026-11-26 14:02" (site time zone), "-10m".
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Also build and publish the site to every enabled target now (without a running daemon).
    #[arg(long)]
    pub publish: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_wire<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Open an incident: writes content/incidents/<date>-<slug>.md.
    #[command(
        after_help = "Examples:\n  pharos incident new \"Elevated API errors\" --component api=partial_outage --message \"We are investigating.\"\n  pharos incident new \"Login failures\" --component dashboard=major_outage --impact critical --status identified --message \"Rolling back.\"\n  echo \"Looking into it.\" | pharos incident new \"Slow search\" --component search\n\nWithout --message the text is read from stdin, or from $EDITOR on a terminal.\nComponent statuses: degraded_performance, partial_outage (default), major_outage, under_maintenance."
    )]
    New {
        title: String,
        /// Affected component, as ID or ID=STATUS (repeatable).
        #[arg(long = "component", short = 'C', value_name = "ID[=STATUS]")]
        components: Vec<String>,
        /// none, minor, major or critical (default: from the component statuses).
        #[arg(long, value_parser = parse_wire::<crate::model::Impact>)]
        impact: Option<crate::model::Impact>,
        /// investigating (default), identified, monitoring or resolved.
        #[arg(long, default_value = "investigating", value_parser = parse_wire::<crate::model::IncidentStatus>)]
        status: crate::model::IncidentStatus,
        /// The first update (Markdown); "-" reads stdin.
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Add an update to an incident (newest first), optionally changing component statuses.
    #[command(
        after_help = "Examples:\n  pharos incident update 2026-11-26-elevated-api-errors --status identified --message \"A bad deploy; rolling back.\"\n  pharos incident update 2026-11-26-elevated-api-errors --status monitoring --component api=degraded_performance --message \"Recovering.\"\n\nID=operational removes a component from the incident."
    )]
    Update {
        id: String,
        /// investigating, identified, monitoring, resolved or postmortem.
        #[arg(long, value_parser = parse_wire::<crate::model::IncidentStatus>)]
        status: crate::model::IncidentStatus,
        /// The update (Markdown); "-" reads stdin.
        #[arg(long, short)]
        message: Option<String>,
        /// Change a component's status, as ID=STATUS (repeatable).
        #[arg(long = "component", short = 'C', value_name = "ID=STATUS")]
        components: Vec<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Resolve an incident: its components return to operational.
    #[command(
        after_help = "Examples:\n  pharos incident resolve 2026-11-26-elevated-api-errors\n  pharos incident resolve 2026-11-26-elevated-api-errors --message \"Fixed by rolling back release 42.\""
    )]
    Resolve {
        id: String,
        /// Default: "This incident has been resolved."
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Attach a postmortem (an update with status postmortem) to a resolved incident.
    #[command(
        after_help = "Examples:\n  pharos incident postmortem 2026-11-26-elevated-api-errors --message \"## What happened\n...\"\n  pharos incident postmortem 2026-11-26-elevated-api-errors < postmortem.md\n  pharos incident postmortem 2026-11-26-elevated-api-errors      # opens $EDITOR"
    )]
    Postmortem {
        id: String,
        /// The postmortem (Markdown); "-" reads stdin.
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// List incidents, newest first.
    #[command(
        after_help = "Examples:\n  pharos incident list --open\n  pharos incident list --json"
    )]
    List {
        /// Only incidents that are not resolved.
        #[arg(long)]
        open: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one incident with every update.
    #[command(after_help = "Examples:\n  pharos incident show 2026-11-26-elevated-api-errors")]
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Send a test message through one channel and print the receiver's answer.
    #[command(
        after_help = "Examples:\n  pharos notify test ops-webhook\n\nExits 1 if the receiver refuses or cannot be reached."
    )]
    Test {
        /// The channel's id (notifications[].id in the config).
        channel: String,
    },
    /// Deliver every pending notification once (each channel until one fails), then exit.
    #[command(
        after_help = "Examples:\n  pharos notify send\n\nExits 1 if a channel failed; it is retried on the next run."
    )]
    Send,
}

#[derive(Subcommand, Debug)]
pub enum MaintenanceCommand {
    /// Schedule maintenance: one window (--from/--until) or a recurring one (--cron/--duration).
    #[command(
        after_help = "Examples:\n  pharos maintenance new \"Database upgrade\" --component database --from \"2026-12-01 02:00\" --until \"2026-12-01 04:00\" --message \"Short interruptions.\"\n  pharos maintenance new \"Failover test\" --component api --from +1h --until +90m -m \"Testing.\"\n  pharos maintenance new \"Weekly patching\" --component api --cron \"0 3 * * Sun\" --duration 30m -m \"Routine.\"\n\nTimes without a zone are in the site time zone; cron runs in it too."
    )]
    New {
        title: String,
        /// Affected component id (repeatable).
        #[arg(long = "component", short = 'C', value_name = "ID", required = true)]
        components: Vec<String>,
        #[arg(long, value_name = "TIME", requires = "until", conflicts_with = "cron")]
        from: Option<String>,
        #[arg(long, value_name = "TIME", requires = "from")]
        until: Option<String>,
        /// Cron expression (5 fields, site time zone) for a recurring window.
        #[arg(long, value_name = "EXPR", requires = "duration")]
        cron: Option<String>,
        /// Length of each recurring window, e.g. 30m.
        #[arg(long, value_name = "DURATION", requires = "cron")]
        duration: Option<String>,
        /// Description (Markdown); "-" reads stdin.
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Add an update to a maintenance window.
    #[command(
        after_help = "Examples:\n  pharos maintenance update 2026-12-01-database-upgrade --message \"Running longer than planned.\"   # keeps its status\n  pharos maintenance update 2026-12-01-database-upgrade --status in_progress -m \"Starting now.\"   # starts it now, even if early\n  pharos maintenance update 2026-12-01-database-upgrade --status verifying -m \"Checking replicas.\"\n\nWithout --status an update only adds text: the window keeps its current status."
    )]
    Update {
        id: String,
        /// scheduled, in_progress, verifying or completed (default: the window's current status).
        #[arg(long, value_parser = parse_wire::<crate::model::MaintenanceStatus>)]
        status: Option<crate::model::MaintenanceStatus>,
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Cancel a maintenance window: it leaves the page; the file stays, marked `cancelled: true`.
    #[command(after_help = "Examples:\n  pharos maintenance cancel 2026-12-01-database-upgrade")]
    Cancel {
        id: String,
        #[command(flatten)]
        change: Change,
    },
    /// List maintenance windows (occurrences of recurring ones in the visible range).
    #[command(
        after_help = "Examples:\n  pharos maintenance list\n  pharos maintenance list --json"
    )]
    List {
        #[arg(long)]
        json: bool,
    },
}

fn now_from(arg: Option<&str>, config: &Config) -> Result<DateTime<Utc>> {
    match arg {
        None => Ok(Utc::now()),
        Some(s) => crate::time::parse_timestamp(s, config.tz())
            .map_err(|e| Usage(format!("--now: {e}")).into()),
    }
}

/// A command-line argument that names nothing in the site or cannot be read: exit code 2, as
/// for clap's own usage errors, in every command.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// `r`, its error (with its causes) made a [`Usage`] error.
fn usage<T>(r: Result<T>) -> Result<T> {
    r.map_err(|e| match e.downcast::<Usage>() {
        Ok(u) => u.into(),
        Err(e) => Usage(format!("{e:#}")).into(),
    })
}

/// Crates whose debug logs carry addresses (see [`init_logs`]).
const QUIET_CRATES: [&str; 9] = [
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "hickory_proto",
    "hickory_resolver",
    "lettre",
    "aws",
];

fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // HTTP and TLS libraries log host names, URLs and connection details at debug level: they
    // stay at info unless RUST_LOG names them explicitly, so `RUST_LOG=debug` leaks no monitor
    // or webhook address into the logs.
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let mut directives = wanted.clone();
    for noisy in QUIET_CRATES {
        if !wanted.contains(noisy) {
            directives.push_str(&format!(",{noisy}=info"));
        }
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Whether logs carry ANSI colours: only on a terminal (a journal, a file or a pipe gets plain
/// text, not escape codes), and not when `NO_COLOR` is set to anything (no-color.org).
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `s` as one word for a POSIX shell: as it is when nothing in it is special, else in single
/// quotes (a quote inside becomes `'\''`).
fn shell_quote(s: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./,:@%+=".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.into()
    } else {
        format!("'{}'", s.replace('\'', r"'\''")).into()
    }
}

/// Where the config path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Flag,
    Env,
    /// Neither: `config.yaml` here or above.
    Default,
}

/// The config file: `--config` or `PHAROS_CONFIG` as given; else `config.yaml` in the current
/// folder, or in the nearest folder above it (as git and cargo find theirs: `pharos status`
/// works from `content/incidents/`), which is then said on stderr.
fn config_file(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let here = PathBuf::from(DEFAULT_CONFIG_FILE);
    if here.is_file() {
        return Ok(here);
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    match cwd
        .ancestors()
        .skip(1)
        .map(|d| d.join(DEFAULT_CONFIG_FILE))
        .find(|p| p.is_file())
    {
        Some(found) => {
            eprintln!(
                "using {} (the nearest {DEFAULT_CONFIG_FILE} above the current folder)",
                found.display()
            );
            Ok(found)
        }
        None => Ok(here),
    }
}

/// `r`, with a hint when the config file is not there: how Pharos looks for it and how to name
/// it.
fn with_hint<T>(r: Result<T>, path: &Path, source: Source) -> Result<T> {
    r.map_err(|e| {
        let missing = !path.is_file()
            && e.chain()
                .any(|c| c.downcast_ref::<std::io::Error>().is_some());
        if !missing {
            return e;
        }
        let hint = match source {
            Source::Flag => format!("--config names {}; check the path", path.display()),
            Source::Env => format!(
                "PHAROS_CONFIG names {}; check the path, or unset it to use the config.yaml of the current folder or the nearest folder above it",
                path.display()
            ),
            Source::Default => format!(
                "there is no {DEFAULT_CONFIG_FILE} in {} or any folder above it: run pharos in your site's folder, pass --config FILE, or set PHAROS_CONFIG (`pharos init` starts a new site)",
                std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string())
            ),
        };
        Hinted { error: e, hint }.into()
    })
}

/// An error and what to do about it, printed on a line of its own.
#[derive(Debug, thiserror::Error)]
#[error("{error:#}")]
struct Hinted {
    error: anyhow::Error,
    hint: String,
}

fn run(cli: Cli, source: Source) -> Result<()> {
    // Commands that work without a (valid) config.
    if let Command::Init { dir } = &cli.command {
        let written = crate::admin::init(dir, Utc::now())?;
        for p in &written {
            println!("created {}", p.display());
        }
        // The folder is pasted into a shell: quoted, so "My Site" or "Bob's" cd right.
        let cd = if dir == Path::new(".") {
            String::new()
        } else {
            let dir = dir.to_string_lossy();
            // `cd -x` would be an option.
            let dir = if dir.starts_with('-') {
                format!("./{dir}")
            } else {
                dir.into_owned()
            };
            format!("cd {} && ", shell_quote(&dir))
        };
        println!(
            "\nThe sample incident and maintenance in content/ are examples: edit or delete them.\nNext: {cd}pharos build   (then open publish/index.html, or run `pharos serve`)"
        );
        return Ok(());
    }
    let path = config_file(cli.config.clone())?;
    if let Command::Validate = cli.command {
        // Every problem of the config and the content, even when the config has some.
        return with_hint(admin::validate(&path), &path, source);
    }
    let config = match Config::load(&path) {
        // A one-shot build is as strict as validate, and says as much: the content's problems
        // too, not only the config's.
        Err(e)
            if e.downcast_ref::<Problems>().is_some()
                && matches!(cli.command, Command::Build { .. } | Command::Publish { .. }) =>
        {
            return Err(admin::validate(&path).err().unwrap_or(e));
        }
        r => with_hint(r, &path, source)?,
    };
    match cli.command {
        Command::Init { .. } | Command::Validate => unreachable!("handled above"),
        Command::Status { json } => admin::status(&config, json)?,
        Command::Incident { command } => admin::incident(&config, command)?,
        Command::Maintenance { command } => admin::maintenance(&config, command)?,
        Command::Serve { addr, out } => crate::serve::serve(config, addr, out)?,
        Command::Notify { command } => notify(&config, command)?,
        Command::Subscribers { command } => subscribers::run(&config, command)?,
        Command::Run { out, region } => {
            init_logs(cli.log_format);
            crate::daemon::run(
                config,
                crate::daemon::Options {
                    out,
                    region,
                    ..Default::default()
                },
            )?;
        }
        Command::Probe { region } => {
            init_logs(cli.log_format);
            crate::daemon::probe(
                config,
                crate::daemon::Options {
                    region: Some(region),
                    ..Default::default()
                },
            )?;
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
            warn_history(&r.warnings);
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
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if !matches!(
        cli.command,
        Command::Run { .. } | Command::Serve { .. } | Command::Probe { .. }
    ) {
        // `pharos status | head`: a reader that stops early ends a one-shot command quietly,
        // as it does `ls`. The daemons keep Rust's default, where a closed stderr or log pipe
        // is an error they report, not a signal that kills them.
        // SAFETY: set once, before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let source = match matches.value_source("config") {
        Some(clap::parser::ValueSource::CommandLine) => Source::Flag,
        Some(clap::parser::ValueSource::EnvVariable) => Source::Env,
        _ => Source::Default,
    };
    match run(cli, source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<SomeDown>().is_some() {
                return ExitCode::FAILURE;
            }
            if let Some(h) = e.downcast_ref::<Hinted>() {
                eprintln!("error: {:#}\nhint: {}", h.error, h.hint);
                return ExitCode::FAILURE;
            }
            if let Some(u) = e.downcast_ref::<Usage>() {
                // As clap says its own.
                eprintln!("error: {u}\n\nFor more information, try '--help'.");
                return ExitCode::from(2);
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

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_quote_makes_one_word() {
        for (raw, quoted) in [
            ("status", "status"),
            ("../sites/status-2", "../sites/status-2"),
            ("My Site", "'My Site'"),
            ("Bob's site", r"'Bob'\''s site'"),
            ("$HOME; rm -rf ~", "'$HOME; rm -rf ~'"),
            ("", "''"),
        ] {
            assert_eq!(shell_quote(raw), quoted, "{raw}");
        }
    }

    #[test]
    fn log_colours_only_on_a_terminal_without_no_color() {
        assert!(super::colours(true, None));
        assert!(super::colours(true, Some("".into())));
        assert!(!super::colours(true, Some("1".into())));
        assert!(!super::colours(false, None));
    }
}
