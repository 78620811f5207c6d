//! `cargo bench --bench change`: what a single change costs the daemon, in process, for
//! generated sites of 100 components and 100 and 10,000 incidents (PHAROS_CHANGE_SIZES=100,10000).
//!
//! The daemon's path without its debounce: the store records a monitor's confirmed transition
//! (or an incident file is edited), the incremental build renders and writes what changed to the
//! output folder, then the publisher uploads what changed to a loopback S3 server (s3s-fs, SigV4
//! over HTTP). Each figure is the median of PHAROS_CHANGE_ROUNDS (default 15) changes, with the
//! files rewritten and objects uploaded. Figures only.

#[path = "common/gen.rs"]
mod generator;
#[path = "common/report.rs"]
mod report;
#[path = "../tests/it/common/s3.rs"]
mod s3;

use chrono::{DateTime, Utc};
use pharos::build::{Incremental, update};
use pharos::config::Config;
use pharos::monitor::{CheckResult, Outcome};
use pharos::store::Store;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

struct Sample {
    to_folder: Duration,
    to_store: Duration,
    written: usize,
    uploaded: usize,
    /// The build's own phases (import+snapshot, render, write).
    phases: [Duration; 3],
}

fn median(mut xs: Vec<Duration>) -> f64 {
    xs.sort();
    xs[xs.len() / 2].as_secs_f64() * 1000.0
}

struct Bench {
    config: Config,
    store: Store,
    inc: Incremental,
    monitors: HashMap<String, pharos::monitor::Monitor>,
    target: pharos::publisher::s3::S3Target,
    publisher_store: Store,
    remote: pharos::publisher::RemoteCache,
    rt: tokio::runtime::Runtime,
    now: DateTime<Utc>,
}

impl Bench {
    /// Build and publish once, returning the time to the folder and to the bucket.
    fn build_and_publish(&mut self, started: Instant) -> Sample {
        let built = update(&mut self.store, &self.config, None, self.now, &mut self.inc)
            .expect("build")
            .written()
            .expect("write");
        let to_folder = started.elapsed();
        let report = self
            .rt
            .block_on(pharos::publisher::publish(
                &self.publisher_store,
                &self.target,
                &built.site,
                &built.report.write.manifest,
                self.now,
                None,
                &mut self.remote,
            ))
            .expect("publish");
        Sample {
            to_folder,
            to_store: started.elapsed(),
            written: built.report.write.changed.len(),
            uploaded: report.uploaded.len(),
            phases: built.report.phases.map(|p| p.1),
        }
    }

    /// A confirmed transition of the probe monitor (down on odd rounds, up on even ones).
    fn component_change(&mut self, round: usize) -> Sample {
        self.now += chrono::Duration::seconds(1);
        let outcome = if round.is_multiple_of(2) {
            Outcome::Down
        } else {
            Outcome::Up
        };
        let started = Instant::now();
        let result = CheckResult {
            monitor: "probe".into(),
            at: self.now,
            outcome,
            latency: Some(Duration::from_millis(3)),
            reason: None,
            reached: Some(true),
            regions: Vec::new(),
        };
        let transitions = self
            .store
            .record(&[result], &self.monitors, self.config.tz(), &|_, _| false)
            .unwrap();
        assert_eq!(transitions.len(), 1, "the probe must change state");
        self.build_and_publish(started)
    }

    /// An update appended to one incident file (what the watcher reports).
    fn incident_edit(&mut self, dir: &Path, round: usize) -> Sample {
        self.now += chrono::Duration::seconds(1);
        let path = dir.join("content/incidents/i000000.md");
        let started = Instant::now();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("Edit number {round}.\n"));
        std::fs::write(&path, text).unwrap();
        self.inc.content_dirty = true;
        self.build_and_publish(started)
    }
}

fn report(n: usize, what: &str, samples: Vec<Sample>) -> serde_json::Value {
    let written = samples.iter().map(|s| s.written).max().unwrap_or(0);
    let uploaded = samples.iter().map(|s| s.uploaded).max().unwrap_or(0);
    let folder = median(samples.iter().map(|s| s.to_folder).collect());
    let store = median(samples.iter().map(|s| s.to_store).collect());
    let phase = |k: usize| median(samples.iter().map(|s| s.phases[k]).collect());
    println!(
        "{n:>6} incidents  {what:<18} to publish/: {folder:>6.1} ms ({written} files)   to S3: {store:>6.1} ms ({uploaded} objects)   [snapshot {:.1}, render {:.1}, write {:.1} ms]",
        phase(0),
        phase(1),
        phase(2)
    );
    serde_json::json!({
        "incidents": n,
        "change": what,
        "to_folder_ms": (folder * 10.0).round() / 10.0,
        "to_s3_ms": (store * 10.0).round() / 10.0,
        "files_written": written,
        "objects_uploaded": uploaded,
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    pharos::tls_provider();
    let sizes: Vec<usize> = std::env::var("PHAROS_CHANGE_SIZES")
        .unwrap_or_else(|_| "100,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rounds: usize = std::env::var("PHAROS_CHANGE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    println!("\nchange to public, in process (median of {rounds}):");
    let mut rows = Vec::new();
    for n in sizes {
        let server = s3::S3Server::start();
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        generator::generate(dir, 100, n);
        let mut yaml = generator::config_with_probe(
            dir,
            "    kind: http\n    url: http://127.0.0.1:9/\n    failure_threshold: 1\n    success_threshold: 1\n    open_incident: false\n",
        );
        yaml.push_str(&s3::target_yaml(
            &server.endpoint(),
            "      concurrency: 16\n",
        ));
        std::fs::write(dir.join("config.yaml"), yaml).unwrap();
        let config = Config::load(&dir.join("config.yaml")).unwrap();
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let mut store = Store::open(&config.database_path()).unwrap();
        let monitors = pharos::monitor::compile(&config);
        store.sync_monitors(&monitors, now).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = rt
            .block_on(pharos::publisher::targets(&config))
            .unwrap()
            .remove(0);
        let mut b = Bench {
            publisher_store: Store::open(&config.database_path()).unwrap(),
            remote: Default::default(),
            store,
            inc: Incremental::default(),
            monitors: monitors.into_iter().map(|m| (m.id.clone(), m)).collect(),
            target,
            rt,
            now,
            config,
        };
        let first = b.build_and_publish(Instant::now());
        println!(
            "{n:>6} incidents  first build+publish: {:.0} ms ({} objects)",
            first.to_store.as_secs_f64() * 1000.0,
            first.uploaded
        );
        let samples: Vec<Sample> = (0..rounds).map(|r| b.component_change(r)).collect();
        rows.push(report(n, "component change", samples));
        if std::env::var("PHAROS_CHANGE_ONLY").as_deref() != Ok("component") {
            let samples: Vec<Sample> = (0..rounds).map(|r| b.incident_edit(dir, r)).collect();
            rows.push(report(n, "incident edit", samples));
        }
    }
    report::save(
        "change",
        &serde_json::json!({"machine": report::machine(), "rounds": rounds, "rows": rows}),
    );
}
