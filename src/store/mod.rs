//! The SQLite system of record: components, imported content, monitor state, check results and
//! rollups. One writer connection (this struct); numbered migrations applied by `user_version`;
//! WAL, foreign keys, a busy timeout and `BEGIN IMMEDIATE` for writes.

use crate::model::{ComponentStatus, DailyRollup, Incident, Maintenance};
use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

mod cluster;
mod content;
pub use cluster::{RegionLatency, RegionRow};
pub use mirror::{BLOCK, KEEP_DAYS, KEEP_PER_KIND, MARGIN_DAYS, MirrorCache, Part, gunzip, gzip};
mod lock;
mod mirror;
mod monitors;
mod notify;
mod publish;
mod subscribers;
mod subscriptions;

pub use lock::{DaemonLock, lock, lock_path};
pub use notify::{ChannelState, NEWS_WINDOW, OutboxEvent};
pub use publish::RemoteObject;
pub use subscribers::{Added, Stats};
pub use subscriptions::{MailJob, MailKind, Outcome, WantedPage, for_subscribers};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_monitor_engine.sql"),
    include_str!("migrations/0003_publish.sql"),
    include_str!("migrations/0004_notify.sql"),
    include_str!("migrations/0005_private_monitors.sql"),
    include_str!("migrations/0006_truth.sql"),
    include_str!("migrations/0007_subscriptions.sql"),
    include_str!("migrations/0008_cluster.sql"),
];

pub struct Store {
    conn: Connection,
    /// The opened file's (device, inode), to notice it being deleted or replaced.
    file: Option<(u64, u64)>,
}

/// A parsed content file to be written into the store.
pub enum Imported {
    Incident(Incident),
    Maintenance(Maintenance),
}

