//! `cargo bench --bench cluster`: the figures issue 19 asks for, for 1,000 HTTP monitors at
//! 60 s (one per component, default thresholds) with three regions: the release binary as a
//! leader (`run --region eu-west`), a standby (`run --region us-east`) and a probe
//! (`probe --region ap-south`), against a loopback S3 server (s3s-fs) as cluster store and
//! public bucket, checking loopback HTTP services that fail by region (User-Agent).
//!
//! - S3 requests per hour for each role, counted at the server over PHAROS_BENCH_SECS
//!   (default 180) of steady running, and the mirrored state's size;
//! - detection time with three regions: 10 of the monitors check a service that starts
//!   failing for every region; the time to each one's `confirmed … down` in the leader's log;
//! - failover over PHAROS_KILLS (default 20) kill -9s of the leader: kill to the new leader's
//!   "leading" line and to its first publish (lease 15 s, the default);
//! - detection time with one region: the same, with one `pharos run` and no `cluster:`.
//!
//! PHAROS_PHASES=steady,detect,failover,alone picks phases (the steady figures always run).
//! Figures only.

#[path = "../tests/it/common/regional.rs"]
mod regional;
#[path = "common/report.rs"]
mod report;
#[path = "../tests/it/common/s3.rs"]
mod s3;

use regional::RegionalHttp;
use s3::S3Server;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const MONITORS: usize = 1000;
const VICTIMS: usize = 10;
const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];
const SECRET: &str = "bench-cluster-secret-0123456789";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(s3: &S3Server, healthy: &RegionalHttp, victim: &RegionalHttp, cluster: bool) -> String {
    let mut c = String::from(
        "site:\n  title: Bench\n  base_url: https://status.bench.test\n  time_zone: UTC\ncomponents:\n",
    );
    for i in 0..MONITORS {
        c.push_str(&format!("  - id: c{i}\n    name: Service {i}\n"));
    }
    c.push_str("monitors:\n");
    for i in 0..MONITORS {
        let url = if i < VICTIMS {
            victim.url()
        } else {
            healthy.url()
        };
        c.push_str(&format!(
            "  - id: m{i}\n    component: c{i}\n    kind: http\n    url: {url}\n    interval: 60s\n    timeout: 5s\n"
        ));
    }
    c.push_str("daemon:\n  listen: 127.0.0.1:0\n  debounce: 200ms\n");
    c.push_str(&s3::target_yaml(&s3.endpoint(), "      prefix: site/\n"));
    if cluster {
        c.push_str(&format!(
            "cluster:\n  store: {{bucket: {}, prefix: cluster/, endpoint: {}, path_style: true, region: us-east-1, access_key_id: {}, secret_access_key: {}}}\n  secret: {SECRET}\n",
            s3::BUCKET,
            s3.endpoint(),
            s3::KEY,
            s3::SECRET
        ));
    }
    c
}

struct Member {
    dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
}

impl Member {
    fn new(config: &str, args: &[&str]) -> Member {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        Member {
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
        }
    }
    fn log(&self) -> PathBuf {
        self.dir.path().join("pharos.log")
    }
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pharos"))
            .args(["--log-format", "json"])
            .args(&self.args)
            .current_dir(self.dir.path())
            .env_remove("PHAROS_CONFIG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    /// Log lines (message, fields, unix ms) of this member's log.
    fn lines(&self) -> Vec<(String, serde_json::Value, i64)> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                let ms =
                    chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap_or(""))
                        .map(|t| t.timestamp_millis())
                        .unwrap_or(0);
                (
                    v["fields"]["message"].as_str().unwrap_or("").to_string(),
                    v["fields"].clone(),
                    ms,
                )
            })
            .collect()
    }
    fn said(&self, what: &str) -> usize {
        self.lines().iter().filter(|l| l.0.contains(what)).count()
    }
    /// Whether its current process leads.
    fn leads(&self) -> bool {
        let lines = self.lines();
        let from = lines
            .iter()
            .rposition(|l| l.0.contains("cluster member started"))
            .unwrap_or(0);
        let led = lines[from..]
            .iter()
            .filter(|l| l.0.contains("leading: publishing"))
            .count();
        let down = lines[from..]
            .iter()
            .filter(|l| l.0.contains("stepped down"))
            .count();
        self.child.is_some() && led > down
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Make the victim service fail from now (`fail`); the seconds until each victim monitor is
/// confirmed down in `leader`'s log; then `recover` and wait for it.
fn detect(leader: &Member, fail: impl FnOnce(), recover: Option<&dyn Fn()>) -> Vec<f64> {
    let t0 = unix_ms();
    fail();
    let victims: Vec<String> = (0..VICTIMS).map(|i| format!("m{i}")).collect();
    let mut times = BTreeMap::new();
    wait(600, "every victim confirmed down", || {
        for (msg, f, ms) in leader.lines().into_iter().filter(|l| l.0 == "confirmed") {
            let m = f["monitor"].as_str().unwrap_or("").to_string();
            if msg == "confirmed" && f["to"] == "down" && victims.contains(&m) && ms >= t0 {
                times.entry(m).or_insert((ms - t0) as f64 / 1000.0);
            }
        }
        times.len() == VICTIMS
    });
    let mut v: Vec<f64> = times.into_values().collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let Some(recover) = recover else {
        return v;
    };
    recover();
    let t1 = unix_ms();
    wait(600, "every victim confirmed up", || {
        leader
            .lines()
            .iter()
            .filter(|l| l.0 == "confirmed" && l.1["to"] == "up" && l.2 >= t1)
            .count()
            >= VICTIMS
    });
    v
}

/// Whether PHAROS_PHASES (default: all of steady, detect, failover, alone) names `p`.
fn phase(p: &str) -> bool {
    std::env::var("PHAROS_PHASES").map_or(true, |v| v.split(',').any(|x| x.trim() == p))
}

fn median(v: &[f64]) -> f64 {
    v[v.len() / 2]
}

fn dir_size(p: &Path) -> (u64, usize) {
    let mut total = (0, 0);
    let Ok(rd) = std::fs::read_dir(p) else {
        return total;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            let (b, n) = dir_size(&p);
            total.0 += b;
            total.1 += n;
        } else if !p.to_string_lossy().contains(".s3s") {
            total.0 += e.metadata().map(|m| m.len()).unwrap_or(0);
            total.1 += 1;
        }
    }
    total
}

