//! Each monitor kind against a real server on loopback.

use crate::common;

use common::servers::{HttpTarget, TestPki, dns_server, tls_server};
use pharos::config::Config;
use pharos::monitor::{self, CheckResult, Checker, Outcome};
use std::path::Path;
use std::time::Duration;

/// Compile one monitor from YAML (the way the config gives it) and check it once.
fn check_yaml(monitor_yaml: &str, dir: &Path) -> CheckResult {
    let text = format!(
        "site:\n  title: T\n  base_url: https://t.test\ncomponents:\n  - id: svc\n    name: Service\nmonitors:\n  - id: m\n    component: svc\n{monitor_yaml}"
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    let m = monitor::compile(&config).remove(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        Checker::new(chrono::Utc::now())
            .check(&m, chrono::Utc::now())
            .await
    })
}

fn outcome(r: &CheckResult) -> (Outcome, String) {
    (r.outcome, r.reason.clone().unwrap_or_default())
}

#[test]
fn http_monitor_judges_status_body_latency_and_connection() {
    let dir = tempfile::tempdir().unwrap();
    let target = HttpTarget::start();
    let m = |extra: &str| {
        format!(
            "    kind: http\n    url: {}\n    timeout: 2s\n{extra}",
            target.url("/health")
        )
    };

    assert_eq!(outcome(&check_yaml(&m(""), dir.path())).0, Outcome::Up);

    target.set(|a| a.status = 500);
    let (o, why) = outcome(&check_yaml(&m(""), dir.path()));
    assert_eq!(
        (o, why.as_str()),
        (Outcome::Down, "status 500 (expected 200-299)")
    );
    assert_eq!(
        check_yaml(&m("    expected_status: [\"5xx\"]\n"), dir.path()).outcome,
        Outcome::Up
    );

    target.set(|a| {
        a.status = 200;
        a.body = r#"{"status":"degraded","data":{"db":"UP"}}"#.into();
    });
    let (o, why) = outcome(&check_yaml(
        &m("    conditions:\n      - $.status == \"ok\"\n"),
        dir.path(),
    ));
    assert_eq!(o, Outcome::Down);
    assert!(
        why.contains("condition `$.status == \"ok\"` failed (left side was \"degraded\")"),
        "{why}"
    );
    assert_eq!(
        check_yaml(
            &m("    conditions:\n      - body.data.db == UP\n      - body contains \"db\"\n"),
            dir.path()
        )
        .outcome,
        Outcome::Up
    );

    target.set(|a| a.delay = Duration::from_millis(300));
    let (o, why) = outcome(&check_yaml(&m("    degraded_above: 100ms\n"), dir.path()));
    assert_eq!(o, Outcome::Degraded, "{why}");
    let (o, why) = outcome(&check_yaml(
        &format!(
            "    kind: http\n    url: {}\n    timeout: 100ms\n    interval: 1s\n",
            target.url("/")
        ),
        dir.path(),
    ));
    assert_eq!(o, Outcome::Down);
    assert!(why.contains("timed out"), "{why}");

    target.set(|a| {
        a.delay = Duration::ZERO;
        a.drop = true;
    });
    assert_eq!(
        check_yaml(&m(""), dir.path()).outcome,
        Outcome::Down,
        "a dropped connection is down"
    );

    target.set(|a| {
        a.drop = false;
        a.status = 302;
        a.location = Some("/elsewhere".into());
    });
    assert_eq!(
        check_yaml(
            &m("    follow_redirects: false\n    expected_status: [\"302\"]\n"),
            dir.path()
        )
        .outcome,
        Outcome::Up
    );

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (o, why) = outcome(&check_yaml(
        &format!("    kind: http\n    url: http://{closed}/\n"),
        dir.path(),
    ));
    assert_eq!(o, Outcome::Down);
    assert!(why.contains("cannot connect"), "{why}");
}

