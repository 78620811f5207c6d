//! `pharos run` end to end: monitors against a real HTTP target and heartbeat pings, automatic
//! incidents written as files, restart without duplicates, content edits picked up by the
//! watcher, a bad edit keeping the last good site.

use crate::common;

use common::{free_port, status_of, wait_until};

use common::servers::HttpTarget;
use common::{Daemon, TestSite};
use std::io::{Read, Write};
use std::time::Duration;

fn incident_files(site: &TestSite) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(site.path().join("content/incidents"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".md"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_daemon_keeps_the_site_true_to_what_it_observes() {
    let target = HttpTarget::start();
    let port = free_port();
    let site = TestSite::empty();
    let config = [
        "site:",
        "  title: Live",
        "  base_url: https://live.test",
        "  freshness: 1m",
        "  stale_after: 5m",
        "components:",
        "  - id: api",
        "    name: API",
        "  - id: batch",
        "    name: Nightly batch",
        "monitors:",
        "  - id: api-http",
        "    component: api",
        "    kind: http",
        "    url: URL",
        "    interval: 1s",
        "    timeout: 500ms",
        "    failure_threshold: 2",
        "    success_threshold: 2",
        "    incident_title: API is down",
        "    incident_message: We see errors.",
        "    recovery_message: All good again.",
        "  - id: batch-beat",
        "    component: batch",
        "    kind: heartbeat",
        "    token: hb-SECRET-token-1",
        "    interval: 1s",
        "    grace: 1s",
        "    open_incident: false",
        "daemon:",
        "  listen: 127.0.0.1:PORT",
        "  debounce: 100ms",
    ]
    .join("\n")
    .replace("URL", &target.url("/health?key=SECRET-KEY"))
    .replace("PORT", &port.to_string());
    site.write("config.yaml", &config);

    let daemon = Daemon::start(&site);
    wait_until(20, "first render", || {
        status_of(&site, "api") == "operational"
    });
    assert!(incident_files(&site).is_empty());

    // Heartbeats: a wrong token is not found; silence turns the component down; a ping brings it back.
    assert!(get(port, "/heartbeat/wrong").starts_with("HTTP/1.1 404"));
    wait_until(20, "batch down without pings", || {
        status_of(&site, "batch") == "major_outage"
    });
    assert!(get(port, "/heartbeat/hb-SECRET-token-1").starts_with("HTTP/1.1 200"));
    wait_until(10, "batch back after a ping", || {
        status_of(&site, "batch") == "operational"
    });

    // The target fails: confirmed after two failures, one automatic incident.
    target.set(|a| a.status = 500);
    wait_until(20, "api down", || status_of(&site, "api") == "major_outage");
    wait_until(10, "incident file", || incident_files(&site).len() == 1);
    let file = site
        .path()
        .join("content/incidents")
        .join(&incident_files(&site)[0]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("title: \"API is down\"")
            && text.contains("automatic: true")
            && text.contains("We see errors."),
        "{text}"
    );
    wait_until(10, "incident on the page", || {
        site.read("index.html").contains("API is down")
    });

    // Restart while down: state comes back, no duplicate incident.
    daemon.stop();
    let daemon = Daemon::start(&site);
    // Evidence: the restarted daemon checked (and failed) three more times.
    common::wait_for_results(&site, "api-http", 3);
    assert_eq!(incident_files(&site).len(), 1, "no duplicate after restart");
    assert_eq!(status_of(&site, "api"), "major_outage");

    // Recovery resolves the same incident with the recovery message.
    target.set(|a| a.status = 200);
    wait_until(20, "api up", || status_of(&site, "api") == "operational");
    wait_until(10, "incident resolved", || {
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("· resolved\nAll good again.")
    });
    wait_until(10, "resolved on the site", || {
        site.json("api/v2/incidents/unresolved.json")["incidents"]
            .as_array()
            .is_some_and(|a| a.is_empty())
    });

    // An admin's edit shows up; a broken edit keeps the last good site.
    site.write(
        "content/incidents/2026-11-26-hand.md",
        "---\ntitle: Written by hand\n---\n## 2026-11-26 10:00 UTC · monitoring\nWatching.\n",
    );
    wait_until(10, "hand-written incident", || {
        site.read("index.html").contains("Written by hand")
    });
    site.write(
        "content/incidents/2026-11-26-broken.md",
        "---\ntitle: [broken\n---\n",
    );
    // Evidence: the daemon read the broken file (and told the operators).
    wait_until(10, "the broken file noticed", || {
        common::db(&site)
            .query_row(
                "SELECT count(*) FROM outbox WHERE kind = 'content_problem'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
            > 0
    });
    assert!(
        site.read("index.html").contains("Written by hand"),
        "the last good site stays"
    );

    daemon.stop();
    for (path, bytes) in site.files() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("SECRET"), "{path} leaks a monitor secret");
    }
}

#[test]
fn maintenance_windows_start_and_end_on_time_and_the_config_reloads() {
    let site = TestSite::empty();
    let port = free_port();
    let config = |name: &str, extra: &str| {
        format!(
            "site:\n  title: Timed\n  base_url: https://timed.test\ncomponents:\n  - id: db\n    name: {name}\ndaemon:\n  listen: 127.0.0.1:{port}\n  debounce: 100ms\n{extra}"
        )
    };
    site.write("config.yaml", &config("Database", ""));
    let log = site.path().join("daemon.log");
    let mut daemon = common::start_daemon(&site, &log);
    wait_until(20, "first render", || {
        status_of(&site, "db") == "operational"
    });

    // A window a few seconds from now: nothing but the clock moves the status.
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let now = chrono::Utc::now();
    site.write(
        "content/maintenance/soon.md",
        &format!(
            "---\ntitle: Quick upgrade\ncomponents: [db]\nscheduled_for: {}\nscheduled_until: {}\n---\nShort.\n",
            fmt(now + chrono::Duration::seconds(3)),
            fmt(now + chrono::Duration::seconds(6))
        ),
    );
    wait_until(10, "announced", || {
        site.read("index.html").contains("Quick upgrade")
    });
    assert_eq!(status_of(&site, "db"), "operational");
    wait_until(10, "window starts", || {
        status_of(&site, "db") == "under_maintenance"
    });
    wait_until(10, "window ends", || {
        status_of(&site, "db") == "operational"
    });

    // A valid config change applies; an invalid one is refused and the old config keeps running.
    site.write("config.yaml", &config("Primary database", ""));
    wait_until(10, "renamed", || {
        site.read("api/v2/summary.json")
            .contains("Primary database")
    });
    site.write("config.yaml", &config("Broken", "unknown_key: 1\n"));
    // Evidence: the daemon read the broken config and said why it keeps the running one.
    wait_until(10, "the refusal in the log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("config not reloaded")
    });
    assert!(
        site.read("api/v2/summary.json")
            .contains("Primary database"),
        "a bad config is refused"
    );
    site.write("config.yaml", &config("Fixed", ""));
    wait_until(10, "fixed config applies", || {
        site.read("api/v2/summary.json").contains("Fixed")
    });
    common::stop_daemon(&mut daemon);
}

