//! Where benches leave their figures: `target/bench/<name>.json`, read by `benches/summary.rs`
//! (the one table `benches/run-all.sh` ends with).
#![allow(dead_code)]

use std::path::PathBuf;

pub fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write one bench's figures.
pub fn save(name: &str, value: &serde_json::Value) {
    let path = dir().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
    println!("(figures written to {})", path.display());
}

/// The machine the figures come from.
pub fn machine() -> serde_json::Value {
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": (mem_kb as f64 / 1_048_576.0 * 10.0).round() / 10.0,
        "cpu": cpu,
    })
}