/// The counted requests, per role and kind, per hour.
fn per_hour(counts: &BTreeMap<String, u64>, secs: f64) -> serde_json::Value {
    let mut roles: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
    for (k, n) in counts {
        let (method, path) = k.split_once(' ').unwrap_or((k, ""));
        let path = path
            .strip_prefix(&format!("{}/", s3::BUCKET))
            .unwrap_or(path);
        let (role, what) = if let Some(r) = path.strip_prefix("cluster/results/") {
            let region = r.trim_end_matches(".json");
            match method {
                "PUT" => (
                    match region {
                        "eu-west" => "leader",
                        "us-east" => "standby",
                        _ => "probe",
                    },
                    "PUT own report".to_string(),
                ),
                _ => ("leader", format!("{method} other regions' reports")),
            }
        } else if path.starts_with("cluster/results") {
            ("leader", format!("{method} list of reports"))
        } else if path == "cluster/lease.json" {
            match method {
                "PUT" => ("leader", "PUT lease renewal".to_string()),
                _ => ("standby", format!("{method} lease")),
            }
        } else if path.starts_with("cluster/state") {
            ("leader", format!("{method} mirror"))
        } else if path.starts_with("site") {
            ("leader", format!("{method} publish"))
        } else {
            ("other", k.clone())
        };
        *roles.entry(role).or_default().entry(what).or_default() += *n as f64 * 3600.0 / secs;
    }
    serde_json::to_value(roles).unwrap()
}

/// AWS list prices (us-east-1): PUT, COPY, POST, LIST $0.005 per 1,000; GET $0.0004 per 1,000;
/// DELETE free.
fn cost_per_hour(role: &serde_json::Value) -> f64 {
    role.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| {
                    let n = n.as_f64().unwrap_or(0.0);
                    if k.starts_with("PUT") || k.starts_with("LIST") || k.starts_with("POST") {
                        n * 0.005 / 1000.0
                    } else if k.starts_with("GET") || k.starts_with("HEAD") {
                        n * 0.0004 / 1000.0
                    } else {
                        0.0
                    }
                })
                .sum()
        })
        .unwrap_or(0.0)
}

