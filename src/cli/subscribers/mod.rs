//! `pharos subscribers ...`: the admin's view of the email subscribers (list, add, remove,
//! export, import a CSV file, counters) and the subscriptions line of `pharos status`. Output
//! goes to the admin's terminal and may show whole addresses; errors and problems name lines and
//! masked addresses only, since stderr often ends up in a cron mail or a log.

mod csv;
use super::Usage;
use crate::config::{Config, Subscriptions};
use crate::store::{Added, Stats, Store};
use crate::subscriber::{Subscriber, mask, normalize_address};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use csv::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum SubscribersCommand {
    /// List subscribers: address, state, components followed and since when.
    #[command(
        after_help = "Examples:\n  pharos subscribers list\n  pharos subscribers list --pending\n  pharos subscribers list --json | jq -r '.[].address'\n\nShows whole addresses: they are personal data, for your terminal only."
    )]
    List {
        #[arg(long)]
        json: bool,
        /// Only those who have not confirmed yet.
        #[arg(long, conflicts_with = "confirmed")]
        pending: bool,
        /// Only confirmed subscribers.
        #[arg(long)]
        confirmed: bool,
    },
    /// Add a subscriber: pending (they get the confirmation email) unless --confirmed.
    #[command(
        after_help = "Examples:\n  pharos subscribers add jane@example.com\n  pharos subscribers add ops@example.com --component api --component database --confirmed\n\nWithout --confirmed the address gets the double opt-in email when the daemon runs, and follows\nnothing until it confirms. Use --confirmed only for people who asked you to subscribe them.\nAn address that is there already is left as it is (exit 0)."
    )]
    Add {
        address: String,
        /// A component to follow (repeatable; default: all, including ones added later).
        #[arg(long = "component", short = 'C', value_name = "ID")]
        components: Vec<String>,
        /// Subscribed at once, without the confirmation email.
        #[arg(long)]
        confirmed: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a subscriber (and the emails still queued for them).
    #[command(
        after_help = "Examples:\n  pharos subscribers remove jane@example.com\n\nExits 2 if no subscriber has the address. Works with subscriptions switched off too."
    )]
    Remove { address: String },
    /// Write every subscriber as CSV to stdout (a file `import` reads back).
    #[command(
        after_help = "Examples:\n  pharos subscribers export > subscribers.csv\n  pharos subscribers export --csv | gzip > backup.csv.gz\n\nColumns: email, state, components (ids separated by ;, empty for all), created_at,\nconfirmed_at, source. The file holds personal data: keep it private."
    )]
    Export {
        /// CSV (the default and only format).
        #[arg(long)]
        csv: bool,
    },
    /// Import subscribers from a CSV file: an `export` of Pharos or of Statuspage.
    #[command(
        after_help = "Examples:\n  pharos subscribers import --csv statuspage-subscribers.csv\n  pharos subscribers import --csv backup.csv --confirmed\n\nReads a header row with an email column (`email`, `Email Address`, ...; any case) and optional\n`type`, `components` (ids or names, separated by ; , or |), `state` columns, or one column per\ncomponent (yes/true/1/x); also headerless Statuspage template rows (`email,ADDRESS,...`) and\nplain lists of addresses. Rows of another type (sms, webhook, slack) are skipped.\n\nWithout --confirmed every new address gets the confirmation email; with it they are subscribed\nat once, except rows whose state says pending. Addresses there already are left as they are.\nValid lines are imported even when others are not; the others are listed as FILE:LINE and the\ncommand exits 1: fix them and import the file again."
    )]
    Import {
        /// The CSV file.
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// These addresses opted in already: no confirmation email.
        #[arg(long)]
        confirmed: bool,
    },
    /// Counts: subscribers, queued and sent emails, the inbox and its last poll.
    #[command(
        after_help = "Examples:\n  pharos subscribers stats\n  pharos subscribers stats --json"
    )]
    Stats {
        #[arg(long)]
        json: bool,
    },
}

/// What every command but list, export and remove says when `subscriptions:` is off.
const NOT_CONFIGURED: &str =
    "subscriptions are not configured (add a subscriptions: section, see config.example.yaml)";

fn configured(config: &Config) -> Result<&Subscriptions> {
    config
        .subscriptions()
        .ok_or_else(|| Usage(NOT_CONFIGURED.into()).into())
}