#[test]
fn tcp_monitor_connects_and_expects_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let target = HttpTarget::start();
    let base = format!(
        "    kind: tcp\n    host: 127.0.0.1\n    port: {}\n",
        target.addr.port()
    );
    assert_eq!(check_yaml(&base, dir.path()).outcome, Outcome::Up);
    let with_expect =
        format!("{base}    send: \"GET / HTTP/1.0\\r\\n\\r\\n\"\n    expect: \"HTTP/1.1 200\"\n");
    assert_eq!(check_yaml(&with_expect, dir.path()).outcome, Outcome::Up);
    let wrong =
        format!("{base}    send: \"GET / HTTP/1.0\\r\\n\\r\\n\"\n    expect: \"SSH-2.0\"\n");
    assert_eq!(check_yaml(&wrong, dir.path()).outcome, Outcome::Down);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(
        check_yaml(
            &format!("    kind: tcp\n    host: 127.0.0.1\n    port: {closed}\n"),
            dir.path()
        )
        .outcome,
        Outcome::Down
    );
}

#[test]
fn dns_monitor_reads_rcode_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = dns_server();
    let m = |name: &str, extra: &str| {
        format!(
            "    kind: dns\n    name: {name}\n    resolvers: [\"{server}\"]\n    timeout: 2s\n{extra}"
        )
    };
    let r = check_yaml(
        &m(
            "ok.test",
            "    conditions:\n      - dns_answer contains \"10.0.0.2\"\n",
        ),
        dir.path(),
    );
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.reason);
    let (o, why) = outcome(&check_yaml(&m("missing.test", ""), dir.path()));
    assert_eq!(o, Outcome::Down);
    assert!(why.starts_with("NXDOMAIN with 0 answers"), "{why}");
    assert_eq!(
        check_yaml(
            &m(
                "missing.test",
                "    conditions:\n      - dns_rcode == NXDOMAIN\n"
            ),
            dir.path()
        )
        .outcome,
        Outcome::Up
    );
    // A resolver that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = check_yaml(
        &format!(
            "    kind: dns\n    name: ok.test\n    resolvers: [\"{}\"]\n    timeout: 300ms\n    interval: 1s\n",
            silent.local_addr().unwrap()
        ),
        dir.path(),
    );
    assert_eq!(r.outcome, Outcome::Down);
    assert!(r.reason.unwrap().contains("no answer within 300 ms"));
}

#[test]
fn tls_monitor_judges_expiry_trust_and_host() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let m = |addr: std::net::SocketAddr, host: &str| {
        format!(
            "    kind: tls\n    host: {host}\n    port: {}\n    ca_file: ca.pem\n    timeout: 2s\n",
            addr.port()
        )
    };
    let (c, k) = pki.leaf("localhost", 90);
    let r = check_yaml(&m(tls_server(c, k), "localhost"), dir.path());
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.reason);

    let (c, k) = pki.leaf("localhost", 5);
    let (o, why) = outcome(&check_yaml(&m(tls_server(c, k), "localhost"), dir.path()));
    assert_eq!(o, Outcome::Degraded);
    assert!(why.contains("expires in"), "{why}");

    let (c, k) = pki.leaf("localhost", -2);
    let (o, why) = outcome(&check_yaml(&m(tls_server(c, k), "localhost"), dir.path()));
    assert_eq!(o, Outcome::Down);
    assert!(
        why.contains("invalid certificate") && why.to_lowercase().contains("expired"),
        "{why}"
    );

    let (c, k) = pki.leaf("other.test", 90);
    let (o, why) = outcome(&check_yaml(&m(tls_server(c, k), "localhost"), dir.path()));
    assert_eq!(o, Outcome::Down);
    assert!(why.contains("invalid certificate"), "{why}");

    // HTTPS: untrusted by the system, fine with the private CA or with verification off.
    let (c, k) = pki.leaf("localhost", 90);
    let addr = tls_server(c, k);
    let https = |extra: &str| {
        format!(
            "    kind: http\n    url: https://localhost:{}/\n    expected_status: [\"100-599\"]\n{extra}",
            addr.port()
        )
    };
    let (o, why) = outcome(&check_yaml(&https(""), dir.path()));
    assert_eq!(o, Outcome::Down, "an unknown CA is not trusted");
    assert!(
        why.contains("request failed") || why.contains("cannot connect"),
        "{why}"
    );
    let r = check_yaml(&https("    verify_tls: false\n"), dir.path());
    assert_eq!(
        r.outcome,
        Outcome::Up,
        "verify_tls: false accepts it: {:?}",
        r.reason
    );
    let r = check_yaml(
        &https("    ca_file: ca.pem\n    conditions:\n      - body == \"ok\"\n"),
        dir.path(),
    );
    assert_eq!(
        r.outcome,
        Outcome::Up,
        "trusted through ca_file: {:?}",
        r.reason
    );

    // A TLS monitor given a URL trusts the same private CA through ca_file.
    let (c, k) = pki.leaf("localhost", 90);
    let addr = tls_server(c, k);
    let r = check_yaml(
        &format!(
            "    kind: tls\n    url: https://localhost:{}/\n    ca_file: ca.pem\n    conditions:\n      - cert_expiry > 30d\n",
            addr.port()
        ),
        dir.path(),
    );
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.reason);
}

