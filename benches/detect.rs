//! `cargo bench --bench detect`: how long after a failure `pharos run` (the built binary, as a
//! child process) confirms it, against the two targets README promises:
//! - a heartbeat that stops pinging: down at `interval + grace` after the last ping;
//! - an HTTP target that starts failing: down within `interval x failure_threshold`.
//!
//! One daemon with both monitors (heartbeat `interval: 20s, grace: 5s`; HTTP `interval: 5s`,
//! the default threshold of 3), PHAROS_DETECT_ROUNDS (default 3) rounds of: ping and start
//! failing at the same moment, read the daemon's `confirmed` log lines, recover. The times come
//! from the daemon's JSON log (its own timestamps). Figures only.

#[path = "common/report.rs"]
mod report;
#[path = "../tests/it/common/servers.rs"]
mod servers;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEARTBEAT: (u64, u64) = (20, 5);
const HTTP_INTERVAL: u64 = 5;
const THRESHOLD: u64 = 3;

fn ping(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = write!(
        s,
        "POST /heartbeat/bench-heartbeat-token HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

/// `confirmed` log lines as (monitor, to, unix ms).
fn confirmed(log: &Path) -> Vec<(String, String, i64)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "confirmed")
        .filter_map(|l| {
            let at = chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str()?).ok()?;
            Some((
                l["fields"]["monitor"].as_str()?.to_string(),
                l["fields"]["to"].as_str()?.to_string(),
                at.timestamp_millis(),
            ))
        })
        .collect()
}

fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds: usize = std::env::var("PHAROS_DETECT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let target = servers::HttpTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "site:\n  title: Detect\n  base_url: https://detect.test\ndaemon:\n  listen: 127.0.0.1:{port}\ncomponents:\n  - id: api\n    name: API\n  - id: backup\n    name: Backup\nmonitors:\n  - id: api-http\n    component: api\n    kind: http\n    url: {}\n    interval: {HTTP_INTERVAL}s\n    timeout: 1s\n    failure_threshold: {THRESHOLD}\n  - id: backup-beat\n    component: backup\n    kind: heartbeat\n    token: bench-heartbeat-token\n    interval: {}s\n    grace: {}s\n",
            target.url("/health"),
            HEARTBEAT.0,
            HEARTBEAT.1
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["--log-format", "json", "run"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    assert!(wait_for(30, || ping(port)), "the daemon did not listen");
    // Let the HTTP monitor settle as up first.
    std::thread::sleep(Duration::from_secs(HTTP_INTERVAL + 1));
    let (mut beats, mut https) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let seen = confirmed(&log).len();
        assert!(ping(port), "ping");
        let pinged = chrono::Utc::now().timestamp_millis();
        target.set(|a| a.status = 500);
        let failing = chrono::Utc::now().timestamp_millis();
        let limit = HEARTBEAT.0 + HEARTBEAT.1 + HTTP_INTERVAL * THRESHOLD + 30;
        let both = wait_for(limit, || {
            let new = &confirmed(&log)[seen..];
            ["backup-beat", "api-http"]
                .iter()
                .all(|m| new.iter().any(|(id, to, _)| id == m && to == "down"))
        });
        assert!(
            both,
            "round {round}: not both confirmed down within {limit} s"
        );
        let new = confirmed(&log)[seen..].to_vec();
        let at = |m: &str| {
            new.iter()
                .find(|(id, to, _)| id == m && to == "down")
                .unwrap()
                .2
        };
        let beat = (at("backup-beat") - pinged) as f64 / 1000.0;
        let http = (at("api-http") - failing) as f64 / 1000.0;
        println!(
            "round {round}: heartbeat down {beat:.2} s after the last ping, HTTP down {http:.2} s after it began failing"
        );
        beats.push(beat);
        https.push(http);
        // Recover both before the next round.
        target.set(|a| a.status = 200);
        let seen = confirmed(&log).len();
        assert!(ping(port));
        wait_for(HTTP_INTERVAL * 3 + 10, || {
            confirmed(&log)[seen..]
                .iter()
                .any(|(id, to, _)| id == "api-http" && to == "up")
        });
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    let stats = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        (s[0], s[s.len() / 2], s[s.len() - 1])
    };
    let (b_min, b_med, b_max) = stats(&beats);
    let (h_min, h_med, h_max) = stats(&https);
    let beat_target = (HEARTBEAT.0 + HEARTBEAT.1) as f64;
    let http_target = (HTTP_INTERVAL * THRESHOLD) as f64;
    println!(
        "\nheartbeat (interval {}s + grace {}s = {beat_target} s): min {b_min:.2} s, median {b_med:.2} s, max {b_max:.2} s",
        HEARTBEAT.0, HEARTBEAT.1
    );
    println!(
        "HTTP (interval {HTTP_INTERVAL}s x failure_threshold {THRESHOLD} = {http_target} s): min {h_min:.2} s, median {h_med:.2} s, max {h_max:.2} s"
    );
    report::save(
        "detect",
        &serde_json::json!({
            "machine": report::machine(),
            "rows": [
                {"monitor": "heartbeat", "target_s": beat_target, "min_s": b_min, "median_s": b_med, "max_s": b_max, "rounds": rounds},
                {"monitor": "http", "target_s": http_target, "min_s": h_min, "median_s": h_med, "max_s": h_max, "rounds": rounds},
            ],
        }),
    );
}
