//! `cargo bench --bench publish`: publishing to a loopback S3-compatible server (s3s-fs, in
//! process, SigV4 over HTTP), for generated sites with 10 and 10,000 incidents
//! (PHAROS_PUBLISH_SIZES=10,10000).
//!
//! For each: the first full publish (time, requests), then a single component state change (an
//! incident opened on one component) published with `pharos publish`: PUTs, and the time from the
//! change to the last changed object stored, split into the build (render + write, which today
//! re-renders every page) and the upload. Figures only.

#[path = "common/gen.rs"]
mod generator;
#[path = "../tests/common/s3.rs"]
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
    for n in sizes {
        let server = s3::S3Server::start();
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        generator::generate(dir, 100, n);
        let mut config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
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
            "{n:>6} incidents  one component change: {change_ms} ms to the last object stored  [{change}]  (build alone {build} ms)"
        );
    }
}