#[test]
fn cron_schedules_republish_on_time() {
    let site = TestSite::empty();
    let port = free_port();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: Cron\n  base_url: https://cron.test\ncomponents:\n  - id: a\n    name: A\nschedules:\n  - id: every-second\n    cron: \"* * * * * *\"\n    action: publish\ndaemon:\n  listen: 127.0.0.1:{port}\n  debounce: 50ms\n"
        ),
    );
    let daemon = Daemon::start(&site);
    let manifest = site.out().join(".pharos-manifest.json");
    wait_until(20, "first render", || manifest.exists());
    // Every publish replaces the folder, so the manifest's inode changes with each run.
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    wait_until(10, "three scheduled publishes", || {
        if let Ok(m) = std::fs::metadata(&manifest) {
            seen.insert(m.ino());
        }
        seen.len() >= 3
    });
    daemon.stop();
}

/// The daemon's own network fails (every target unreachable at once): it cannot judge, so no
/// component is published as down and the page says monitoring is impaired. When one target
/// answers again, the others' failures count again.
#[test]
fn when_no_target_is_reachable_the_daemon_says_it_cannot_judge() {
    let targets: Vec<HttpTarget> = (0..3).map(|_| HttpTarget::start()).collect();
    let site = TestSite::empty();
    let mut config = format!(
        "site:\n  title: Net\n  base_url: https://net.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 50ms\ncomponents:\n",
        free_port()
    );
    for i in 0..3 {
        config.push_str(&format!("  - id: c{i}\n    name: Service {i}\n"));
    }
    config.push_str("monitors:\n");
    for (i, t) in targets.iter().enumerate() {
        config.push_str(&format!(
            "  - id: m{i}\n    component: c{i}\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n    failure_threshold: 2\n",
            t.url("/health")
        ));
    }
    site.write("config.yaml", &config);
    let daemon = Daemon::start(&site);
    wait_until(20, "all up", || {
        (0..3).all(|i| status_of(&site, &format!("c{i}")) == "operational")
    });
    for t in &targets {
        t.set(|a| a.drop = true);
    }
    wait_until(20, "the page says monitoring is impaired", || {
        site.read("index.html")
            .contains("Monitoring cannot reach any service")
    });
    // Several more rounds of failures: still nothing published as down, no incident opened.
    for i in 0..3 {
        common::wait_for_results(&site, &format!("m{i}"), 3);
    }
    for i in 0..3 {
        assert_eq!(status_of(&site, &format!("c{i}")), "operational", "c{i}");
    }
    assert!(incident_files(&site).is_empty());
    // One service answers: the network works, so the other two are really down.
    targets[0].set(|a| a.drop = false);
    wait_until(20, "c1 and c2 down", || {
        status_of(&site, "c1") == "major_outage" && status_of(&site, "c2") == "major_outage"
    });
    assert_eq!(status_of(&site, "c0"), "operational");
    assert!(
        !site
            .read("index.html")
            .contains("Monitoring cannot reach any service")
    );
    daemon.stop();
}

