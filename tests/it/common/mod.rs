//! Helpers shared by the integration tests: build fixture sites into temp folders.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use pharos::config::Config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The fixed `now` of the golden fixtures: Thursday 26 Nov 2026, 14:30 in Berlin.
pub const NOW: &str = "2026-11-26T13:30:00Z";

pub fn now() -> DateTime<Utc> {
    t(NOW)
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A fixture site copied into a temp folder (so its database and output stay there).
pub struct TestSite {
    pub dir: tempfile::TempDir,
}

impl TestSite {
    pub fn fixture(name: &str) -> TestSite {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixtures().join("sites").join(name), dir.path());
        TestSite { dir }
    }

    pub fn empty() -> TestSite {
        TestSite {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.yaml")
    }

    pub fn config(&self) -> Config {
        Config::load(&self.config_path()).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn out(&self) -> PathBuf {
        self.path().join("publish")
    }

    /// Build at `now` into `publish/`.
    pub fn build_at(&self, now: DateTime<Utc>) -> anyhow::Result<pharos::build::BuildReport> {
        pharos::build::build(&self.config(), None, now)
    }

    pub fn build(&self) -> pharos::build::BuildReport {
        self.build_at(now()).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.out().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn json(&self, rel: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The output folder's manifest entries by path (both layers' files merged).
    #[allow(dead_code)]
    pub fn manifest(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut entries = serde_json::Map::new();
        for name in [".pharos-manifest.json", ".pharos-manifest-history.json"] {
            if self.out().join(name).exists() {
                let m = self.json(name);
                entries.extend(m["files"].as_object().unwrap().clone());
            }
        }
        entries
    }

    /// Every output file and its bytes.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        collect(&self.out(), &self.out(), &mut out);
        out
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

/// Seed daily rollups so uptime bars and charts have data.
pub fn seed_rollups(site: &TestSite) {
    use pharos::model::DailyRollup;
    let config = site.config();
    let mut store = pharos::store::Store::open(&config.database_path()).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    for back in 0..20i64 {
        let day = today - chrono::Duration::days(back);
        let down = if back == 2 {
            30
        } else if back == 5 {
            1
        } else {
            0
        };
        let degraded = if back == 7 { 12 } else { 0 };
        let r = DailyRollup {
            up: 1440 - down - degraded,
            degraded,
            down,
            latency_p50_ms: Some(80 + (back as u32 * 7) % 40),
            latency_p95_ms: Some(200 + (back as u32 * 13) % 90),
            latency_p99_ms: Some(400),
        };
        store.put_daily_rollup("api", day, &r).unwrap();
    }
}
pub mod browser;
pub mod receivers;
pub mod regional;
pub mod s3;
pub mod servers;

/// `pharos run` on a thread of this test process, stopped like SIGTERM stops it.
#[allow(dead_code)]
pub struct Daemon {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[allow(dead_code)]
impl Daemon {
    pub fn start(site: &TestSite) -> Daemon {
        Daemon::start_with_clock(site, None)
    }

    /// With a clock of the test's (to move time under the daemon).
    pub fn start_with_clock(site: &TestSite, clock: Option<fn() -> DateTime<Utc>>) -> Daemon {
        let config = Config::load(&site.config_path()).unwrap_or_else(|e| panic!("{e:#}"));
        let (stop, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let opts = pharos::daemon::Options {
                stop: Some(rx),
                clock,
                ..Default::default()
            };
            pharos::daemon::run(config, opts).unwrap();
        });
        Daemon {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
    }
}

/// Poll until `f` holds; panics with `what` after `secs`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped, so a failing test leaves no daemon behind.
pub struct Running(pub std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `pharos run` in `site` as a child process, logging JSON to the end of `log`, with extra
/// environment.
pub fn start_daemon_env(site: &TestSite, log: &Path, env: &[(&str, &str)]) -> Running {
    use std::process::{Command, Stdio};
    let child = Command::new(assert_cmd::cargo::cargo_bin("pharos"))
        .args(["--log-format", "json", "run"])
        .current_dir(site.path())
        .env_remove("PHAROS_CONFIG")
        .env_remove("PHAROS_FAILPOINT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap();
    Running(child)
}

pub fn start_daemon(site: &TestSite, log: &Path) -> Running {
    start_daemon_env(site, log, &[])
}

/// Stop a child daemon as systemd does (SIGTERM) and wait for it.
pub fn stop_daemon(child: &mut std::process::Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

pub fn kill9(child: &mut std::process::Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
}

/// The site's store, read by a second connection (as another process would).
pub fn db(site: &TestSite) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(site.path().join("pharos.db")).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c
}

/// How many check results the store holds for `monitor`.
pub fn results_of(site: &TestSite, monitor: &str) -> i64 {
    db(site)
        .query_row(
            "SELECT count(*) FROM check_results WHERE monitor_id = ?1",
            [monitor],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

/// Evidence that time passed for the daemon: `n` more results of `monitor` recorded from now.
pub fn wait_for_results(site: &TestSite, monitor: &str, n: i64) {
    let start = results_of(site, monitor);
    wait_until(30, &format!("{n} more results of {monitor}"), || {
        results_of(site, monitor) >= start + n
    });
}

/// Evidence that nothing more is coming: each of `channels` has handled every event of the
/// outbox (so a duplicate, if there were one, would have been sent).
pub fn outbox_drained(site: &TestSite, channels: &[&str]) -> bool {
    let c = db(site);
    let newest: i64 = c
        .query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0))
        .unwrap_or(0);
    channels.iter().all(|ch| {
        c.query_row(
            "SELECT cursor FROM notify_channels WHERE channel = ?1",
            [ch],
            |r| r.get::<_, i64>(0),
        )
        .is_ok_and(|cursor| cursor >= newest)
    })
}

/// The published `api/v2/summary.json` (null while there is none).
pub fn summary(site: &TestSite) -> serde_json::Value {
    std::fs::read_to_string(site.out().join("api/v2/summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// A component's status in the published `summary.json` ("" while there is none).
pub fn status_of(site: &TestSite, component: &str) -> String {
    summary(site)["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == component))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

/// A tmpfs of a fixed size mounted on a folder for the life of a test (unmounted when dropped,
/// also when the test fails): a disk that really fills up, and that can be made read-only.
pub struct Volume {
    pub dir: std::path::PathBuf,
}

impl Volume {
    /// `None` where this process may not mount (not root): the caller skips, but never in CI.
    pub fn mount(dir: &Path, size: &str) -> Volume {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} (the disk-full tests need root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Volume {
            dir: dir.to_path_buf(),
        }
    }

    /// Fill the volume until the disk is full but for `leave` bytes; returns the filler's path.
    pub fn fill(&self, leave: u64) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(leave)).unwrap();
        path
    }

    pub fn read_only(&self, ro: bool) {
        let opt = if ro { "remount,ro" } else { "remount,rw" };
        let status = std::process::Command::new("mount")
            .args(["-o", opt])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount -o {opt} {}", self.dir.display());
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// The JSON log lines of a child daemon whose message contains `what`.
pub fn log_lines(log: &Path, what: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(what))
        })
        .collect()
}

/// `pharos ARGS` run in `site`'s folder (as a user there would), its output.
pub fn pharos(site: &TestSite, args: &[&str]) -> std::process::Output {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("pharos"))
        .args(args)
        .current_dir(site.path())
        .env_remove("PHAROS_CONFIG")
        .output()
        .unwrap()
}
