//! Faults: `kill -9` at random points while the daemon checks, writes, renders, publishes and
//! notifies; a second process holding SQLite's write lock; a store outage; a full disk and a
//! read-only output folder (tmpfs volumes, so the test needs root: CI runs as root). After each,
//! nothing acknowledged is lost or duplicated and the published site converges to the truth.
//!
//! The kill loop runs 20 kills here (CI); `PHAROS_KILLS=200 cargo test faults::kill_9_many_times -- --ignored`
//! runs the long form.

use crate::common;
use crate::common::receivers;

use common::s3::S3Server;
use common::servers::HttpTarget;
use common::{
    TestSite, Volume, free_port, kill9, start_daemon as start, start_daemon_env as start_env,
    wait_until,
};
use receivers::HttpReceiver;
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const MONITORS: usize = 6;

/// A small deterministic generator (the seed is printed, so a failing run can be repeated).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the store holds that must never go backwards: rollup counts per monitor and hour,
/// imported incidents with their update counts, and notification deliveries.
struct Durable {
    rollups: BTreeMap<(String, i64), i64>,
    incidents: BTreeMap<String, i64>,
}

fn durable(db: &Path) -> Durable {
    let c = Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "integrity_check");
    let rollups = c
        .prepare("SELECT monitor_id, hour, up + degraded + down FROM hourly_rollups")
        .unwrap()
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let incidents = c
        .prepare("SELECT incident_id, count(*) FROM incident_updates GROUP BY incident_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    Durable { rollups, incidents }
}

/// How many check results the store holds (waiting out another process's lock).
fn check_count(db: &Path) -> i64 {
    let c = Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c.query_row("SELECT count(*) FROM check_results", [], |r| r.get(0))
        .unwrap()
}

fn status_of(site: &TestSite, component: &str) -> Option<String> {
    status_in(&site.out(), component)
}