/// `pharos subscribers ...`. List, export and remove work on the store with subscriptions off
/// too: the admin can still see, save and delete what it holds (a deletion request does not
/// wait for the feature to be switched on again).
pub fn run(config: &Config, cmd: SubscribersCommand) -> Result<()> {
    let now = Utc::now();
    match cmd {
        SubscribersCommand::List {
            json,
            pending,
            confirmed,
        } => {
            note_if_off(config);
            let store = Store::open_for_reading(&config.database_path())?;
            let subs: Vec<Subscriber> = store
                .subscribers()?
                .into_iter()
                .filter(|s| !pending || s.confirmed_at.is_none())
                .filter(|s| !confirmed || s.confirmed_at.is_some())
                .collect();
            if json {
                let out: Vec<Value> = subs.iter().map(subscriber_json).collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", list_text(&subs, config));
            }
            Ok(())
        }
        SubscribersCommand::Add {
            address,
            components,
            confirmed,
            json,
        } => {
            let s = configured(config)?;
            let address = address_arg(&address)?;
            let components = component_args(config, &components)?;
            let mut store = Store::open(&config.database_path())?;
            let added = store.subscriber_add(&address, &components, confirmed, "admin", s, now)?;
            let existing = (added == Added::Exists)
                .then(|| store.subscribers())
                .transpose()?
                .and_then(|all| {
                    all.into_iter()
                        .find(|x| x.address.eq_ignore_ascii_case(&address))
                });
            if json {
                let result = match added {
                    Added::Confirmed => "confirmed",
                    Added::Pending => "pending",
                    Added::Exists => "exists",
                };
                let mut out = json!({"result": result, "address": address});
                if let Some(e) = &existing {
                    out["subscriber"] = subscriber_json(e);
                }
                println!("{out}");
                return Ok(());
            }
            match added {
                Added::Confirmed => println!(
                    "subscribed {address} to {} (confirmed: no confirmation email)",
                    following(&components)
                ),
                Added::Pending => println!(
                    "added {address} to {}; pending: a confirmation email goes out when the daemon runs (`pharos run`), and they follow nothing until they confirm",
                    following(&components)
                ),
                Added::Exists => {
                    let state = existing.as_ref().map_or_else(
                        || "subscribed".to_string(),
                        |e| format!("{} since {}", state(e), since(e, config)),
                    );
                    println!(
                        "{address} is there already ({state}); nothing changed (to change it: `pharos subscribers remove`, then `add`)"
                    );
                }
            }
            Ok(())
        }
        SubscribersCommand::Remove { address } => {
            note_if_off(config);
            let address = address_arg(&address)?;
            let mut store = Store::open(&config.database_path())?;
            if !store.subscriber_remove(&address)? {
                return Err(Usage(format!(
                    "no subscriber has the address {}; `pharos subscribers list` shows them",
                    mask(&address)
                ))
                .into());
            }
            println!("removed {address} (and the emails still queued for them)");
            Ok(())
        }
        SubscribersCommand::Export { csv: _ } => {
            note_if_off(config);
            let store = Store::open_for_reading(&config.database_path())?;
            let subs = store.subscribers()?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(export_csv(&subs).as_bytes())?;
            out.flush()?;
            eprintln!(
                "exported {} subscriber{} (personal data: keep the file private)",
                subs.len(),
                plural(subs.len())
            );
            Ok(())
        }
        SubscribersCommand::Import { csv, confirmed } => {
            let s = configured(config)?;
            import(config, s, &csv, confirmed, now)
        }
        SubscribersCommand::Stats { json } => {
            let s = configured(config)?;
            let stats =
                Store::open_for_reading(&config.database_path())?.subscription_stats(now)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&stats_json(&stats, s, now))?
                );
            } else {
                print!("{}", stats_text(&stats, s, config, now));
            }
            Ok(())
        }
    }
}

