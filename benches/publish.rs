//! `cargo bench --bench publish`: publishing to a loopback S3-compatible server (s3s-fs, in
//! process, SigV4 over HTTP), for generated sites with 10 and 10,000 incidents
//! (PHAROS_PUBLISH_SIZES=10,10000).
//!
//! For each: the first full publish with `pharos publish` (time, requests); a single component
//! change published by `pharos publish` (a one-shot: full render, PUTs); and the daemon's path:
//! `pharos run` with one monitor on a loopback HTTP target that starts failing, measured from the
//! confirmed transition to the target's last object stored (from the daemon's JSON logs), with the
//! number of objects uploaded, and the cold start: from starting `pharos run` (existing store and
//! bucket, nothing rendered in memory) to its first publish. Figures only.

#[path = "common/gen.rs"]
mod generator;
#[path = "common/target.rs"]
mod http_target;
#[path = "common/report.rs"]
mod report;
#[path = "../tests/it/common/s3.rs"]
mod s3;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Run `pharos publish`; returns (wall ms, the target's summary line).
fn publish(dir: &Path) -> (u128, String) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args([
            "-c",
            dir.join("config.yaml").to_str().unwrap(),
            "publish",
            "--now",
            "2026-11-26T12:00:00Z",
        ])
        .output()
        .unwrap();
    let ms = started.elapsed().as_millis();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        ms,
        stdout
            .lines()
            .find(|l| l.starts_with("target"))
            .unwrap_or("")
            .to_string(),
    )
}

/// Time `pharos build` alone (the render + write part of a publish).
fn build_ms(dir: &Path) -> u128 {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args([
            "-c",
            dir.join("config.yaml").to_str().unwrap(),
            "build",
            "--now",
            "2026-11-26T12:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    started.elapsed().as_millis()
}

/// What `pharos run` did: ms from the confirmed transition to the publish after it, objects
/// uploaded, files rewritten, and ms from the process start to its first publish.
struct DaemonRun {
    change_ms: f64,
    uploaded: u64,
    written: u64,
    cold_start_ms: f64,
}

/// `pharos run` on `dir` (which has a target and one monitor `probe` on `fail`'s target).
fn daemon_change(dir: &Path, fail: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> DaemonRun {
    let log = dir.join("run.jsonl");
    let spawned = chrono::Utc::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args([
            "-c",
            dir.join("config.yaml").to_str().unwrap(),
            "--log-format",
            "json",
            "run",
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let lines = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let msg = |l: &serde_json::Value| l["fields"]["message"].as_str().unwrap_or("").to_string();
    let deadline = Instant::now() + std::time::Duration::from_secs(300);
    while !lines().iter().any(|l| msg(l) == "published") {
        assert!(Instant::now() < deadline, "no first publish");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    fail.store(true, std::sync::atomic::Ordering::Relaxed);
    let result = loop {
        assert!(Instant::now() < deadline, "no publish after the transition");
        let ls = lines();
        if let Some(i) = ls.iter().position(|l| msg(l) == "confirmed")
            && let Some(p) = ls[i..].iter().find(|l| msg(l) == "published")
        {
            let ts = |l: &serde_json::Value| {
                chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap()).unwrap()
            };
            let written = ls[i..].iter().find(|l| msg(l) == "site written").unwrap();
            let f = &written["fields"];
            eprintln!(
                "    (that render: snapshot {} ms, render {} ms, write {} ms; publish {} ms)",
                f["snapshot_ms"], f["render_ms"], f["write_ms"], p["fields"]["ms"]
            );
            let ms = (ts(p) - ts(&ls[i])).num_microseconds().unwrap() as f64 / 1000.0;
            let first = ls.iter().find(|l| msg(l) == "published").unwrap();
            let cold = (ts(first).with_timezone(&chrono::Utc) - spawned)
                .num_microseconds()
                .unwrap() as f64
                / 1000.0;
            break DaemonRun {
                change_ms: ms,
                uploaded: p["fields"]["uploaded"].as_u64().unwrap_or(0),
                written: written["fields"]["changed"].as_u64().unwrap_or(0),
                cold_start_ms: cold,
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    result
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("PHAROS_PUBLISH_SIZES")
        .unwrap_or_else(|_| "10,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!();
    let mut rows = Vec::new();
    for n in sizes {
        let server = s3::S3Server::start();
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        generator::generate(dir, 100, n);
        let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let probe = http_target::target(fail.clone());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = generator::config_with_probe(
            dir,
            &format!(
                "    kind: http\n    url: http://{probe}/\n    interval: 1s\n    timeout: 900ms\n    failure_threshold: 1\n    success_threshold: 1\n    open_incident: false\ndaemon:\n  listen: 127.0.0.1:{port}\n  debounce: 50ms\n"
            ),
        );
        config.push_str(&s3::target_yaml(
            &server.endpoint(),
            "      concurrency: 16\n",
        ));
        std::fs::write(dir.join("config.yaml"), config).unwrap();

        let (first_ms, first) = publish(dir);
        println!("{n:>6} incidents  first full publish: {first_ms} ms  [{first}]");

        // One component changes state: an incident opens on c42.
        std::fs::write(
            dir.join("content/incidents/zz-change.md"),
            "---\ntitle: Elevated errors\ncomponents:\n  c42: major_outage\n---\n## 2026-11-26 11:59 UTC · investigating\nLooking.\n",
        )
        .unwrap();
        let (change_ms, change) = publish(dir);
        // The build part of that: render and write the same state again (nothing to upload).
        let build = build_ms(dir);
        println!(
            "{n:>6} incidents  one change with `pharos publish` (a one-shot, full render): {change_ms} ms  [{change}]  (build alone {build} ms)"
        );
        let d = daemon_change(dir, &fail);
        println!(
            "{n:>6} incidents  `pharos run`: confirmed transition -> last object stored: {:.1} ms, {} objects uploaded, {} files rewritten (debounce 50 ms included)",
            d.change_ms, d.uploaded, d.written
        );
        println!(
            "{n:>6} incidents  `pharos run` cold start -> first publish: {:.0} ms",
            d.cold_start_ms
        );
        rows.push(serde_json::json!({
            "incidents": n,
            "first_publish_ms": first_ms,
            "first_publish": first,
            "oneshot_change_ms": change_ms,
            "oneshot_change": change,
            "daemon_change_ms": d.change_ms,
            "daemon_change_uploaded": d.uploaded,
            "daemon_change_written": d.written,
            "cold_start_ms": d.cold_start_ms,
        }));
    }
    report::save(
        "publish",
        &serde_json::json!({"machine": report::machine(), "rows": rows}),
    );
}