fn kill_loop(kills: usize) {
    let seed = std::env::var("PHAROS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill -9 loop: {kills} kills, PHAROS_SEED={seed}");
    let mut rng = Rng(seed);
    let targets: Vec<HttpTarget> = (0..MONITORS).map(|_| HttpTarget::start()).collect();
    let receiver = HttpReceiver::start();
    let s3 = S3Server::start();
    let site = TestSite::empty();
    let mut config = format!(
        "site:\n  title: Faults\n  base_url: https://faults.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 20ms\ncomponents:\n",
        free_port()
    );
    for i in 0..MONITORS {
        config.push_str(&format!("  - id: c{i}\n    name: Service {i}\n"));
    }
    // What admins write incidents about (the monitored components' truth is their targets).
    config.push_str("  - id: desk\n    name: Help desk\n");
    config.push_str("monitors:\n");
    for (i, t) in targets.iter().enumerate() {
        config.push_str(&format!(
            "  - id: m{i}\n    component: c{i}\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 300ms\n    failure_threshold: 1\n    success_threshold: 1\n",
            t.url("/")
        ));
    }
    config.push_str(&format!(
        "notifications:\n  - id: hook\n    kind: webhook\n    url: {}\n",
        receiver.url("/hook")
    ));
    config.push_str(&common::s3::target_yaml(&s3.endpoint(), ""));
    site.write("config.yaml", &config);
    let db = site.path().join("pharos.db");
    let log = site.path().join("daemon.log");
    let mut admin_updates: HashMap<String, i64> = HashMap::new();
    let mut last: Option<Durable> = None;
    for round in 0..kills {
        let mut daemon = start(&site, &log);
        // While it runs: targets change state, an admin writes and extends incidents.
        let life = Duration::from_millis(150 + rng.below(1200));
        let t0 = std::time::Instant::now();
        while t0.elapsed() < life {
            match rng.below(4) {
                0 => {
                    let i = rng.below(MONITORS as u64) as usize;
                    let down = rng.below(2) == 0;
                    targets[i].set(|a| a.status = if down { 500 } else { 200 });
                }
                1 => {
                    let id = format!("admin-{}", rng.below(5));
                    let n = admin_updates.entry(id.clone()).or_insert(0);
                    *n += 1;
                    let mut text = "---\ntitle: Admin incident\ncomponents:\n  desk: degraded_performance\n---\n".to_string();
                    for k in (0..*n).rev() {
                        // Ten minutes apart, from 2026-11-21 10:00 (the long run writes hundreds).
                        let at =
                            common::t("2026-11-21T10:00:00Z") + chrono::Duration::minutes(10 * k);
                        text.push_str(&format!(
                            "## {} · {}\nUpdate {k}.\n\n",
                            at.format("%Y-%m-%d %H:%M UTC"),
                            if k == 0 {
                                "investigating"
                            } else {
                                "monitoring"
                            }
                        ));
                    }
                    // Written like an editor saves: a temp file renamed over (acknowledged).
                    let path = site.path().join(format!("content/incidents/{id}.md"));
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    let tmp = path.with_extension("tmp~");
                    std::fs::write(&tmp, text).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(rng.below(120)));
        }
        kill9(&mut daemon);
        let now = durable(&db);
        if let Some(before) = &last {
            for (key, count) in &before.rollups {
                assert!(
                    now.rollups.get(key).is_some_and(|c| c >= count),
                    "round {round}: rollup {key:?} went from {count} to {:?} (seed {seed})",
                    now.rollups.get(key)
                );
            }
            for (id, n) in &before.incidents {
                assert!(
                    now.incidents.get(id).is_some_and(|m| m >= n),
                    "round {round}: incident {id} lost updates (seed {seed})"
                );
            }
        }
        last = Some(now);
    }

    // Recovery: one last run with stable targets converges to the truth.
    for (i, t) in targets.iter().enumerate() {
        t.set(|a| a.status = if i.is_multiple_of(2) { 200 } else { 500 });
    }
    let mut daemon = start(&site, &log);
    let truth = |i: usize| {
        if i.is_multiple_of(2) {
            "operational"
        } else {
            "major_outage"
        }
    };
    let converged =
        || (0..MONITORS).all(|i| status_of(&site, &format!("c{i}")).as_deref() == Some(truth(i)));
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while !converged() {
        if std::time::Instant::now() >= deadline {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            panic!(
                "the site did not converge (seed {seed}): {:?}\nlog (last lines first):\n{}",
                (0..MONITORS)
                    .map(|i| status_of(&site, &format!("c{i}")))
                    .collect::<Vec<_>>(),
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every admin incident and each of its updates is imported and published.
    wait_until(20, "admin incidents imported", || {
        let d = durable(&db);
        admin_updates
            .iter()
            .all(|(id, n)| d.incidents.get(id) == Some(n))
    });
    for id in admin_updates.keys() {
        assert!(
            site.out()
                .join(format!("incidents/{id}/index.html"))
                .is_file(),
            "{id} published"
        );
    }
    // The bucket converges to the folder.
    wait_until(30, "S3 holds what the folder holds", || {
        let Ok(index) = std::fs::read(site.out().join("index.html")) else {
            return false;
        };
        s3.object("index.html").as_deref() == Some(&index[..])
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();

    // No automatic incident was opened twice for one outage: each monitor has at most one
    // open automatic incident file.
    let mut open_auto: HashMap<String, usize> = HashMap::new();
    for e in std::fs::read_dir(site.path().join("content/incidents")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
        if text.contains("automatic: true") && !text.contains("· resolved") {
            // The first entry under `components:` (an automatic incident names one).
            let comp = text
                .lines()
                .skip_while(|l| l.trim() != "components:")
                .nth(1)
                .and_then(|l| l.trim().split(':').next())
                .unwrap_or("")
                .to_string();
            *open_auto.entry(comp).or_default() += 1;
        }
    }
    for (comp, n) in &open_auto {
        assert!(
            *n <= 1,
            "{n} open automatic incidents for {comp} (seed {seed})"
        );
    }
    // Notifications: a key sent twice can only be one whose delivery a kill interrupted (sent,
    // not yet marked), so at most one repeat per kill, and every repeat carries the same key.
    let mut sent: HashMap<String, usize> = HashMap::new();
    for r in receiver.requests() {
        *sent
            .entry(
                r.headers
                    .get("idempotency-key")
                    .cloned()
                    .unwrap_or_default(),
            )
            .or_default() += 1;
    }
    let repeats: usize = sent.values().map(|n| n - 1).sum();
    assert!(
        repeats <= kills,
        "{repeats} repeated deliveries for {kills} kills (seed {seed})"
    );
    assert!(!sent.contains_key(""), "every delivery has a key");
}

#[test]
fn kill_9_at_random_points_loses_and_duplicates_nothing() {
    kill_loop(20);
}

#[test]
#[ignore = "long form: PHAROS_KILLS (default 200) kills"]
fn kill_9_many_times() {
    let kills = std::env::var("PHAROS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    kill_loop(kills);
}

/// Another process holds SQLite's write lock for longer than the daemon waits: the daemon
/// says so, loses no check result once the lock is gone, and the database stays intact.
#[test]
fn a_long_read_or_write_held_elsewhere_delays_but_loses_nothing() {
    let target = HttpTarget::start();
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: Busy\n  base_url: https://busy.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 20ms\ncomponents:\n  - id: api\n    name: API\nmonitors:\n  - id: m\n    component: api\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n    failure_threshold: 1\n    success_threshold: 1\n",
            free_port(),
            target.url("/")
        ),
    );
    let log = site.path().join("daemon.log");
    let mut daemon = start(&site, &log);
    wait_until(20, "first publish", || {
        status_of(&site, "api").as_deref() == Some("operational")
    });
    let db = site.path().join("pharos.db");
    {
        // A second process's long read: the daemon goes on writing (WAL) and publishing.
        let c = Connection::open(&db).unwrap();
        c.execute_batch("BEGIN").unwrap();
        let seen: i64 = c
            .query_row("SELECT count(*) FROM check_results", [], |r| r.get(0))
            .unwrap();
        let before = check_count(&db);
        target.set(|a| a.status = 500);
        wait_until(10, "the outage published during the long read", || {
            status_of(&site, "api").as_deref() == Some("major_outage")
        });
        assert!(
            check_count(&db) > before,
            "checks recorded during the long read"
        );
        let still: i64 = c
            .query_row("SELECT count(*) FROM check_results", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, still, "the reader kept its snapshot");
        c.execute_batch("COMMIT").unwrap();
        target.set(|a| a.status = 200);
        wait_until(10, "recovered", || {
            status_of(&site, "api").as_deref() == Some("operational")
        });
    }
    let before = check_count(&db);
    {
        // A second process's long write: 12 s, longer than the daemon's 10 s busy timeout.
        let c = Connection::open(&db).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        target.set(|a| a.status = 500);
        std::thread::sleep(Duration::from_secs(12));
        c.execute_batch("COMMIT").unwrap();
    }
    wait_until(30, "the outage published after the lock", || {
        status_of(&site, "api").as_deref() == Some("major_outage")
    });
    let after = check_count(&db);
    // One check a second: the results of the locked time were kept and written after it.
    assert!(
        after - before >= 10,
        "{before} -> {after}: results of the locked time were lost"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("database is locked") || log.contains("busy"),
        "the log says the store was busy"
    );
    durable(&db);
}

/// The daemon's `engine` log lines (JSON) from `log`.
fn engine_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "engine")
        .collect()
}

/// The S3 store goes away during several state changes, then comes back; another store accepts
/// connections and never answers. Checks keep their schedule throughout (lateness p99 under
/// 1 s, one result a second each), and the bucket converges to the newest state after recovery.
#[test]
fn a_store_outage_delays_nothing_and_converges() {
    let target = HttpTarget::start();
    let mut s3 = S3Server::start();
    // Accepts, reads, never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hanging.incoming().flatten() {
            held.push(s);
        }
    });
    let site = TestSite::empty();
    let mut config = format!(
        "site:\n  title: Outage\n  base_url: https://outage.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 20ms\ncomponents:\n  - id: api\n    name: API\nmonitors:\n  - id: m\n    component: api\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n    failure_threshold: 1\n    success_threshold: 1\n",
        free_port(),
        target.url("/")
    );
    let timeouts =
        "      connect_timeout: 1s\n      attempt_timeout: 1s\n      operation_timeout: 2s\n";
    config.push_str(&common::s3::target_yaml(&s3.endpoint(), timeouts));
    config.push_str(&format!(
        "    - name: hanging\n      kind: s3\n      bucket: b\n      endpoint: http://{hanging_addr}\n      path_style: true\n      region: us-east-1\n      access_key_id: k\n      secret_access_key: s\n{timeouts}"
    ));
    site.write("config.yaml", &config);
    let log = site.path().join("daemon.log");
    let mut daemon = start_env(&site, &log, &[("PHAROS_STATS_SECS", "2")]);
    wait_until(30, "first publish", || s3.object("index.html").is_some());

    s3.stop();
    let db = site.path().join("pharos.db");
    let before = check_count(&db);
    let outage = std::time::Instant::now();
    for i in 0..4 {
        target.set(|a| a.status = if i % 2 == 0 { 500 } else { 200 });
        let want = if i % 2 == 0 {
            "major_outage"
        } else {
            "operational"
        };
        wait_until(20, "the folder follows the change", || {
            status_of(&site, "api").as_deref() == Some(want)
        });
        std::thread::sleep(Duration::from_secs(1));
    }
    target.set(|a| a.status = 500);
    wait_until(20, "down in the folder", || {
        status_of(&site, "api").as_deref() == Some("major_outage")
    });
    let secs = outage.elapsed().as_secs() as i64;
    let during = check_count(&db) - before;
    assert!(
        during >= secs - 2,
        "{during} checks in {secs} s of store outage: checks fell behind"
    );
    s3.restart();
    wait_until(40, "the bucket converges to the newest state", || {
        let Ok(folder) = std::fs::read(site.out().join("api/v2/summary.json")) else {
            return false;
        };
        s3.object("api/v2/summary.json").as_deref() == Some(&folder[..])
            && String::from_utf8_lossy(&folder).contains("major_outage")
    });
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    let lines = engine_lines(&log);
    assert!(lines.len() >= 5, "{} engine lines", lines.len());
    for l in &lines {
        let p99: f64 = l["fields"]["lateness_p99_ms"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::MAX);
        assert!(p99 < 1000.0, "lateness p99 {p99} ms during the outage");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("hanging"),
        "the hanging target's failures are logged"
    );
}

