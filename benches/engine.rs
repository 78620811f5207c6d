//! `cargo bench --bench engine`: the monitor engine under load, measured from outside.
//!
//! For 1,000, 10,000 and 50,000 HTTP monitors at a 60 s interval and 10,000 at 10 s
//! (PHAROS_ENGINE_RUNS=1000@60s,10000@60s,50000@60s,10000@10s) against a loopback HTTP target,
//! runs the release `pharos run` for PHAROS_ENGINE_SECS (default 65 s) each and reports, over
//! the last 20 s (steady state: every monitor's first check comes within 5 s of start, the
//! second at its own phase of the interval; a 30 s warm-up measured startup work): checks per
//! second and schedule lateness (from the daemon's own `engine` log line, every 10 s here
//! through PHAROS_STATS_SECS), CPU % of one core
//! (from /proc/<pid>/stat), RSS and peak RSS, and SQLite bytes per stored check. Then, with one monitor
//! at 1 s, the time from a confirmed transition to the rewritten files (from the JSON logs).
//! Figures only: nothing fails on time.

#[path = "common/target.rs"]
mod http_target;
#[path = "common/report.rs"]
mod report;

use http_target::target;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_site(
    dir: &Path,
    monitors: usize,
    interval: &str,
    threshold: u32,
    target: std::net::SocketAddr,
) {
    let mut c = format!(
        "site:\n  title: Engine bench\n  base_url: https://bench.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 50ms\n  max_concurrent_checks: 512\ncomponents:\n",
        free_port()
    );
    let components = monitors.clamp(1, 100);
    for i in 0..components {
        c.push_str(&format!("  - id: c{i}\n    name: Component {i}\n"));
    }
    c.push_str("monitors:\n");
    for i in 0..monitors {
        c.push_str(&format!(
            "  - id: m{i}\n    component: c{}\n    kind: http\n    url: http://{target}/health/{i}\n    interval: {interval}\n    timeout: {timeout}\n    failure_threshold: {threshold}\n    success_threshold: {threshold}\n",
            i % components,
            timeout = if interval == "1s" { "900ms" } else { "5s" },
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.yaml"), c).unwrap();
}

/// How often the daemon logs its engine figures during a run.
const STATS_SECS: u64 = 10;
/// The measured window: the end of each run.
const WINDOW_SECS: u64 = 20;

fn start(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args([
            "-c",
            dir.join("config.yaml").to_str().unwrap(),
            "--log-format",
            "json",
            "run",
        ])
        .env("PHAROS_STATS_SECS", STATS_SECS.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log.jsonl")).unwrap())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no memory-safety requirements.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

fn status_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn log_lines(dir: &Path) -> Vec<serde_json::Value> {
    let file = std::fs::File::open(dir.join("log.jsonl")).unwrap();
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

fn load(n: usize, interval: &str, secs: u64) -> serde_json::Value {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = target(fail);
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path(), n, interval, 3, addr);
    let child = start(dir.path());
    let pid = child.id();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs - WINDOW_SECS));
    let (cpu_a, wall_a) = (cpu_seconds(pid), t0.elapsed());
    std::thread::sleep(Duration::from_secs(WINDOW_SECS));
    let (cpu_b, wall_b) = (cpu_seconds(pid), t0.elapsed());
    let rss = status_kb(pid, "VmRSS:") / 1024.0;
    let peak = status_kb(pid, "VmHWM:") / 1024.0;
    let stopping = Instant::now();
    stop(child);
    let stop_secs = stopping.elapsed().as_secs_f64();
    let cpu = (cpu_b - cpu_a) / (wall_b - wall_a).as_secs_f64() * 100.0;
    let engine: Vec<serde_json::Value> = log_lines(dir.path())
        .into_iter()
        .filter(|l| l["fields"]["message"] == "engine")
        .collect();
    let last = engine.last().cloned().unwrap_or_default();
    let f = |k: &str| {
        last["fields"][k]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| last["fields"][k].to_string())
    };
    let db = dir.path().join("pharos.db");
    let store = pharos::store::Store::open(&db).unwrap();
    let rows = store.raw_result_count().unwrap().max(1);
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("pharos.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    let num = |k: &str| f(k).parse::<f64>().unwrap_or(0.0);
    serde_json::json!({
        "monitors": n,
        "interval": interval,
        "checks_per_sec": num("checks_per_sec"),
        "cpu_percent": (cpu * 10.0).round() / 10.0,
        "rss_mb": (rss * 10.0).round() / 10.0,
        "peak_rss_mb": (peak * 10.0).round() / 10.0,
        "lateness_p50_ms": num("lateness_p50_ms"),
        "lateness_p99_ms": num("lateness_p99_ms"),
        "db_bytes_per_check": bytes / rows as u64,
        "stop_secs": (stop_secs * 10.0).round() / 10.0,
        "run_secs": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// Time from a confirmed transition to the site written after it (from the daemon's JSON logs):
/// a line for the table and the samples in ms.
fn transition_to_files() -> (String, Vec<f64>) {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = target(fail.clone());
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path(), 1, "1s", 1, addr);
    let child = start(dir.path());
    std::thread::sleep(Duration::from_secs(4));
    let mut samples = Vec::new();
    for round in 0..6 {
        fail.store(round % 2 == 0, std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(3));
    }
    stop(child);
    let lines = log_lines(dir.path());
    let ts = |l: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap_or("")).ok()
    };
    for (i, l) in lines.iter().enumerate() {
        if l["fields"]["message"] == "confirmed"
            && let Some(written) = lines[i..]
                .iter()
                .find(|w| w["fields"]["message"] == "site written")
            && let (Some(a), Some(b)) = (ts(l), ts(written))
        {
            samples.push((b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let line = format!(
        "{} transitions; confirmed -> site written: min {:.1} ms, median {:.1} ms, max {:.1} ms (debounce 50 ms included)",
        samples.len(),
        samples.first().copied().unwrap_or(0.0),
        samples.get(samples.len() / 2).copied().unwrap_or(0.0),
        samples.last().copied().unwrap_or(0.0)
    );
    (line, samples)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: Vec<(usize, String)> = std::env::var("PHAROS_ENGINE_RUNS")
        .unwrap_or_else(|_| "1000@60s,10000@60s,50000@60s,10000@10s".into())
        .split(',')
        .filter_map(|r| {
            let (n, interval) = r.trim().split_once('@').unwrap_or((r.trim(), "60s"));
            Some((n.parse().ok()?, interval.to_string()))
        })
        .collect();
    let secs: u64 = std::env::var("PHAROS_ENGINE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(65)
        .max(WINDOW_SECS + 2 * STATS_SECS);
    let (transition, samples) = transition_to_files();
    println!("\n{transition}");
    println!(
        "\n{:>7} {:>9} {:>10} {:>9} {:>9} {:>10} {:>14} {:>14} {:>12}",
        "monitors",
        "interval",
        "checks/s",
        "CPU %",
        "RSS MB",
        "peak MB",
        "late p50 ms",
        "late p99 ms",
        "DB B/check"
    );
    let mut rows = Vec::new();
    for (n, interval) in runs {
        let r = load(n, &interval, secs);
        println!(
            "{:>7} {:>9} {:>10} {:>9} {:>9} {:>10} {:>14} {:>14} {:>12}",
            r["monitors"].to_string(),
            interval,
            r["checks_per_sec"].to_string(),
            r["cpu_percent"].to_string(),
            r["rss_mb"].to_string(),
            r["peak_rss_mb"].to_string(),
            r["lateness_p50_ms"].to_string(),
            r["lateness_p99_ms"].to_string(),
            r["db_bytes_per_check"].to_string()
        );
        rows.push(r);
    }
    println!(
        "\n(loopback HTTP target, steady state over the last {WINDOW_SECS} s of {secs} s; nproc={})",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    report::save(
        "engine",
        &serde_json::json!({"machine": report::machine(), "rows": rows, "transition_to_files_ms": samples}),
    );
}
