//! The store's side of the state mirror: what a standby that takes over needs from the
//! leader's store so that it publishes the same site and re-sends nothing, as [`Part`]s (gzip
//! of deterministic JSON, one generic dump per table or slice of a table) and back.
//!
//! Table by table (every table of the schema is listed here; a test fails on a new one):
//!
//! | table | mirrored | why |
//! |---|---|---|
//! | `monitor_state` | yes | confirmation state, the open automatic incident, last ping, created time |
//! | `daily_rollups` | the rendered days + 2 | the uptime bars; one part per day, so closed days never change |
//! | `rollup_progress` | yes | which hours/days are rolled up |
//! | `publish_objects`, `publish_state` | yes | what each target holds: the successor uploads only what changed |
//! | `outbox` | bounded (below) | events: feeds, dedup keys, what channels and subscribers still have to be sent |
//! | `notify_channels` | yes | each channel's cursor: nothing is sent twice |
//! | `notify_log` | last 30 days | what was sent (a record; nothing reads old rows back) |
//! | `maintenance_marks`, `reminder_marks` | yes | edges and reminders already announced |
//! | `incident_moves`, `daemon_state` | yes | redirects of renamed incidents; when a daemon last listened |
//! | `subscribers`, `mail_outbox`, `inbox_done`, `confirm_sends`, `capability_pages`, `subscription_state` | yes | the subscription worker's whole state (the store prunes all but `subscribers` itself) |
//! | `components` | yes | store-only: `created_at` (first seen, in the Statuspage JSON), `removed_at` and the names of removed components (rendered) |
//! | `incidents`, `incident_components`, `incident_updates` | yes | store-only: `peak_impact` (the impact shown once effects were lowered), and the stored updates decide what an import finds to be news |
//! | `maintenances`, `maintenance_components`, `maintenance_updates` | yes | store-only: `first_seen` (the Statuspage `created_at`) |
//! | `sqlite_sequence` (rows of the tables above) | yes | AUTOINCREMENT ids (outbox, subscribers, mail) never go back after a takeover |
//! | `check_results` | no | raw results: large, private, bounded to days; the successor records its own |
//! | `hourly_rollups` | no | not rendered; only latency percentiles of the leader's own hours |
//!
//! The content tables are mirrored whole because of their store-only columns; the content
//! files are mirrored too (`cluster::mirror::content_parts`), and with both, the successor's
//! first import finds the hashes it holds and has nothing to do.
//!
//! Sizes: the store prunes `check_results`, rollups, `inbox_done`, `confirm_sends` and
//! `mail_outbox` (30 days) itself; `outbox` and `notify_log` are never pruned. The mirror
//! leaves out `notify_log` rows sent more than [`KEEP_DAYS`] ago and `outbox` events created
//! more than [`KEEP_DAYS`] ago, unless a channel or the subscription worker has yet to handle
//! them, an unsent email reads them, or they are among the newest [`KEEP_PER_KIND`] of their
//! kind (the feeds read the newest `site.feed_entries`). Tables that grow with use (`outbox`,
//! `notify_log`, `subscribers`, `mail_outbox`) are cut into parts of [`BLOCK`] ids, so a new
//! event changes one small part, not the whole table.

use super::Store;
use anyhow::{Context, Result, anyhow, bail};
use chrono::NaiveDate;
use rusqlite::TransactionBehavior;
use rusqlite::types::{Value as Sql, ValueRef};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

/// One piece of the mirrored state: a name (e.g. "table/monitor_state",
/// "table/daily_rollups/2026-11-30") and its bytes (gzip of deterministic JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Days of rollups mirrored before the first day the site renders (a takeover at midnight
/// by a clock a little ahead renders one more day).
pub const MARGIN_DAYS: u32 = 2;
/// Sent notifications and handled events older than this are left out of the mirror.
pub const KEEP_DAYS: i64 = 30;
/// Events of each kind kept whatever their age (the feeds show the newest `feed_entries`).
pub const KEEP_PER_KIND: i64 = 1000;
/// Ids per part of the tables cut into blocks.
pub const BLOCK: i64 = 1000;
/// The day parts of closed days from earlier dumps: see [`Store::mirror_parts_cached`].
/// Keep one per store between dumps.
#[derive(Default)]
pub struct MirrorCache {
    days: BTreeMap<NaiveDate, Part>,
    /// `rollup_progress` when `days` were read.
    progress: Option<Vec<(String, i64)>>,
}