/// Minutes the test moves the daemon's clock by.
static SHIFT_MIN: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn shifted_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
        + chrono::Duration::minutes(SHIFT_MIN.load(std::sync::atomic::Ordering::SeqCst))
}

/// The wall clock jumps forward and back by an hour under a running daemon: maintenance windows
/// follow the clock, no check is counted twice in the rollups, and no negative duration is
/// published.
#[test]
fn clock_jumps_keep_maintenance_right_and_count_each_check_once() {
    use std::sync::atomic::Ordering::SeqCst;
    let target = HttpTarget::start();
    let site = TestSite::empty();
    let start = chrono::Utc::now();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: Clock\n  base_url: https://clock.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 50ms\ncomponents:\n  - id: api\n    name: API\nmonitors:\n  - id: m\n    component: api\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n",
            free_port(),
            target.url("/")
        ),
    );
    // A window from 30 to 90 minutes from now.
    site.write(
        "content/maintenance/window.md",
        &format!(
            "---\ntitle: Window\ncomponents: [api]\nscheduled_for: {}\nscheduled_until: {}\n---\nWork.\n",
            fmt(start + chrono::Duration::minutes(30)),
            fmt(start + chrono::Duration::minutes(90))
        ),
    );
    let daemon = Daemon::start_with_clock(&site, Some(shifted_clock));
    wait_until(20, "operational before the window", || {
        status_of(&site, "api") == "operational"
    });
    SHIFT_MIN.store(60, SeqCst);
    wait_until(20, "in maintenance an hour later", || {
        status_of(&site, "api") == "under_maintenance"
    });
    std::thread::sleep(Duration::from_secs(2));
    SHIFT_MIN.store(-60, SeqCst);
    wait_until(20, "operational again an hour before", || {
        status_of(&site, "api") == "operational"
    });
    std::thread::sleep(Duration::from_secs(2));
    SHIFT_MIN.store(0, SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    daemon.stop();

    let db = rusqlite::Connection::open(site.path().join("pharos.db")).unwrap();
    let results: i64 = db
        .query_row(
            "SELECT count(*) FROM check_results WHERE in_maintenance = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let counted: i64 = db
        .query_row(
            "SELECT sum(up + degraded + down) FROM hourly_rollups",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let daily: i64 = db
        .query_row(
            "SELECT sum(up + degraded + down) FROM daily_rollups",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(counted, results, "hourly rollups count each check once");
    assert_eq!(daily, results, "daily rollups count each check once");
    for (path, bytes) in site.files() {
        let text = String::from_utf8_lossy(&bytes);
        for bad in ["lasted -", "\"duration\":-", "in -"] {
            assert!(!text.contains(bad), "{path}: negative duration ({bad})");
        }
    }
}

/// A monitor marked private runs and keeps its results, but nothing public comes from it: its
/// failures change no status, no uptime or latency figure, open no incident, and neither its id
/// nor its URL appears in any published file.
#[test]
fn a_private_monitor_leaves_no_trace_in_public_files() {
    let public = HttpTarget::start();
    let private = HttpTarget::start();
    private.set(|a| a.status = 500);
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: Private\n  base_url: https://private.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 50ms\ncomponents:\n  - id: api\n    name: API\nmonitors:\n  - id: api-public\n    component: api\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n    failure_threshold: 1\n  - id: zz-internal-probe\n    component: api\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n    failure_threshold: 1\n    private: true\n    incident_title: Internal probe failed\n",
            free_port(),
            public.url("/health"),
            private.url("/internal-only-path")
        ),
    );
    let daemon = Daemon::start(&site);
    let db = site.path().join("pharos.db");
    let private_results = || -> i64 {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.query_row(
            "SELECT count(*) FROM check_results WHERE monitor_id = 'zz-internal-probe' AND outcome = 'down'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    wait_until(20, "the private monitor failed a few times", || {
        private_results() >= 4
    });
    // A change of the public monitor makes the daemon render again with all that data.
    std::thread::sleep(Duration::from_millis(500));
    daemon.stop();
    assert_eq!(status_of(&site, "api"), "operational");
    assert!(incident_files(&site).is_empty(), "no automatic incident");
    let summary = site.json("api/v2/summary.json");
    assert_eq!(summary["status"]["indicator"], "none", "{summary}");
    // The uptime figure counts only the public monitor: 100 %.
    let index = site.read("index.html");
    let shown: Vec<&str> = index
        .split(" uptime</span>")
        .filter_map(|before| before.rsplit("<span>").next())
        .filter(|p| p.ends_with('%'))
        .collect();
    assert!(!shown.is_empty(), "an uptime figure is shown");
    assert!(shown.iter().all(|p| p.starts_with("100")), "{shown:?}");
    for (path, bytes) in site.files() {
        let text = String::from_utf8_lossy(&bytes);
        for needle in [
            "zz-internal-probe",
            "internal-only-path",
            "Internal probe failed",
        ] {
            assert!(
                !text.contains(needle),
                "{path} names the private monitor ({needle})"
            );
        }
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let events: i64 = c
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 0, "no notification event from a private monitor");
    let down_counted: i64 = c
        .query_row(
            "SELECT coalesce(sum(down), 0) FROM daily_rollups",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(down_counted, 0, "no failure counted against uptime");
}