pub struct ImportItem {
    pub item: Imported,
    pub path: String,
    pub hash: String,
    /// The id this incident had before its file was renamed.
    pub moved_from: Option<String>,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether this process may not write `path`.
fn read_only(path: &Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(path).is_err()
}

/// `f` again while another process holds the lock it needs (up to 10 s): some steps of opening a
/// new store (switching it to WAL) answer "locked" at once instead of waiting.
fn patiently<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

fn damaged(path: &Path, what: &str) -> anyhow::Error {
    let p = path.display();
    anyhow!(
        "database {p} is damaged ({what}). Stop Pharos, move it aside (mv {p} {p}.damaged) and put back a backup, or start without it: a new store is created, and history starts afresh (content files are read again)"
    )
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap_or_default()
}

fn parse_enum<T: FromStr<Err = String>>(s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

impl Store {
    /// Open (creating if needed) the database file and bring its schema up to date. A file that
    /// cannot be written, or that is damaged, is refused with its path and what to do.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create folder {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(anyhow!(
                "database {} is read-only: Pharos writes to it. Give the user running Pharos write access to it and its folder (the -wal and -shm files live beside it), or point store.path elsewhere",
                path.display()
            ));
        }
        let mut store = Store::init(conn, path)?;
        store.file = file_id(path);
        Ok(store)
    }

    /// Another connection to a store this process already opened (and checked and migrated):
    /// the publisher threads and notification senders of the daemon. No integrity check (that
    /// was done once, at the start) and never a new file: a store deleted under the daemon is
    /// not created again empty by a thread that starts later.
    pub fn connect(path: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open database {}", path.display()))?;
        patiently(|| {
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")
        })
        .with_context(|| format!("cannot prepare database {}", path.display()))?;
        Ok(Store {
            conn,
            file: file_id(path),
        })
    }

    /// The store for commands that only look (`pharos status`, `check`): the file itself when
    /// it can be written, otherwise a copy in memory of what it holds (a read-only file still
    /// answers; nothing is written back).
    pub fn open_for_reading(path: &Path) -> Result<Store> {
        if !path.exists() || !read_only(path) {
            return Store::open(path);
        }
        use rusqlite::OpenFlags;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let uri: String = abs
            .to_string_lossy()
            .chars()
            .map(|c| match c {
                '%' | '?' | '#' => format!("%{:02X}", c as u32),
                c => c.to_string(),
            })
            .collect();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let copy_of = |uri: String| -> rusqlite::Result<Connection> {
            let file = Connection::open_with_flags(uri, flags)?;
            let mut copy = Connection::open_in_memory()?;
            rusqlite::backup::Backup::new(&file, &mut copy)?.run_to_completion(
                256,
                Duration::ZERO,
                None,
            )?;
            Ok(copy)
        };
        // With its write-ahead log where one can be read; where it cannot (a read-only folder
        // without the -shm file), the file alone, as it is (`immutable`).
        let copy = copy_of(format!("file:{uri}"))
            .or_else(|_| copy_of(format!("file:{uri}?immutable=1")))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    damaged(path, &e.to_string())
                }
                _ => anyhow!("cannot read database {}: {e}", path.display()),
            })?;
        Store::init(copy, path)
    }

    /// An in-memory store (tests, dry runs).
    pub fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?, Path::new(":memory:"))
    }

    fn init(conn: Connection, path: &Path) -> Result<Store> {
        let prepare = |conn: &Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")
        };
        let code = |e: &rusqlite::Error| e.sqlite_error_code();
        let is_damage = |e: &rusqlite::Error| {
            matches!(
                code(e),
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            )
        };
        patiently(|| prepare(&conn)).map_err(|e| {
            if is_damage(&e) {
                damaged(path, &e.to_string())
            } else {
                anyhow!(e).context(format!("cannot prepare database {}", path.display()))
            }
        })?;
        // A damaged file is refused at the start, not found out one failed write at a time.
        let check: Vec<String> = patiently(|| {
            conn.prepare("PRAGMA quick_check(5)")
                .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        })
        .map_err(|e| {
            if is_damage(&e) {
                damaged(path, &e.to_string())
            } else {
                anyhow!(e).context(format!("cannot check database {}", path.display()))
            }
        })?;
        if check != ["ok"] {
            return Err(damaged(path, &check.join("; ")));
        }
        let mut store = Store { conn, file: None };
        store
            .migrate()
            .with_context(|| format!("cannot prepare database {}", path.display()))?;
        Ok(store)
    }

    /// Apply the migrations this file lacks. Each step reads `user_version` inside its own
    /// `IMMEDIATE` transaction, so processes opening a new store at once take turns.
    fn migrate(&mut self) -> Result<()> {
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > MIGRATIONS.len() {
                return Err(anyhow!(
                    "database schema version {version} is newer than this Pharos understands ({}); upgrade Pharos",
                    MIGRATIONS.len()
                ));
            }
            let Some(sql) = MIGRATIONS.get(version) else {
                return Ok(());
            };
            tx.execute_batch(sql)
                .with_context(|| format!("migration {:04} failed", version + 1))?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
    }

    /// Whether the file this store opened is still the one at `path` (not deleted or replaced
    /// while we ran: writes would go to a file nobody will read).
    pub fn still_at(&self, path: &Path) -> bool {
        self.file.is_none() || file_id(path) == self.file
    }

    /// Write a consistent copy of everything the store holds to `to` (which must not exist).
    pub fn save_copy(&self, to: &Path) -> Result<()> {
        self.conn
            .execute("VACUUM INTO ?1", [to.to_string_lossy()])
            .with_context(|| format!("cannot write a copy of the store to {}", to.display()))?;
        Ok(())
    }

    /// Record configured components; a component first seen now gets `created_at = now`.
    pub fn sync_components(
        &mut self,
        components: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut upsert = tx.prepare(
                "INSERT INTO components (id, name, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, removed_at = NULL",
            )?;
            for (id, name) in components {
                upsert.execute(params![id, name, ts(now)])?;
            }
            let keep: HashSet<&str> = components.iter().map(|(id, _)| id.as_str()).collect();
            let ids: Vec<String> = tx
                .prepare("SELECT id FROM components WHERE removed_at IS NULL")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in ids.iter().filter(|id| !keep.contains(id.as_str())) {
                tx.execute(
                    "UPDATE components SET removed_at = ?2 WHERE id = ?1",
                    params![id, ts(now)],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// When each component was first seen.
    pub fn component_created(&self) -> Result<HashMap<String, DateTime<Utc>>> {
        let mut stmt = self.conn.prepare("SELECT id, created_at FROM components")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, from_ts(r.get(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Names of the components removed from the config, by id.
    pub fn removed_components(&self) -> Result<HashMap<String, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM components WHERE removed_at IS NOT NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Daily rollups for days in `[from, to]`, by component and day.
    pub fn daily_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<HashMap<String, BTreeMap<NaiveDate, DailyRollup>>> {
        let mut stmt = self.conn.prepare(
            "SELECT component_id, day, up, degraded, down, latency_p50_ms, latency_p95_ms, latency_p99_ms
             FROM daily_rollups WHERE day >= ?1 AND day <= ?2",
        )?;
        let mut out: HashMap<String, BTreeMap<NaiveDate, DailyRollup>> = HashMap::new();
        let rows = stmt.query_map(params![from.to_string(), to.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                DailyRollup {
                    up: r.get(2)?,
                    degraded: r.get(3)?,
                    down: r.get(4)?,
                    latency_p50_ms: r.get(5)?,
                    latency_p95_ms: r.get(6)?,
                    latency_p99_ms: r.get(7)?,
                },
            ))
        })?;
        for row in rows {
            let (cid, day, rollup) = row?;
            if let Ok(day) = NaiveDate::from_str(&day) {
                out.entry(cid).or_default().insert(day, rollup);
            }
        }
        Ok(out)
    }

    /// Write (replace) one day's rollup for a component.
    pub fn put_daily_rollup(
        &mut self,
        component: &str,
        day: NaiveDate,
        r: &DailyRollup,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO daily_rollups
             (component_id, day, up, degraded, down, latency_p50_ms, latency_p95_ms, latency_p99_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                component,
                day.to_string(),
                r.up,
                r.degraded,
                r.down,
                r.latency_p50_ms,
                r.latency_p95_ms,
                r.latency_p99_ms
            ],
        )?;
        Ok(())
    }

    /// The status each monitor has confirmed for its component (empty until the daemon runs).
    pub fn monitor_statuses(&self) -> Result<Vec<(String, ComponentStatus, DateTime<Utc>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT component_id, status, since FROM monitor_state WHERE private = 0 ORDER BY monitor_id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, parse_enum(r.get(1)?)?, from_ts(r.get(2)?)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Schema version (for tests and `pharos status`).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub fn integrity_ok(&self) -> Result<bool> {
        let s: Option<String> = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .optional()?;
        Ok(s.as_deref() == Some("ok"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Kind;
    use crate::model::{Impact, IncidentStatus, Update};

    fn incident(id: &str, at: i64) -> Incident {
        Incident {
            id: id.into(),
            title: format!("Title {id}"),
            impact: Impact::Major,
            components: vec![("api".into(), ComponentStatus::PartialOutage)],
            updates: vec![
                Update {
                    at: from_ts(at + 60),
                    status: IncidentStatus::Resolved,
                    body_md: "ok".into(),
                    body_html: "<p>ok</p>".into(),
                },
                Update {
                    at: from_ts(at),
                    status: IncidentStatus::Investigating,
                    body_md: "hm".into(),
                    body_html: "<p>hm</p>".into(),
                },
            ],
            automatic: false,
            explicit_impact: true,
        }
    }

    #[test]
    fn migrations_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/pharos.db");
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let a = incident("a", 1_000_000);
        let item = ImportItem {
            item: Imported::Incident(a.clone()),
            path: "a.md".into(),
            hash: "h1".into(),
            moved_from: None,
        };
        let keep = HashSet::from([(Kind::Incident, "a".to_string())]);
        s.import(&[item], &keep, from_ts(0)).unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.incidents().unwrap(), vec![a]);
        assert_eq!(
            s.content_hashes().unwrap()[&(Kind::Incident, "a".to_string())],
            "h1"
        );
        // A file that disappeared is removed with its updates.
        s.import(&[], &HashSet::new(), from_ts(0)).unwrap();
        assert!(s.incidents().unwrap().is_empty());
        assert!(s.integrity_ok().unwrap());
    }

    #[test]
    fn a_patched_incident_list_equals_a_full_reload() {
        let mut s = Store::open_in_memory().unwrap();
        let item = |i: Incident| ImportItem {
            path: format!("{}.md", i.id),
            hash: format!("h{}", i.updates.len()),
            item: Imported::Incident(i),
            moved_from: None,
        };
        let ids = ["a", "b", "c", "d", "e"];
        let keep = |ids: &[&str]| -> HashSet<(Kind, String)> {
            ids.iter()
                .map(|i| (Kind::Incident, i.to_string()))
                .collect()
        };
        // Two incidents share a creation time: the id breaks the tie.
        let all: Vec<ImportItem> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| item(incident(id, 1_000_000 + (n as i64 / 2) * 600)))
            .collect();
        s.import(&all, &keep(&ids), from_ts(0)).unwrap();
        let before = s.incidents().unwrap();
        // "b" is edited (now the newest), "d" removed, "f" added.
        let mut b = incident("b", 2_000_000);
        b.title = "Edited".into();
        let changed = [item(b), item(incident("f", 1_000_300))];
        s.import(&changed, &keep(&["a", "b", "c", "e", "f"]), from_ts(0))
            .unwrap();
        let touched: HashSet<String> = ["b", "d", "f"].iter().map(|s| s.to_string()).collect();
        let patched = s.incidents_patched(&before, &touched).unwrap();
        assert_eq!(patched, s.incidents().unwrap());
        assert_eq!(patched[0].title, "Edited");
        assert_eq!(patched.len(), 5);
    }

    #[test]
    fn components_keep_their_first_seen_time() {
        let mut s = Store::open_in_memory().unwrap();
        let comps = vec![("api".to_string(), "API".to_string())];
        s.sync_components(&comps, from_ts(100)).unwrap();
        s.sync_components(&comps, from_ts(200)).unwrap();
        assert_eq!(s.component_created().unwrap()["api"], from_ts(100));
    }

    #[test]
    fn daily_rollups_by_range() {
        let mut s = Store::open_in_memory().unwrap();
        let d = |x: &str| NaiveDate::from_str(x).unwrap();
        let r = DailyRollup {
            up: 10,
            degraded: 1,
            down: 1,
            latency_p50_ms: Some(80),
            ..Default::default()
        };
        s.put_daily_rollup("api", d("2026-11-01"), &r).unwrap();
        s.put_daily_rollup("api", d("2026-10-01"), &r).unwrap();
        let got = s.daily_rollups(d("2026-10-15"), d("2026-11-30")).unwrap();
        assert_eq!(got["api"].len(), 1);
        assert_eq!(got["api"][&d("2026-11-01")], r);
    }
}