impl MirrorCache {
    /// Forget every day part (after writing old days outside the rollup pass).
    pub fn clear(&mut self) {
        self.days.clear();
        self.progress = None;
    }
}

/// The fixed gzip level (the same state gives the same bytes).
const GZIP_LEVEL: u32 = 6;

/// How a table is cut into parts.
#[derive(Clone, Copy)]
enum Split {
    Whole,
    /// One part per value of `daily_rollups.day`, only the rendered window.
    Day,
    /// One part per [`BLOCK`] values of this integer column.
    Block(&'static str),
}

struct Table {
    name: &'static str,
    split: Split,
}

const fn whole(name: &'static str) -> Table {
    Table {
        name,
        split: Split::Whole,
    }
}

/// Mirrored tables, parents before children (restore inserts in this order).
const TABLES: &[Table] = &[
    whole("components"),
    whole("incidents"),
    whole("incident_components"),
    whole("incident_updates"),
    whole("incident_moves"),
    whole("maintenances"),
    whole("maintenance_components"),
    whole("maintenance_updates"),
    whole("monitor_state"),
    Table {
        name: "daily_rollups",
        split: Split::Day,
    },
    whole("rollup_progress"),
    whole("daemon_state"),
    whole("publish_objects"),
    whole("publish_state"),
    Table {
        name: "outbox",
        split: Split::Block("id"),
    },
    whole("notify_channels"),
    Table {
        name: "notify_log",
        split: Split::Block("event_id"),
    },
    whole("maintenance_marks"),
    whole("reminder_marks"),
    Table {
        name: "subscribers",
        split: Split::Block("id"),
    },
    whole("inbox_done"),
    Table {
        name: "mail_outbox",
        split: Split::Block("id"),
    },
    whole("confirm_sends"),
    whole("capability_pages"),
    whole("subscription_state"),
    whole("region_daily"),
    whole("cluster_regions"),
    // Last: restoring rows with their ids moves the sequence; this puts it where it was.
    whole("sqlite_sequence"),
];

/// Tables deliberately left out (see the module docs; a test checks the list is whole).
#[cfg(test)]
const NOT_MIRRORED: &[&str] = &["check_results", "hourly_rollups"];

/// One part's JSON: the column names and the rows, in key order.
#[derive(Serialize, Deserialize)]
struct Dump {
    table: String,
    columns: Vec<String>,
    rows: Vec<Vec<Json>>,
}

/// `bytes` gzipped at the fixed level, with no time or name in the header (deterministic).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    // GzBuilder writes mtime 0 and no file name: no timestamp in the header.
    let mut enc = flate2::GzBuilder::new().write(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::new(GZIP_LEVEL),
    );
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// The bytes of a gzip part (bounded: a part never unpacks to more than 1 GiB).
pub fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(1 << 30)
        .read_to_end(&mut out)?;
    Ok(out)
}

fn to_json(table: &str, v: ValueRef) -> Result<Json> {
    Ok(match v {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) => Json::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| anyhow!("table {table}: a non-finite number ({f})"))?,
        ValueRef::Text(t) => Json::String(
            String::from_utf8(t.to_vec())
                .map_err(|_| anyhow!("table {table}: text that is not UTF-8"))?,
        ),
        ValueRef::Blob(b) => serde_json::json!({ "blob": crate::ids::hex(b) }),
    })
}

fn from_json(table: &str, v: &Json) -> Result<Sql> {
    let bad = || anyhow!("table {table}: a value the mirror does not write: {v}");
    Ok(match v {
        Json::Null => Sql::Null,
        Json::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None if n.is_f64() => Sql::Real(n.as_f64().ok_or_else(bad)?),
            None => return Err(bad()),
        },
        Json::String(s) => Sql::Text(s.clone()),
        Json::Object(o) if o.len() == 1 => {
            let hex = o.get("blob").and_then(Json::as_str).ok_or_else(bad)?;
            Sql::Blob(crate::ids::unhex(hex).ok_or_else(bad)?)
        }
        _ => return Err(bad()),
    })
}