fn note_if_off(config: &Config) {
    if config.subscriptions().is_none() {
        eprintln!("note: {NOT_CONFIGURED}; showing what the store holds");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// An address argument, normalized; a bad one is a usage error that does not repeat it.
fn address_arg(raw: &str) -> Result<String> {
    normalize_address(raw).map_err(|e| Usage(format!("not an email address: {e}")).into())
}

/// Component ids checked against the config, without repeats, in the order given.
fn component_args(config: &Config, args: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for a in args {
        let id = a.trim();
        super::usage(crate::admin::check_component(config, id))?;
        if !out.iter().any(|x| x == id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

fn following(components: &[String]) -> String {
    if components.is_empty() {
        "all components".into()
    } else {
        components.join(", ")
    }
}

fn state(s: &Subscriber) -> &'static str {
    if s.confirmed_at.is_some() {
        "confirmed"
    } else {
        "pending"
    }
}

/// Since when a subscriber is in its state: confirmed since, or pending since (until when).
fn since(s: &Subscriber, config: &Config) -> String {
    let t = |t| crate::time::human(t, config.tz());
    match (s.confirmed_at, s.expires_at) {
        (Some(c), _) => t(c),
        (None, Some(e)) => format!("{} (expires {})", t(s.created_at), t(e)),
        (None, None) => t(s.created_at),
    }
}

/// A subscriber as `list --json` shows it: never its tokens (they are capabilities: whoever has
/// one manages the subscription).
fn subscriber_json(s: &Subscriber) -> Value {
    json!({
        "address": s.address,
        "state": state(s),
        "components": s.components,
        "all_components": s.components.is_empty(),
        "created_at": crate::time::iso(s.created_at),
        "confirmed_at": s.confirmed_at.map(crate::time::iso),
        "expires_at": s.expires_at.filter(|_| s.confirmed_at.is_none()).map(crate::time::iso),
        "source": s.source,
    })
}

fn list_text(subs: &[Subscriber], config: &Config) -> String {
    if subs.is_empty() {
        return "No subscribers.\n".into();
    }
    let rows: Vec<[String; 5]> = subs
        .iter()
        .map(|s| {
            [
                s.address.clone(),
                state(s).into(),
                if s.components.is_empty() {
                    "all".into()
                } else {
                    s.components.join(", ")
                },
                s.source.clone(),
                since(s, config),
            ]
        })
        .collect();
    let head = ["ADDRESS", "STATE", "COMPONENTS", "SOURCE", "SINCE"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..4).map(width).collect();
    let line = |r: [&str; 5]| {
        let mut l = String::new();
        for (i, cell) in r.iter().enumerate().take(4) {
            l.push_str(&format!("{cell:<w$}  ", w = widths[i]));
        }
        l.push_str(r[4]);
        l.push('\n');
        l
    };
    let mut out = line(head);
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    let confirmed = subs.iter().filter(|s| s.confirmed_at.is_some()).count();
    out.push_str(&format!(
        "\n{} subscriber{}: {confirmed} confirmed, {} pending\n",
        subs.len(),
        plural(subs.len()),
        subs.len() - confirmed
    ));
    out
}

/// `3 s`, `4 min`, `2 h`, `3 days`: how long ago, roughly.
fn ago(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// What is wrong with the inbox polling, if anything: the last poll failed, none for more than
/// 3 poll intervals, or none yet.
pub fn poll_alarm(stats: &Stats, poll: std::time::Duration, now: DateTime<Utc>) -> Option<String> {
    let limit = chrono::Duration::from_std(poll * 3).unwrap_or(chrono::Duration::MAX);
    match stats.last_poll {
        None => Some(
            "the inbox has never been polled: is `pharos run` running? Visitors' requests wait in the bucket until it is".into(),
        ),
        Some(_) if stats.last_poll_error => Some(
            "the last poll of the inbox failed: `pharos run` logs why (requests wait in the bucket)".into(),
        ),
        Some(t) if now - t > limit => Some(format!(
            "the inbox was last polled {} ago, but subscriptions.poll is {}: is `pharos run` running?",
            ago(now - t),
            crate::time::format_duration(poll)
        )),
        Some(_) => None,
    }
}

/// The line of `pharos status`: `subscriptions: 12 confirmed, 3 pending; inbox: 2 requests
/// waiting at the last poll 14 s ago; 0 emails queued`.
pub fn status_line(stats: &Stats, now: DateTime<Utc>) -> String {
    let inbox = match (stats.last_poll, stats.inbox_pending) {
        (None, _) => "inbox: not polled yet".to_string(),
        (Some(t), _) if stats.last_poll_error => {
            format!(
                "inbox: the last poll, {} ago, failed (see the daemon's log)",
                ago(now - t)
            )
        }
        (Some(t), n) => format!(
            "inbox: {} request{} waiting at the last poll {} ago",
            n.unwrap_or(0),
            plural(n.unwrap_or(0) as usize),
            ago(now - t)
        ),
    };
    let failing = if stats.mail_failing > 0 {
        format!(" ({} failing)", stats.mail_failing)
    } else {
        String::new()
    };
    format!(
        "subscriptions: {} confirmed, {} pending; {inbox}; {} email{} queued{failing}",
        stats.confirmed,
        stats.pending,
        stats.mail_queued,
        plural(stats.mail_queued as usize)
    )
}

fn stats_json(stats: &Stats, s: &Subscriptions, now: DateTime<Utc>) -> Value {
    json!({
        "confirmed": stats.confirmed,
        "pending": stats.pending,
        "mail_queued": stats.mail_queued,
        "mail_failing": stats.mail_failing,
        "sent_24h": stats.sent_24h,
        "inbox_pending": stats.inbox_pending,
        "last_poll": stats.last_poll.map(crate::time::iso),
        "last_poll_error": stats.last_poll_error,
        "poll_alarm": poll_alarm(stats, s.poll.0, now),
        "handled": stats.handled,
        "malformed": stats.malformed,
        "refused": stats.refused,
        "limited": stats.limited,
    })
}

/// The subscriptions part of `pharos status --json`, or null when they are off.
pub fn status_json(config: &Config, now: DateTime<Utc>) -> Result<Value> {
    let Some(s) = config.subscriptions() else {
        return Ok(Value::Null);
    };
    let stats = Store::open_for_reading(&config.database_path())?.subscription_stats(now)?;
    Ok(stats_json(&stats, s, now))
}

/// The subscriptions lines of `pharos status`, if they are on: the line, and the alarm in
/// capitals when polling is not well.
pub fn status_text(config: &Config, now: DateTime<Utc>) -> Result<Option<String>> {
    let Some(s) = config.subscriptions() else {
        return Ok(None);
    };
    let stats = Store::open_for_reading(&config.database_path())?.subscription_stats(now)?;
    let mut out = status_line(&stats, now);
    if let Some(alarm) = poll_alarm(&stats, s.poll.0, now) {
        out.push_str(&format!("\nINBOX NOT POLLED: {alarm}"));
    }
    Ok(Some(out))
}

fn stats_text(stats: &Stats, s: &Subscriptions, config: &Config, now: DateTime<Utc>) -> String {
    let poll = match stats.last_poll {
        None => "never".to_string(),
        Some(t) => format!(
            "{} ({} ago){}, {} object{} waiting then; every {}",
            crate::time::human(t, config.tz()),
            ago(now - t),
            if stats.last_poll_error {
                ", FAILED"
            } else {
                ""
            },
            stats.inbox_pending.unwrap_or(0),
            plural(stats.inbox_pending.unwrap_or(0) as usize),
            crate::time::format_duration(s.poll.0)
        ),
    };
    let mut out = format!(
        "subscribers:  {} confirmed, {} pending\nemails:       {} queued ({} failing), {} sent in the last 24 h\nlast poll:    {poll}\nin total:     {} requests handled, {} malformed objects, {} refused tokens, {} over a rate limit\n",
        stats.confirmed,
        stats.pending,
        stats.mail_queued,
        stats.mail_failing,
        stats.sent_24h,
        stats.handled,
        stats.malformed,
        stats.refused,
        stats.limited
    );
    if let Some(alarm) = poll_alarm(stats, s.poll.0, now) {
        out.push_str(&format!("\nINBOX NOT POLLED: {alarm}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            "site:\n  title: T\n  base_url: https://status.example.com/\ncomponents:\n  - id: api\n    name: API\n  - id: web\n    name: Website\n  - id: db\n    name: Database\n",
            Path::new("config.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn csv_reads_quotes_line_breaks_and_line_numbers() {
        let text = "\u{feff}a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"two\nlines\",z\nlast";
        assert_eq!(
            parse_csv(text).unwrap(),
            vec![
                (1, vec!["a".to_string(), "b".into()]),
                (2, vec!["x, y".into(), "say \"hi\"".into()]),
                (4, vec!["two\nlines".into(), "z".into()]),
                (6, vec!["last".into()]),
            ]
        );
        assert_eq!(
            parse_csv("a\n\"open,b\n"),
            Err((2, "a quoted field is not closed"))
        );
    }

    #[test]
    fn export_is_read_back_by_import() {
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let sub = |address: &str, components: &[&str], confirmed: bool| Subscriber {
            id: 1,
            address: address.into(),
            components: components.iter().map(|c| c.to_string()).collect(),
            created_at: t,
            confirmed_at: confirmed.then_some(t),
            confirm_token: None,
            expires_at: None,
            manage_token: "x".into(),
            source: "form".into(),
        };
        let subs = [
            sub("jane@example.com", &[], true),
            sub("o'neil+status@example.com", &["api", "db"], false),
        ];
        let text = export_csv(&subs);
        let file = read_import(&text, &config()).unwrap();
        assert_eq!(file.invalid, vec![]);
        assert_eq!(
            file.rows,
            vec![
                Row {
                    line: 2,
                    address: "jane@example.com".into(),
                    components: vec![],
                    pending: false
                },
                Row {
                    line: 3,
                    address: "o'neil+status@example.com".into(),
                    components: vec!["api".into(), "db".into()],
                    pending: true
                },
            ]
        );
    }

    #[test]
    fn import_reads_statuspage_files_and_lists_every_bad_line() {
        let c = config();
        let text = "Type,Email Address,Components\nemail,Jane@Example.COM,API;website\nsms,5551234,\nemail,not-an-address,\nemail,bob@example.com,Billing\nEMAIL,jane@example.com,\n,\"carol@example.com\",\"API, Database, Website\"\n";
        let file = read_import(text, &c).unwrap();
        assert_eq!(
            file.rows,
            vec![
                Row {
                    line: 2,
                    address: "Jane@example.com".into(),
                    components: vec!["api".into(), "web".into()],
                    pending: false
                },
                Row {
                    line: 7,
                    address: "carol@example.com".into(),
                    components: vec![],
                    pending: false
                },
            ]
        );
        assert_eq!(file.skipped[0], (3, "sms".to_string()));
        assert_eq!(
            file.invalid[0],
            (4, "not an email address: address has no @".into())
        );
        assert_eq!(file.invalid[1].0, 5);
        assert!(
            file.invalid[1].1.contains("\"Billing\"")
                && file.invalid[1].1.contains("known: api, web, db")
        );
        assert_eq!(file.skipped[1], (6, "the same address as line 2".into()));
        // Headerless template rows and plain lists; one column per component.
        let file = read_import(
            "email,a@example.com,yes\nwebhook,https://x.test/h,\nb@example.com\n",
            &c,
        )
        .unwrap();
        let got: Vec<&str> = file.rows.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(got, ["a@example.com", "b@example.com"]);
        assert_eq!(file.skipped, vec![(2, "webhook".into())]);
        let file = read_import("email,API,Website,Database\nx@example.com,yes,,\n", &c).unwrap();
        assert_eq!(file.rows[0].components, ["api"]);
        let err = read_import("name,phone\nJane,555\n", &c).unwrap_err();
        assert!(err.contains("line 1: no email column"), "{err}");
        assert_eq!(read_import("", &c).unwrap(), ImportFile::default());
    }

    #[test]
    fn status_says_how_the_inbox_polling_is() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let poll = std::time::Duration::from_secs(10);
        let mut stats = Stats {
            confirmed: 12,
            pending: 3,
            inbox_pending: Some(2),
            last_poll: Some(now - chrono::Duration::seconds(14)),
            ..Default::default()
        };
        assert_eq!(
            status_line(&stats, now),
            "subscriptions: 12 confirmed, 3 pending; inbox: 2 requests waiting at the last poll 14 s ago; 0 emails queued"
        );
        assert_eq!(poll_alarm(&stats, poll, now), None);
        stats.last_poll = Some(now - chrono::Duration::seconds(31));
        assert!(
            poll_alarm(&stats, poll, now)
                .unwrap()
                .contains("last polled 31 s ago, but subscriptions.poll is 10s")
        );
        stats.last_poll_error = true;
        assert!(poll_alarm(&stats, poll, now).unwrap().contains("failed"));
        let line = status_line(&stats, now);
        assert!(line.contains("the last poll, 31 s ago, failed"), "{line}");
        assert!(
            !line.contains("requests waiting"),
            "a failed poll counts nothing: {line}"
        );
        stats.last_poll = None;
        assert!(
            poll_alarm(&stats, poll, now)
                .unwrap()
                .contains("never been polled")
        );
        assert!(status_line(&stats, now).contains("inbox: not polled yet"));
    }
}