/// What is wrong with the output folder, if anything: a file its manifest names without the
/// bytes it says, or a temporary file left behind.
fn folder_fault(out: &Path) -> Option<String> {
    use sha2::Digest;
    let mut entries = serde_json::Map::new();
    for name in [".pharos-manifest.json", ".pharos-manifest-history.json"] {
        if let Ok(text) = std::fs::read_to_string(out.join(name)) {
            let m: serde_json::Value = serde_json::from_str(&text).ok()?;
            entries.extend(m["files"].as_object()?.clone());
        }
    }
    if entries.is_empty() {
        return Some(format!("no manifest in {}", out.display()));
    }
    for (path, e) in &entries {
        let Ok(bytes) = std::fs::read(out.join(path)) else {
            return Some(format!("{path} is missing"));
        };
        let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
        if e["sha256"].as_str() != Some(&sha[..]) {
            return Some(format!("{path} is not the file its manifest names"));
        }
    }
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                return Some(format!("leftover {}", e.path().display()));
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    None
}

/// The output folder is whole once any write in progress is done: in-place writes rename the
/// changed files first and the manifest last, so a reader in between sees them disagree for a
/// moment. A folder that stays broken (a write stopped half way) fails.
fn assert_folder_whole(out: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match folder_fault(out) {
            None => return,
            Some(fault) if std::time::Instant::now() > deadline => {
                panic!("the folder is not whole: {fault}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A component's status in the summary.json of the folder `out`.
fn status_in(out: &Path, component: &str) -> Option<String> {
    status_from(
        &std::fs::read(out.join("api/v2/summary.json")).ok()?,
        component,
    )
}

/// A component's status in the bytes of a summary.json.
fn status_from(summary: &[u8], component: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(summary).ok()?;
    v["components"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == component)
        .and_then(|c| c["status"].as_str())
        .map(String::from)
}

/// The disk holding the store and the output folder fills up, then the output folder becomes
/// read-only. Each time: the daemon keeps running and says why in its log, the folder keeps its
/// last whole site, the bucket still gets the new one, and when the condition clears the folder
/// converges and the store is intact with no check result lost.
#[test]
#[cfg_attr(
    pharos_no_root,
    ignore = "needs root: it mounts tmpfs volumes to fill a disk (CI runs as root)"
)]
fn a_full_disk_or_read_only_folder_keeps_the_last_site_and_recovers() {
    let site = TestSite::empty();
    let data = Volume::mount(&site.path().join("data"), "4m");
    let out_vol = Volume::mount(&site.path().join("out"), "4m");
    let target = HttpTarget::start();
    let s3 = S3Server::start();
    let mut config = format!(
        "site:\n  title: Disk\n  base_url: https://disk.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 20ms\nstore:\n  path: data/pharos.db\ncomponents:\n  - id: api\n    name: API\nmonitors:\n  - id: m\n    component: api\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n    failure_threshold: 1\n    success_threshold: 1\n",
        free_port(),
        target.url("/")
    );
    config.push_str(
        &common::s3::target_yaml(&s3.endpoint(), "")
            .replace("publish:\n", "publish:\n  output: out/publish\n"),
    );
    site.write("config.yaml", &config);
    let out = site.path().join("out/publish");
    let db = site.path().join("data/pharos.db");
    let log = site.path().join("daemon.log");
    let mut daemon = start(&site, &log);
    let bucket_status = || status_from(&s3.object("api/v2/summary.json")?, "api");
    wait_until(30, "first publish", || {
        status_in(&out, "api").as_deref() == Some("operational")
            && bucket_status().as_deref() == Some("operational")
    });
    let log_len = || std::fs::metadata(&log).unwrap().len() as usize;
    let log_since = |from: usize| std::fs::read_to_string(&log).unwrap()[from..].to_string();
    // A failing wait shows what the daemon said.
    let wait = |secs: u64, what: &str, f: &mut dyn FnMut() -> bool| {
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait_until(secs, what, f)));
        if let Err(e) = r {
            eprintln!("daemon log:\n{}", std::fs::read_to_string(&log).unwrap());
            std::panic::resume_unwind(e);
        }
    };

    // 1. The output folder's disk is full: the state changes, the folder cannot take it, the
    //    bucket does.
    let mark = log_len();
    // Room for a few of the changed files, not all: the write fails half way.
    let filler = out_vol.fill(16 << 10);
    target.set(|a| a.status = 500);
    wait(
        30,
        "the bucket gets the outage while the folder's disk is full",
        &mut || bucket_status().as_deref() == Some("major_outage"),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon kept running"
    );
    assert_eq!(
        status_in(&out, "api").as_deref(),
        Some("operational"),
        "the folder keeps its last site"
    );
    assert_folder_whole(&out);
    let said = log_since(mark);
    assert!(
        said.contains("No space left on device") && said.contains("keeps its previous site"),
        "the log says the disk is full:\n{said}"
    );
    std::fs::remove_file(filler).unwrap();
    wait(
        40,
        "the folder converges after the disk is freed",
        &mut || status_in(&out, "api").as_deref() == Some("major_outage"),
    );
    assert_folder_whole(&out);

    // 2. The store's disk is full: check results are kept in memory (the state cannot change
    //    without the store), the published site stays whole, and all of it lands once freed.
    let mark = log_len();
    let before = check_count(&db);
    let filler = data.fill(0);
    let full_at = std::time::Instant::now();
    target.set(|a| a.status = 200);
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon kept running"
    );
    let said = log_since(mark);
    assert!(
        said.contains("database or disk is full") && said.contains("kept, will retry"),
        "the log says the store's disk is full:\n{said}"
    );
    assert_folder_whole(&out);
    std::fs::remove_file(filler).unwrap();
    wait(
        30,
        "the recovery is published once the store's disk is freed",
        &mut || {
            status_in(&out, "api").as_deref() == Some("operational")
                && bucket_status().as_deref() == Some("operational")
        },
    );
    let full_secs = full_at.elapsed().as_secs() as i64;
    wait(20, "the checks of the full time are recorded", &mut || {
        check_count(&db) - before >= full_secs - 2
    });
    durable(&db);

    // 3. The output folder is read-only.
    let mark = log_len();
    out_vol.read_only(true);
    target.set(|a| a.status = 500);
    wait(
        30,
        "the bucket gets the outage while the folder is read-only",
        &mut || bucket_status().as_deref() == Some("major_outage"),
    );
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon kept running"
    );
    assert_eq!(status_in(&out, "api").as_deref(), Some("operational"));
    let said = log_since(mark);
    assert!(
        said.contains("Read-only file system"),
        "the log says the folder is read-only:\n{said}"
    );
    // The one-shot `pharos publish` too: it fails for the folder, still publishes the bucket.
    let one_shot = Command::new(assert_cmd::cargo::cargo_bin("pharos"))
        .arg("publish")
        .current_dir(site.path())
        .env_remove("PHAROS_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&one_shot.stderr);
    assert!(!one_shot.status.success(), "publish fails:\n{stderr}");
    assert!(
        stderr.contains("Read-only file system") && stderr.contains("publishing the new one"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&one_shot.stdout).contains("target \"test\""),
        "the bucket was still published"
    );
    out_vol.read_only(false);
    wait(40, "the folder converges once writable", &mut || {
        status_in(&out, "api").as_deref() == Some("major_outage")
    });
    assert_folder_whole(&out);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    durable(&db);
}