/// Column names of `table` in this store, in declaration order, and its primary key.
fn columns(conn: &rusqlite::Connection, table: &str) -> Result<(Vec<String>, Vec<String>)> {
    let mut stmt = conn.prepare("SELECT name, pk FROM pragma_table_info(?1)")?;
    let mut cols = Vec::new();
    let mut pk: Vec<(i64, String)> = Vec::new();
    for row in stmt.query_map([table], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (name, n) = row?;
        if n > 0 {
            pk.push((n, name.clone()));
        }
        cols.push(name);
    }
    pk.sort();
    Ok((cols, pk.into_iter().map(|(_, c)| c).collect()))
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The rows `table` mirrors, as a WHERE clause. `cutoff` is a Unix time, `from` a day.
fn filter(table: &str, cutoff: i64, from: NaiveDate) -> String {
    let names = TABLES
        .iter()
        .map(|t| format!("'{}'", t.name))
        .collect::<Vec<_>>()
        .join(",");
    match table {
        "daily_rollups" => format!("day >= '{from}'"),
        "notify_log" => format!("sent_at >= {cutoff}"),
        "outbox" => format!(
            "created_at >= {cutoff}
             OR id > (SELECT MIN(c) FROM (SELECT cursor AS c FROM notify_channels
                      UNION ALL SELECT value FROM subscription_state WHERE name = 'cursor'))
             OR id IN (SELECT event_id FROM mail_outbox WHERE sent_at IS NULL)
             OR id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY kind ORDER BY at DESC, id DESC) AS n
                       FROM outbox) WHERE n <= {KEEP_PER_KIND})"
        ),
        "sqlite_sequence" => format!("name IN ({names})"),
        _ => "1".to_string(),
    }
}

/// The part a row of `t` goes to (`value` is the split column's value).
fn part_name(t: &Table, value: Option<&Json>) -> String {
    match (t.split, value) {
        (Split::Whole, _) | (_, None) => format!("table/{}", t.name),
        (Split::Day, Some(v)) => format!("table/{}/{}", t.name, v.as_str().unwrap_or("")),
        (Split::Block(_), Some(v)) => format!(
            "table/{}/{:08}",
            t.name,
            v.as_i64().unwrap_or(0).div_euclid(BLOCK)
        ),
    }
}

/// Which mirrored table a part name is of, if it is one this version writes.
fn table_of(name: &str) -> Option<&'static Table> {
    let rest = name.strip_prefix("table/")?;
    let (table, suffix) = match rest.split_once('/') {
        Some((t, s)) => (t, Some(s)),
        None => (rest, None),
    };
    let t = TABLES.iter().find(|t| t.name == table)?;
    let ok = match (t.split, suffix) {
        (Split::Whole, None) => true,
        (Split::Day, Some(s)) => s.parse::<NaiveDate>().is_ok(),
        (Split::Block(_), Some(s)) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    };
    ok.then_some(t)
}

impl Store {
    /// The mirrored tables as parts (see the module docs), read in one read transaction, in
    /// name order. Deterministic: the same state gives byte-identical parts (rows in key
    /// order, fixed gzip level, no time in the gzip header). `history_days` is
    /// `site.history_days`: the rollups of the days the site renders, and [`MARGIN_DAYS`].
    pub fn mirror_parts(&self, today: NaiveDate, history_days: u32) -> Result<Vec<Part>> {
        self.mirror_parts_cached(today, history_days, &mut MirrorCache::default())
    }

