//! Secret canaries: unique tokens in monitor URLs (query, path, basic auth, host names), headers,
//! bodies, TCP payloads, DNS names, heartbeat tokens, notification URLs, secrets and headers, S3
//! credentials and environment variables. The daemon runs with every kind of failure (DNS, TLS,
//! connect, HTTP status, timeout), notifies, and publishes to a folder and to S3. Then every
//! published file, every S3 object, the whole log and every notification payload is searched:
//! no token may appear in any of them, in clear or in the encodings a leak would take.

use crate::common;
use crate::common::receivers;

use base64::Engine;
use common::{TestSite, free_port, s3::S3Server, servers, wait_until};
use receivers::HttpReceiver;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every canary shares this marker (case-insensitive search), with a distinct suffix each.
const MARK: &str = "sekrit";

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Where a canary shows up in `bytes`, if anywhere: in clear (any case), base64 (basic auth)
/// or percent-encoded.
fn leak(bytes: &[u8], basic: &str) -> Option<String> {
    let text = String::from_utf8_lossy(bytes).to_lowercase();
    if let Some(at) = text.find(MARK) {
        let from = text[..at]
            .char_indices()
            .rev()
            .nth(60)
            .map_or(0, |(i, _)| i);
        return Some(text[from..(at + 40).min(text.len())].to_string());
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(basic);
    String::from_utf8_lossy(bytes)
        .contains(&b64)
        .then(|| format!("base64 of the basic-auth pair ({b64})"))
}

#[test]
fn no_secret_reaches_a_page_an_object_a_log_or_a_payload() {
    let site = TestSite::empty();
    let s3 = S3Server::start();
    let receiver = HttpReceiver::start();
    let target = servers::HttpTarget::start();
    target.set(|a| a.status = 503);
    let slow = servers::HttpTarget::start();
    slow.set(|a| a.delay = Duration::from_secs(30));
    let pki = servers::TestPki::new();
    let (cert, key) = pki.leaf("other.test", 30);
    let tls = servers::tls_server(cert, key);
    let closed = free_port();
    let basic = "user-sekrit-basic:pass-sekrit-basic";
    let config = format!(
        r#"site:
  title: Canary status
  base_url: https://status.canary.test
daemon:
  listen: 127.0.0.1:{listen}
  debounce: 50ms
components:
  - {{id: c-dns, name: DNS failure}}
  - {{id: c-conn, name: Connect failure}}
  - {{id: c-tls, name: TLS failure}}
  - {{id: c-http, name: HTTP failure}}
  - {{id: c-timeout, name: Timeout}}
  - {{id: c-tcp, name: TCP failure}}
  - {{id: c-dnsrec, name: DNS record failure}}
  - {{id: c-cert, name: Certificate failure}}
  - {{id: c-beat, name: Heartbeat}}
monitors:
  - id: m-dns
    component: c-dns
    kind: http
    url: "http://{basic}@host-sekrit-dns.invalid/path-sekrit-dns?token=query-sekrit-dns"
    headers: {{Authorization: "Bearer ${{PHAROS_TEST_ENV_SECRET}}"}}
    interval: 2s
    timeout: 1s
    failure_threshold: 1
  - id: m-conn
    component: c-conn
    kind: http
    url: "http://127.0.0.1:{closed}/path-sekrit-conn?token=query-sekrit-conn"
    headers: {{X-Api-Key: header-sekrit-conn}}
    interval: 2s
    timeout: 1s
    failure_threshold: 1
  - id: m-tls
    component: c-tls
    kind: http
    url: "https://{basic}@{tls}/path-sekrit-tls?token=query-sekrit-tls"
    interval: 2s
    timeout: 1s
    failure_threshold: 1
  - id: m-http
    component: c-http
    kind: http
    method: POST
    url: "{target}/path-sekrit-http?token=query-sekrit-http"
    body: "body-sekrit-http"
    headers: {{Cookie: "session=cookie-sekrit-http"}}
    interval: 2s
    timeout: 1s
    failure_threshold: 1
  - id: m-timeout
    component: c-timeout
    kind: http
    url: "{slow}/path-sekrit-timeout?token=query-sekrit-timeout"
    interval: 2s
    timeout: 500ms
    failure_threshold: 1
  - id: m-tcp
    component: c-tcp
    kind: tcp
    host: 127.0.0.1
    port: {closed}
    send: "AUTH send-sekrit-tcp"
    interval: 2s
    timeout: 1s
    failure_threshold: 1
  - id: m-dnsrec
    component: c-dnsrec
    kind: dns
    name: name-sekrit-dnsrec.invalid
    resolvers: ["127.0.0.1:{closed}"]
    interval: 2s
    timeout: 1s
    failure_threshold: 1
  - id: m-cert
    component: c-cert
    kind: tls
    host: 127.0.0.1
    port: {tls_port}
    interval: 2s
    timeout: 1s
    failure_threshold: 1
  - id: m-beat
    component: c-beat
    kind: heartbeat
    token: beat-sekrit-token
    interval: 1s
    grace: 1s
    timeout: 1s
notifications:
  - id: hook
    kind: webhook
    url: "{hook}"
    secret: "${{PHAROS_TEST_WEBHOOK_SECRET}}"
    headers: {{X-Token: header-sekrit-webhook}}
  - id: chat
    kind: slack
    url: "{slack}"
{s3}"#,
        listen = free_port(),
        tls = tls,
        tls_port = tls.port(),
        target = target.url(""),
        slow = slow.url(""),
        hook = receiver.url("/hook/path-sekrit-webhook?token=query-sekrit-webhook"),
        slack = receiver.url("/services/path-sekrit-slack"),
        s3 = common::s3::target_yaml(&s3.endpoint(), ""),
    );
    site.write("config.yaml", &config);
    let log_path = site.path().join("daemon.log");
    let mut daemon = Command::new(assert_cmd::cargo::cargo_bin("pharos"))
        .args(["--log-format", "json", "run"])
        .current_dir(site.path())
        .env_remove("PHAROS_CONFIG")
        .env("PHAROS_TEST_ENV_SECRET", "env-sekrit-header")
        .env("PHAROS_TEST_WEBHOOK_SECRET", "env-sekrit-webhook")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let summary = site.out().join("api/v2/summary.json");
    let all_down = || {
        let Ok(text) = std::fs::read_to_string(&summary) else {
            return false;
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["components"]
            .as_array()
            .is_some_and(|c| c.len() == 9 && c.iter().all(|c| c["status"] != "operational"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !all_down() {
        if std::time::Instant::now() > deadline {
            let _ = daemon.kill();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            panic!(
                "not every component down: {}\n{}",
                std::fs::read_to_string(&summary).unwrap_or_default(),
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_until(20, "the webhook and the chat were told", || {
        let r = receiver.requests();
        r.iter().any(|r| r.path.starts_with("/hook"))
            && r.iter().any(|r| r.path.starts_with("/services"))
    });
    wait_until(20, "the site is in the bucket", || {
        s3.keys().iter().any(|k| k.ends_with("index.html"))
    });
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();

    let mut leaks = Vec::new();
    for (path, bytes) in files_under(&site.out()) {
        if let Some(l) = leak(&bytes, basic) {
            leaks.push(format!("published {path}: {l}"));
        }
    }
    let keys = s3.keys();
    assert!(keys.len() > 10, "{} objects", keys.len());
    for key in keys {
        if let Some(l) = leak(key.as_bytes(), basic) {
            leaks.push(format!("S3 key {key}: {l}"));
        }
        if let Some(l) = leak(&s3.object(&key).unwrap_or_default(), basic) {
            leaks.push(format!("S3 object {key}: {l}"));
        }
    }
    let log = std::fs::read(&log_path).unwrap();
    assert!(log.len() > 1000, "the daemon logged (debug)");
    for line in String::from_utf8_lossy(&log).lines() {
        if let Some(l) = leak(line.as_bytes(), basic) {
            leaks.push(format!("log: {l}"));
        }
    }
    for r in receiver.requests() {
        if let Some(l) = leak(&r.body, basic) {
            leaks.push(format!(
                "payload to {}: {l}",
                r.path.split('/').nth(1).unwrap_or("")
            ));
        }
        // The signature is made with the secret; the secret itself never travels.
        for (name, value) in &r.headers {
            if name != "x-token"
                && let Some(l) = leak(value.as_bytes(), basic)
            {
                leaks.push(format!(
                    "header {name} to {}: {l}",
                    r.path.split('/').nth(1).unwrap_or("")
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