fn main() {
    let secs = env_u64("PHAROS_BENCH_SECS", 180);
    let kills = env_u64("PHAROS_KILLS", 20) as usize;
    let s3 = S3Server::start();
    let healthy = RegionalHttp::start();
    let victim = RegionalHttp::start();
    let cfg = config(&s3, &healthy, &victim, true);
    let mut members = vec![
        Member::new(&cfg, &["run", "--region", REGIONS[0]]),
        Member::new(&cfg, &["run", "--region", REGIONS[1]]),
        Member::new(&cfg, &["probe", "--region", REGIONS[2]]),
    ];
    members[0].start();
    wait(120, "eu-west leads and publishes", || {
        members[0].said("leading: publishing") == 1 && members[0].said("published") >= 1
    });
    members[1].start();
    members[2].start();
    // Every region has checked every monitor once (a round is 60 s).
    wait(180, "a full round from every region", || {
        REGIONS
            .iter()
            .all(|r| healthy.hits(r) >= MONITORS - VICTIMS)
    });
    println!("steady: counting S3 requests for {secs} s");
    s3.requests.lock().unwrap().clear();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let counts = s3.requests.lock().unwrap().clone();
    let hourly = per_hour(&counts, t.elapsed().as_secs_f64());
    let (state_bytes, state_objects) =
        dir_size(&s3.root.path().join(s3::BUCKET).join("cluster/state"));
    let (report_bytes, _) = dir_size(&s3.root.path().join(s3::BUCKET).join("cluster/results"));
    println!(
        "requests per hour: {}",
        serde_json::to_string_pretty(&hourly).unwrap()
    );
    println!(
        "mirrored state: {state_bytes} bytes in {state_objects} objects; reports: {report_bytes} bytes for 3 regions"
    );

    let three = if phase("detect") {
        detect(
            &members[0],
            || victim.fail(&REGIONS),
            Some(&|| victim.fail(&[])),
        )
    } else {
        vec![0.0]
    };
    println!(
        "detection, 3 regions: median {:.1} s, max {:.1} s over {VICTIMS} monitors",
        median(&three),
        three.last().unwrap()
    );

    let mut to_lead = Vec::new();
    let mut to_publish = Vec::new();
    for round in 0..if phase("failover") { kills } else { 0 } {
        let l = (0..2).find(|i| members[*i].leads()).expect("a leader");
        let s = 1 - l;
        let (led, published) = (
            members[s].said("leading: publishing"),
            members[s].said("published"),
        );
        let t0 = unix_ms();
        members[l].kill();
        wait(120, "the standby leads", || {
            members[s].said("leading: publishing") > led
        });
        wait(120, "the standby publishes", || {
            members[s].said("published") > published
        });
        let lines = members[s].lines();
        let at = |what: &str, n: usize| {
            lines
                .iter()
                .filter(|x| x.0.contains(what))
                .nth(n)
                .map(|x| (x.2 - t0) as f64 / 1000.0)
                .unwrap()
        };
        to_lead.push(at("leading: publishing", led));
        to_publish.push(at("published", published));
        println!(
            "kill {}: leading after {:.1} s, published after {:.1} s",
            round + 1,
            to_lead.last().unwrap(),
            to_publish.last().unwrap()
        );
        let starts = members[l].said("cluster member started");
        members[l].start();
        wait(60, "the old leader stands by", || {
            members[l].said("cluster member started") > starts
        });
        // It reports before the next kill (and the lease has been renewed since).
        std::thread::sleep(Duration::from_secs(6));
    }
    to_lead.sort_by(|a, b| a.partial_cmp(b).unwrap());
    to_publish.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if !to_lead.is_empty() {
        println!(
            "failover over {kills} kills: leading median {:.1} s max {:.1} s; first publish median {:.1} s max {:.1} s",
            median(&to_lead),
            to_lead.last().unwrap(),
            median(&to_publish),
            to_publish.last().unwrap()
        );
    }
    drop(members);

    let mut alone = Member::new(&config(&s3, &healthy, &victim, false), &["run"]);
    let one = if phase("alone") {
        alone.start();
        wait(120, "the single daemon publishes", || {
            alone.said("published") >= 1
        });
        // A full round of checks before the failure, as for the cluster.
        std::thread::sleep(Duration::from_secs(65));
        // A single daemon names no region: the victim goes away for it (connections refused,
        // as immediate a failure as the 503 the regions get).
        detect(&alone, move || drop(victim), None)
    } else {
        vec![0.0]
    };
    println!(
        "detection, 1 region: median {:.1} s, max {:.1} s over {VICTIMS} monitors",
        median(&one),
        one.last().unwrap()
    );
    let costs: BTreeMap<String, f64> = hourly
        .as_object()
        .unwrap()
        .iter()
        .map(|(role, v)| (role.clone(), cost_per_hour(v)))
        .collect();
    println!("cost per hour at AWS list prices: {costs:?}");
    report::save(
        "cluster",
        &serde_json::json!({
            "machine": report::machine(),
            "monitors": MONITORS,
            "interval_s": 60,
            "regions": 3,
            "requests_per_hour": hourly,
            "cost_per_hour_usd": costs,
            "mirrored_state": {"bytes": state_bytes, "objects": state_objects},
            "reports_bytes": report_bytes,
            "detection_s": {"three_regions": three, "one_region": one},
            "failover_s": {"to_lead": to_lead, "to_publish": to_publish},
        }),
    );
}