    /// [`Store::mirror_parts`] without reading closed days again: the day parts of days before
    /// yesterday are kept in `cache` once dumped and taken from it, until the rollups move on
    /// (`rollup_progress` changes: hourly, and at the pass after a restart that redoes old
    /// days' percentiles), which empties it. Everything else is read as always. A write to an
    /// older day between two passes (a region's backlog of results) reaches the mirror at the
    /// next pass; after writing old days some other way (a restore), call
    /// [`MirrorCache::clear`].
    pub fn mirror_parts_cached(
        &self,
        today: NaiveDate,
        history_days: u32,
        cache: &mut MirrorCache,
    ) -> Result<Vec<Part>> {
        let from = today
            - chrono::Duration::days(i64::from(history_days.max(1)) - 1)
            - chrono::Duration::days(i64::from(MARGIN_DAYS));
        let closed = today - chrono::Duration::days(1);
        let cutoff = (today - chrono::Duration::days(KEEP_DAYS))
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp();
        // A deferred transaction: its first SELECT fixes the snapshot every table is read from.
        let tx = self.conn.unchecked_transaction()?;
        let progress: Vec<(String, i64)> = tx
            .prepare("SELECT name, value FROM rollup_progress ORDER BY name")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if cache.progress.as_ref() != Some(&progress) {
            cache.days.clear();
            cache.progress = Some(progress);
        }
        cache.days.retain(|d, _| *d >= from && *d < closed);
        let mut out: Vec<Part> = cache.days.values().cloned().collect();
        for t in TABLES {
            let (_, pk) = columns(&tx, t.name)?;
            let split_col = match t.split {
                Split::Whole => None,
                Split::Day => Some("day"),
                Split::Block(c) => Some(c),
            };
            // Key order (the columns themselves for a table without a key), within each part.
            let mut order: Vec<String> = Vec::new();
            match t.split {
                Split::Whole => {}
                Split::Day => order.push("day".into()),
                Split::Block(c) => order.push(format!("{} / {BLOCK}", quote(c))),
            }
            if pk.is_empty() {
                order.extend(columns(&tx, t.name)?.0.iter().map(|c| quote(c)));
            } else {
                order.extend(pk.iter().map(|c| quote(c)));
            }
            let mut filter = filter(t.name, cutoff, from);
            if matches!(t.split, Split::Day) && !cache.days.is_empty() {
                let held: Vec<String> = cache.days.keys().map(|d| format!("'{d}'")).collect();
                filter = format!("({filter}) AND day NOT IN ({})", held.join(","));
            }
            let sql = format!(
                "SELECT * FROM {} WHERE {filter} ORDER BY {}",
                quote(t.name),
                order.join(", ")
            );
            let mut stmt = tx
                .prepare(&sql)
                .with_context(|| format!("cannot read table {} for the mirror", t.name))?;
            let cols: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
            let at = split_col.and_then(|c| cols.iter().position(|x| x == c));
            // Rows come grouped by part (the order starts with the split).
            let mut parts: Vec<(String, Vec<Vec<Json>>)> = Vec::new();
            if matches!(t.split, Split::Whole) {
                parts.push((part_name(t, None), Vec::new()));
            }
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let row = (0..cols.len())
                    .map(|i| to_json(t.name, r.get_ref(i)?))
                    .collect::<Result<Vec<_>>>()?;
                let same = match (at, parts.last()) {
                    (None, Some(_)) => true,
                    (Some(i), Some((_, rows))) => rows.last().is_some_and(|l| l[i] == row[i]),
                    (_, None) => false,
                };
                if !same {
                    let name = part_name(t, at.map(|i| &row[i]));
                    if parts.last().is_none_or(|(n, _)| *n != name) {
                        parts.push((name, Vec::new()));
                    }
                }
                parts.last_mut().expect("pushed above").1.push(row);
            }
            for (name, rows) in parts {
                let day = match t.split {
                    Split::Day => rows.first().and_then(|r| r[at?].as_str()?.parse().ok()),
                    _ => None,
                };
                let json = serde_json::to_vec(&Dump {
                    table: t.name.to_string(),
                    columns: cols.clone(),
                    rows,
                })?;
                let part = Part {
                    name,
                    bytes: gzip(&json),
                };
                if let Some(day) = day.filter(|d: &NaiveDate| *d < closed) {
                    cache.days.insert(day, part.clone());
                }
                out.push(part);
            }
        }
        tx.finish()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Replace the mirrored tables with `parts`, in one transaction: every mirrored table is
    /// emptied first (also those with no part), then the rows are inserted. A part name or
    /// column this version does not know (a newer leader's schema) is an error naming it, and
    /// nothing is changed; a column the parts lack (an older leader) takes its default.
    pub fn mirror_restore(&mut self, parts: &[Part]) -> Result<()> {
        let unknown: Vec<&str> = parts
            .iter()
            .filter(|p| table_of(&p.name).is_none())
            .map(|p| p.name.as_str())
            .collect();
        if !unknown.is_empty() {
            bail!(
                "the mirror holds parts this Pharos does not know: {} (written by a newer version? upgrade this instance); nothing was restored",
                unknown.join(", ")
            );
        }
        let mut names = BTreeSet::new();
        if let Some(p) = parts.iter().find(|p| !names.insert(p.name.as_str())) {
            bail!(
                "the mirror holds part {} twice; nothing was restored",
                p.name
            );
        }
        let mut dumps: BTreeMap<&str, Vec<Dump>> = BTreeMap::new();
        for p in parts {
            let t = table_of(&p.name).expect("checked above");
            let json = gunzip(&p.bytes)
                .with_context(|| format!("mirror part {} does not unpack", p.name))?;
            let dump: Dump = serde_json::from_slice(&json)
                .with_context(|| format!("mirror part {} does not read", p.name))?;
            if dump.table != t.name {
                bail!(
                    "mirror part {} holds rows of table {}; nothing was restored",
                    p.name,
                    dump.table
                );
            }
            dumps.entry(t.name).or_default().push(dump);
        }
        let mut unknown_cols: BTreeSet<String> = BTreeSet::new();
        for (table, ds) in &dumps {
            let (have, _) = columns(&self.conn, table)?;
            for d in ds {
                for c in &d.columns {
                    if !have.contains(c) {
                        unknown_cols.insert(format!("{table}.{c}"));
                    }
                }
                if let Some(row) = d.rows.iter().find(|r| r.len() != d.columns.len()) {
                    bail!(
                        "mirror table {table}: a row of {} values for {} columns; nothing was restored",
                        row.len(),
                        d.columns.len()
                    );
                }
            }
        }
        if !unknown_cols.is_empty() {
            bail!(
                "the mirror holds columns this Pharos does not know: {} (written by a newer version? upgrade this instance); nothing was restored",
                unknown_cols.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Rows go in parents first, but children of a table emptied later must not cascade.
        tx.pragma_update(None, "defer_foreign_keys", "ON")?;
        for t in TABLES.iter().rev() {
            tx.execute(
                &format!("DELETE FROM {} WHERE {}", quote(t.name), filter_all(t.name)),
                [],
            )
            .with_context(|| format!("cannot empty table {}", t.name))?;
        }
        for t in TABLES {
            if t.name == "sqlite_sequence" {
                // The inserts above made rows of their own: the leader's replace them.
                tx.execute(
                    &format!("DELETE FROM sqlite_sequence WHERE {}", filter_all(t.name)),
                    [],
                )?;
            }
            for d in dumps.get(t.name).into_iter().flatten() {
                let sql = format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    quote(t.name),
                    d.columns
                        .iter()
                        .map(|c| quote(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    vec!["?"; d.columns.len()].join(", ")
                );
                let mut stmt = tx.prepare_cached(&sql)?;
                for row in &d.rows {
                    let values = row
                        .iter()
                        .map(|v| from_json(t.name, v))
                        .collect::<Result<Vec<_>>>()?;
                    stmt.execute(rusqlite::params_from_iter(values))
                        .with_context(|| format!("cannot restore a row of table {}", t.name))?;
                }
            }
        }
        tx.commit()
            .context("cannot restore the mirrored state (foreign keys?)")?;
        Ok(())
    }
}

/// What emptying `table` deletes: all of it, but only the mirrored tables' sequences.
fn filter_all(table: &str) -> String {
    match table {
        "sqlite_sequence" => filter(table, 0, NaiveDate::MIN),
        _ => "1".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Kind;
    use crate::model::{ComponentStatus, DailyRollup, Impact, Incident, IncidentStatus, Update};
    use crate::store::{ImportItem, Imported, from_ts};
    use std::collections::HashSet;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2026-11-30";
    const NOW: i64 = 1_796_000_000; // 2026-11-30

    /// A store with rows in every mirrored table: the store's own writes where they are
    /// plain, SQL for the rest.
    fn filled() -> Store {
        let mut s = Store::open_in_memory().unwrap();
        let now = from_ts(NOW);
        // 1001 old events of one kind, handled by everyone: the oldest is left out.
        s.conn
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1001)
                 INSERT INTO outbox (id, key, kind, at, created_at, payload)
                 SELECT i, 'old' || i, 'component_status', i, i, '{}' FROM n;
                 INSERT INTO notify_log VALUES ('ops', 1, 5, 'old');
                 INSERT INTO region_daily VALUES ('api', 'eu-west', '2026-11-28', 3, 1, 60, 3);
                 INSERT INTO cluster_regions VALUES ('us-east', 5, 0);",
            )
            .unwrap();
        s.sync_components(
            &[
                ("api".into(), "API".into()),
                ("old".into(), "Old \"quoted\"".into()),
            ],
            from_ts(NOW - 86_400 * 40),
        )
        .unwrap();
        s.sync_components(&[("api".into(), "API".into())], now)
            .unwrap();
        let incident = Incident {
            id: "2026-11-30-api".into(),
            title: "API down".into(),
            impact: Impact::Major,
            components: vec![("api".into(), ComponentStatus::MajorOutage)],
            updates: vec![Update {
                at: from_ts(NOW - 600),
                status: IncidentStatus::Investigating,
                body_md: "Looking — ü".into(),
                body_html: "<p>Looking — ü</p>".into(),
            }],
            automatic: true,
            explicit_impact: false,
        };
        s.import(
            &[ImportItem {
                item: Imported::Incident(incident),
                path: "incidents/2026-11-30-api.md".into(),
                hash: "h".into(),
                moved_from: Some("2026-11-29-api".into()),
            }],
            &HashSet::from([(Kind::Incident, "2026-11-30-api".to_string())]),
            now,
        )
        .unwrap();
        let r = DailyRollup {
            up: 1400,
            degraded: 30,
            down: 10,
            latency_p50_ms: Some(80),
            latency_p95_ms: None,
            latency_p99_ms: Some(300),
        };
        for d in ["2026-11-28", "2026-11-29", TODAY, "2026-01-01"] {
            s.put_daily_rollup("api", day(d), &r).unwrap();
        }
        s.put_remote("site", "index.html", "aa", "bb").unwrap();
        s.put_remote("site", "a/b.css", "cc", "dd").unwrap();
        s.publish_attempt("site", now, Some("timeout")).unwrap();
        s.note_content_problem("incidents/x.md", &["x.md:1:1: bad".into()], now)
            .unwrap();
        s.channel_state("ops").unwrap();
        s.note_content_problem("incidents/y.md", &["y.md:1:1: bad".into()], now)
            .unwrap();
        let last: i64 = s
            .conn
            .query_row("SELECT MAX(id) FROM outbox", [], |r| r.get(0))
            .unwrap();
        s.channel_done("ops", last, Some("200 OK"), now).unwrap();
        s.conn
            .execute_batch(&format!(
                "INSERT INTO maintenances (id, title, source_path, content_hash, scheduled_for, scheduled_until, first_seen, description_md, description_html)
                   VALUES ('db', 'DB', 'maintenance/db.md', 'h', {NOW}, {NOW} + 3600, {NOW} - 99, 'd', '<p>d</p>');
                 INSERT INTO maintenance_components VALUES ('db', 0, 'api');
                 INSERT INTO maintenance_updates VALUES ('db', 0, {NOW}, 'scheduled', 'b', '<p>b</p>');
                 INSERT INTO monitor_state (monitor_id, component_id, status, since, level, candidate, streak, open_incident, private, last_ping_ms, created_ms)
                   VALUES ('api-http', 'api', 'major_outage', {NOW}, 'down', 'down', 3, '2026-11-30-api', 0, NULL, 1);
                 INSERT INTO rollup_progress VALUES ('hourly', {NOW});
                 INSERT INTO daemon_state VALUES ('alive', {NOW});
                 INSERT INTO maintenance_marks VALUES ('db', {NOW}, 'maintenance_scheduled');
                 INSERT INTO reminder_marks VALUES ('db', {NOW});
                 INSERT INTO subscribers (email, components, created_at, manage_token, source) VALUES ('a@example.com', '[]', {NOW}, 'm1', 'form');
                 INSERT INTO subscribers (id, email, components, created_at, manage_token, source) VALUES (2500, 'b@example.com', '[\"api\"]', {NOW}, 'm2', 'import');
                 INSERT INTO inbox_done VALUES ('k', 'e', 1, {NOW});
                 INSERT INTO mail_outbox (subscriber_id, kind, key, event_id, payload, priority, created_at, next_at) VALUES (1, 'event', '<m1@x>', {last}, NULL, 1, {NOW}000, {NOW}000);
                 INSERT INTO confirm_sends VALUES (x'00ff10', {NOW});
                 INSERT INTO confirm_sends VALUES ('h2', 2.5);
                 INSERT INTO capability_pages VALUES ('site', 'manage/x.html', 'ee');
                 INSERT INTO subscription_state VALUES ('cursor', {last} - 1);"
            ))
            .unwrap();
        s
    }

    fn count(s: &Store, table: &str) -> i64 {
        s.conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", quote(table)), [], |r| {
                r.get(0)
            })
            .unwrap()
    }

