//! `cargo bench --bench subscribe`: the subscription figures issue 18 asks for, measured with
//! the release daemon (`pharos run`) against a loopback S3 server (s3s-fs, SigV4 over HTTP) as
//! site bucket and inbox, and an SMTP sink on loopback. Figures only.
//!
//! - request to confirmation: an object put in the inbox (what a form post makes) to the
//!   confirmation email at the sink, with `poll: 1s` and the default `poll: 10s`;
//! - incident to email: `pharos incident new` to the first and to the last of 1,000
//!   subscribers' emails (`rate: 100`, `connections: 8`; the default `rate: 20` takes 50 s);
//! - junk: 10,000 malformed inbox objects keyed like addresses (each must be read), the time
//!   until the inbox is empty and the daemon's peak resident memory (VmHWM).

#[path = "../tests/it/common/receivers.rs"]
mod receivers;
#[path = "common/report.rs"]
mod report;
#[path = "../tests/it/common/s3.rs"]
mod s3;

use receivers::SmtpSink;
use s3::S3Server;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INBOX: &str = "inbox";

fn config(s3: &S3Server, smtp: &SmtpSink, extra: &str) -> String {
    let e = s3.endpoint();
    format!(
        "site:\n  title: Bench\n  base_url: https://status.bench.test\n  time_zone: UTC\ncomponents:\n  - id: api\n    name: API\n  - id: web\n    name: Web\n{}\nsubscriptions:\n  inbox:\n    bucket: {INBOX}\n    endpoint: {e}\n    path_style: true\n    region: us-east-1\n    access_key_id: {k}\n    secret_access_key: {s}\n  post_access_key_id: {k}\n  post_secret_access_key: {s}\n  smtp_host: 127.0.0.1\n  smtp_port: {}\n  smtp_tls: none\n  from: status@bench.test\n{extra}daemon:\n  listen: 127.0.0.1:0\n  debounce: 50ms\n",
        s3::target_yaml(&e, ""),
        smtp.addr.port(),
        k = s3::KEY,
        s = s3::SECRET,
    )
}

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(yaml: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), yaml).unwrap();
        Site { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn pharos(&self, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fn run(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_pharos"))
            .args(["--log-format", "json", "run"])
            .current_dir(self.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path().join("daemon.log")).unwrap())
            .spawn()
            .unwrap()
    }
}

fn stop(mut c: Child) {
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let _ = c.wait();
}

fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out waiting for {what}");
}

fn inbox(s3: &S3Server) -> PathBuf {
    s3.root.path().join(INBOX)
}

fn inbox_len(s3: &S3Server) -> usize {
    std::fs::read_dir(inbox(s3))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".bucket-"))
        .count()
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Put a request into the inbox and time it to its confirmation email.
fn confirmation(poll: &str, rounds: usize) -> Vec<f64> {
    let s3 = S3Server::start();
    let smtp = SmtpSink::start();
    std::fs::create_dir_all(inbox(&s3)).unwrap();
    let site = Site::new(&config(&s3, &smtp, &format!("  poll: {poll}\n")));
    let d = site.run();
    until(60, "the first site", || s3.object("index.html").is_some());
    let mut out = Vec::new();
    for i in 0..rounds {
        // Posts land at any moment of the poll cycle.
        std::thread::sleep(Duration::from_millis(737 * i as u64 % 3000));
        let address = format!("visitor{i}@example.com");
        let start = Instant::now();
        std::fs::write(inbox(&s3).join(&address), "subscribe").unwrap();
        let at = until(60, "the confirmation", || {
            smtp.mails()
                .iter()
                .any(|m| m.to.iter().any(|t| t.contains(&address)))
        });
        out.push((at - start).as_secs_f64());
    }
    stop(d);
    out
}

fn fan_out(n: usize) -> (f64, f64) {
    let s3 = S3Server::start();
    let smtp = SmtpSink::start();
    std::fs::create_dir_all(inbox(&s3)).unwrap();
    let site = Site::new(&config(&s3, &smtp, "  rate: 100\n  connections: 8\n"));
    let cfg = pharos::config::Config::load(&site.path().join("config.yaml")).unwrap();
    {
        let mut store = pharos::store::Store::open(&cfg.database_path()).unwrap();
        for i in 0..n {
            store
                .subscriber_add(
                    &format!("sub{i}@example.com"),
                    &[],
                    true,
                    "bench",
                    cfg.subscriptions().unwrap(),
                    chrono::Utc::now(),
                )
                .unwrap();
        }
    }
    let d = site.run();
    until(60, "the first site", || s3.object("index.html").is_some());
    std::thread::sleep(Duration::from_secs(1));
    let start = Instant::now();
    site.pharos(&[
        "incident",
        "new",
        "Bench outage",
        "--component",
        "api=major_outage",
        "-m",
        "Looking.",
    ]);
    let first = until(60, "the first email", || !smtp.mails().is_empty());
    let all = until(600, "every email", || smtp.mails().len() >= n);
    stop(d);
    ((first - start).as_secs_f64(), (all - start).as_secs_f64())
}

fn junk(n: usize) -> (f64, u64) {
    let s3 = S3Server::start();
    let smtp = SmtpSink::start();
    std::fs::create_dir_all(inbox(&s3)).unwrap();
    for i in 0..n {
        // Keys that look like addresses: each must be read (the worst case for the daemon).
        std::fs::write(
            inbox(&s3).join(format!("junk-{i:05}@example.com")),
            "not a request",
        )
        .unwrap();
    }
    let site = Site::new(&config(&s3, &smtp, "  poll: 1s\n"));
    let start = Instant::now();
    let d = site.run();
    let pid = d.id();
    let mut peak = 0;
    let done = until(900, "the inbox emptied", || {
        peak = peak.max(peak_rss_kb(pid));
        inbox_len(&s3) == 0
    });
    peak = peak.max(peak_rss_kb(pid));
    assert!(smtp.mails().is_empty());
    stop(d);
    ((done - start).as_secs_f64(), peak)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var("PHAROS_SUBSCRIBE_ONLY").as_deref() == Ok("junk") {
        let (secs, kb) = junk(10_000);
        println!(
            "10,000 junk inbox objects: emptied in {secs:.1} s, daemon peak RSS {:.1} MB",
            kb as f64 / 1024.0
        );
        return;
    }
    let fast = confirmation("1s", 7);
    println!(
        "request to confirmation email, poll 1s: median {:.2} s, max {:.2} s",
        median(fast.clone()),
        fast.iter().cloned().fold(0.0, f64::max)
    );
    let default = confirmation("10s", 5);
    println!(
        "request to confirmation email, poll 10s: median {:.2} s, max {:.2} s",
        median(default.clone()),
        default.iter().cloned().fold(0.0, f64::max)
    );
    let (first, all) = fan_out(1000);
    println!(
        "incident to email: first of 1,000 subscribers {first:.2} s, all 1,000 {all:.2} s (rate 100/s, 8 connections)"
    );
    let (secs, kb) = junk(10_000);
    println!(
        "10,000 junk inbox objects: emptied in {secs:.1} s, daemon peak RSS {:.1} MB",
        kb as f64 / 1024.0
    );
    report::save(
        "subscribe",
        &serde_json::json!({
            "machine": report::machine(),
            "confirmation_poll_1s_median_s": median(fast),
            "confirmation_poll_10s_median_s": median(default),
            "incident_first_of_1000_s": first,
            "incident_all_1000_s": all,
            "junk_10000_s": secs,
            "junk_10000_peak_rss_kb": kb,
        }),
    );
}