/// A raw HTTP server that answers every connection with `head`, then feeds the body with
/// `feed` (called with a writer until it returns false or the client goes away). Returns its
/// address and how many body bytes it managed to send.
fn raw_server(
    head: &'static str,
    feed: fn(&mut std::net::TcpStream) -> std::io::Result<bool>,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let before = std::time::Instant::now();
                while before.elapsed() < Duration::from_secs(60) {
                    match feed(&mut s) {
                        Ok(true) => {}
                        _ => break,
                    }
                    counter.store(
                        counter.load(std::sync::atomic::Ordering::Relaxed) + 1,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
            });
        }
    });
    (addr, sent)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A target that sends a 1 GiB body is cut off after the body limit (1 MiB) without memory
/// growth, and one that trickles a byte a second is cut off at the monitor's timeout.
#[test]
fn oversized_and_slow_targets_are_cut_off() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // 64 KiB chunks of a body announced as 1 GiB.
    let (huge, chunks) = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1073741824\r\n\r\n",
        |s| s.write_all(&[b'x'; 65536]).map(|_| true),
    );
    let before = rss_kb();
    let started = std::time::Instant::now();
    let r = check_yaml(
        &format!(
            "    kind: http\n    url: http://{huge}/\n    interval: 30s\n    timeout: 10s\n    conditions: ['body contains \"never\"']\n"
        ),
        dir.path(),
    );
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let sent_mib = chunks.load(std::sync::atomic::Ordering::Relaxed) * 64 / 1024;
    assert_eq!(r.outcome, Outcome::Down, "{r:?}");
    assert!(
        took < Duration::from_secs(5),
        "cut off promptly, took {took:?}"
    );
    // The client stopped reading at the limit: the server could push little more than that
    // (socket buffers), nowhere near the gigabyte.
    assert!(sent_mib < 64, "{sent_mib} MiB were sent before the cut-off");
    let grew_mb = rss_kb().saturating_sub(before) / 1024;
    assert!(grew_mb < 64, "memory grew by {grew_mb} MB");

    // Headers, then one byte a second: the timeout ends it.
    let (slow, _) = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n",
        |s| {
            s.write_all(b"x")?;
            std::thread::sleep(Duration::from_secs(1));
            Ok(true)
        },
    );
    let started = std::time::Instant::now();
    let r = check_yaml(
        &format!("    kind: http\n    url: http://{slow}/\n    interval: 30s\n    timeout: 2s\n"),
        dir.path(),
    );
    let took = started.elapsed();
    assert_eq!(r.outcome, Outcome::Down, "{r:?}");
    assert!(
        r.reason.as_deref().unwrap_or("").contains("timed out"),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "cut off at the timeout, took {took:?}"
    );
}