    #[test]
    fn every_table_is_either_mirrored_or_left_out_on_purpose() {
        let s = Store::open_in_memory().unwrap();
        let mut stmt = s
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let all: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for t in &all {
            assert!(
                TABLES.iter().any(|m| m.name == t) || NOT_MIRRORED.contains(&t.as_str()),
                "table {t} is new: decide whether the mirror carries it (module docs)"
            );
        }
    }

    #[test]
    fn parts_restore_into_a_fresh_store_and_dump_byte_identical() {
        let mut s = filled();
        for t in TABLES {
            assert!(count(&s, t.name) > 0, "the test fills {}", t.name);
        }
        let parts = s.mirror_parts(day(TODAY), 90).unwrap();
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        assert!(
            names.contains(&"table/daily_rollups/2026-11-28"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"table/daily_rollups/2026-01-01"),
            "not rendered: {names:?}"
        );
        assert!(names.contains(&"table/subscribers/00000000"));
        assert!(names.contains(&"table/subscribers/00000002"), "{names:?}");
        assert!(names.contains(&"table/outbox/00000000"));
        assert!(names.contains(&"table/outbox/00000001"));
        assert!(names.contains(&"table/sqlite_sequence"));
        let mut fresh = Store::open_in_memory().unwrap();
        fresh.mirror_restore(&parts).unwrap();
        assert_eq!(fresh.mirror_parts(day(TODAY), 90).unwrap(), parts);
        // What the successor renders and sends from.
        assert_eq!(fresh.incidents().unwrap(), s.incidents().unwrap());
        assert_eq!(
            fresh.component_created().unwrap(),
            s.component_created().unwrap()
        );
        assert_eq!(
            fresh.removed_components().unwrap(),
            s.removed_components().unwrap()
        );
        assert_eq!(
            fresh.channel_state("ops").unwrap(),
            s.channel_state("ops").unwrap()
        );
        assert_eq!(
            fresh.events_after(1001, 10).unwrap(),
            s.events_after(1001, 10).unwrap()
        );
        assert_eq!(
            count(&fresh, "outbox"),
            count(&s, "outbox") - 1,
            "the oldest handled event is left out"
        );
        assert_eq!(
            count(&fresh, "notify_log"),
            1,
            "the 1970 record is left out"
        );
        // Blobs and reals keep their type.
        let kinds: Vec<String> = fresh
            .conn
            .prepare("SELECT typeof(email_hash) || typeof(at) FROM confirm_sends ORDER BY 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(kinds, ["blobinteger", "textreal"]);
        // Ids go on where the leader's did.
        let id: i64 = {
            fresh
                .conn
                .execute(
                    "INSERT INTO subscribers (email, created_at, manage_token, source) VALUES ('c@x', 0, 'm3', 'form')",
                    [],
                )
                .unwrap();
            fresh.conn.last_insert_rowid()
        };
        assert_eq!(id, 2501);
        // Restoring over a store with other state replaces it, tables without a part too.
        let mut other = filled();
        other
            .conn
            .execute("INSERT INTO rollup_progress VALUES ('daily', 7)", [])
            .unwrap();
        let mut fewer = parts.clone();
        fewer.retain(|p| p.name != "table/rollup_progress");
        other.mirror_restore(&fewer).unwrap();
        assert_eq!(count(&other, "rollup_progress"), 0);
        assert_eq!(count(&other, "check_results"), 0);
    }

    #[test]
    fn the_same_state_gives_the_same_bytes() {
        let a = filled().mirror_parts(day(TODAY), 90).unwrap();
        let s = filled();
        let b = s.mirror_parts(day(TODAY), 90).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.mirror_parts(day(TODAY), 90).unwrap(), b);
        // A closed day's part stays the same while today's changes.
        s.conn
            .execute(
                "UPDATE daily_rollups SET up = up + 1 WHERE day = ?1",
                [TODAY],
            )
            .unwrap();
        let c = s.mirror_parts(day(TODAY), 90).unwrap();
        let changed: Vec<&str> = c
            .iter()
            .zip(&b)
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.name.as_str())
            .collect();
        assert_eq!(changed, [format!("table/daily_rollups/{TODAY}")]);
    }

    #[test]
    fn the_cache_gives_the_same_parts_and_reads_closed_days_again_after_a_rollup_pass() {
        let s = filled();
        let mut cache = MirrorCache::default();
        let first = s.mirror_parts_cached(day(TODAY), 90, &mut cache).unwrap();
        assert_eq!(first, s.mirror_parts(day(TODAY), 90).unwrap());
        assert_eq!(
            cache.days.keys().map(|d| d.to_string()).collect::<Vec<_>>(),
            ["2026-11-28"],
            "closed: before yesterday"
        );
        // Today, yesterday and the other tables are read every time.
        s.conn
            .execute_batch(
                "UPDATE daily_rollups SET up = 1 WHERE day IN ('2026-11-29', '2026-11-30');
                 UPDATE publish_objects SET md5 = 'ff' WHERE path = 'index.html';",
            )
            .unwrap();
        let second = s.mirror_parts_cached(day(TODAY), 90, &mut cache).unwrap();
        assert_eq!(second, s.mirror_parts(day(TODAY), 90).unwrap());
        // A closed day is taken from the cache ...
        s.conn
            .execute(
                "UPDATE daily_rollups SET latency_p95_ms = 1 WHERE day = '2026-11-28'",
                [],
            )
            .unwrap();
        assert_eq!(
            s.mirror_parts_cached(day(TODAY), 90, &mut cache).unwrap(),
            second
        );
        // ... until the rollups move on.
        s.conn
            .execute("UPDATE rollup_progress SET value = value + 3600", [])
            .unwrap();
        let third = s.mirror_parts_cached(day(TODAY), 90, &mut cache).unwrap();
        assert_eq!(third, s.mirror_parts(day(TODAY), 90).unwrap());
        assert_ne!(third, second);
        // A day that leaves the window leaves the cache.
        let later = s
            .mirror_parts_cached(day("2027-06-01"), 90, &mut cache)
            .unwrap();
        assert!(
            later
                .iter()
                .all(|p| !p.name.starts_with("table/daily_rollups/"))
        );
        assert!(cache.days.is_empty());
    }

    #[test]
    fn unknown_parts_and_columns_are_refused_and_change_nothing() {
        let mut s = filled();
        let before = s.mirror_parts(day(TODAY), 90).unwrap();
        let mut parts = Store::open_in_memory()
            .unwrap()
            .mirror_parts(day(TODAY), 90)
            .unwrap();
        parts.push(Part {
            name: "table/status_pages".into(),
            bytes: gzip(br#"{"table":"status_pages","columns":[],"rows":[]}"#),
        });
        let err = s.mirror_restore(&parts).unwrap_err().to_string();
        assert!(err.contains("table/status_pages"), "{err}");
        assert_eq!(s.mirror_parts(day(TODAY), 90).unwrap(), before);

        parts.pop();
        parts.retain(|p| p.name != "table/publish_state");
        parts.push(Part {
            name: "table/publish_state".into(),
            bytes: gzip(
                br#"{"table":"publish_state","columns":["target","region"],"rows":[["site","eu"]]}"#,
            ),
        });
        let err = s.mirror_restore(&parts).unwrap_err().to_string();
        assert!(err.contains("publish_state.region"), "{err}");
        assert_eq!(s.mirror_parts(day(TODAY), 90).unwrap(), before);
    }
}
