//! Publishing to a real S3-compatible server on loopback (s3s-fs, SigV4), as a user runs it.

use crate::common;

use common::wait_until;

use assert_cmd::Command;
use common::TestSite;
use common::s3::{S3Server, target_yaml};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NOW: &str = "2026-11-26T13:30:00Z";

fn site_with_target(server_endpoint: &str, extra: &str) -> TestSite {
    let site = TestSite::fixture("basic");
    let mut config = std::fs::read_to_string(site.config_path()).unwrap();
    config.push_str(&target_yaml(server_endpoint, extra));
    site.write("config.yaml", &config);
    site
}

/// Run `pharos publish ARGS`; returns (success, stdout, stderr).
fn publish(site: &TestSite, args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("pharos")
        .unwrap()
        .args([
            "-c",
            site.config_path().to_str().unwrap(),
            "publish",
            "--now",
            NOW,
        ])
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn manifest(site: &TestSite) -> BTreeMap<String, serde_json::Value> {
    site.manifest()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// HEAD through the S3 API: (content type, cache control).
fn head(site: &TestSite, path: &str) -> Option<(String, String)> {
    let config = site.config();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = pharos::publisher::targets(&config).await.unwrap().remove(0);
        t.head(path).await.unwrap().map(|(ct, cc, _)| (ct, cc))
    })
}

fn assert_bucket_matches_site(server: &S3Server, site: &TestSite) {
    let files = site.files();
    let keys: Vec<String> = server
        .keys()
        .into_iter()
        .filter(|k| !k.starts_with("assets/"))
        .collect();
    let expected: Vec<String> = files
        .keys()
        .filter(|k| !k.starts_with("assets/") && !k.starts_with(".pharos-manifest"))
        .cloned()
        .collect();
    assert_eq!(
        keys, expected,
        "the bucket holds exactly the rendered site (apart from kept assets)"
    );
    for (path, bytes) in files
        .iter()
        .filter(|(k, _)| !k.starts_with(".pharos-manifest"))
    {
        assert_eq!(
            server.object(path).as_deref(),
            Some(bytes.as_slice()),
            "{path} has the rendered bytes"
        );
    }
}

#[test]
fn first_publish_uploads_everything_with_headers_and_a_rerun_uploads_nothing() {
    let server = S3Server::start();
    let site = site_with_target(&server.endpoint(), "");
    let (ok, stdout, stderr) = publish(&site, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let m = manifest(&site);
    assert!(
        stdout.contains(&format!("{} uploaded, 0 deleted", m.len())),
        "{stdout}"
    );
    assert_bucket_matches_site(&server, &site);
    let (ct, cc) = head(&site, "index.html").unwrap();
    assert_eq!(
        (ct.as_str(), cc.as_str()),
        (
            "text/html; charset=utf-8",
            "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400"
        )
    );
    let css = m.keys().find(|k| k.starts_with("assets/style.")).unwrap();
    assert_eq!(
        head(&site, css).unwrap(),
        (
            "text/css; charset=utf-8".into(),
            "public, max-age=31536000, immutable".into()
        )
    );
    assert_eq!(
        head(&site, "api/v2/summary.json").unwrap().0,
        "application/json; charset=utf-8"
    );

    let (ok, stdout, _) = publish(&site, &[]);
    assert!(
        ok && stdout.contains("0 uploaded, 0 deleted"),
        "an unchanged re-render uploads nothing: {stdout}"
    );
}

#[test]
fn a_change_uploads_exactly_what_changed_and_deletes_after() {
    let server = S3Server::start();
    let site = site_with_target(&server.endpoint(), "");
    assert!(publish(&site, &[]).0);
    let before = manifest(&site);

    // Resolve the open incident and drop an old one.
    site.write(
        "content/incidents/2026-11-26-api-latency.md",
        "---\ntitle: Slow API responses in EU\ncomponents:\n  api: partial_outage\n---\n## 2026-11-26 13:10 · resolved\nFixed.\n\n## 2026-11-26 12:05 · investigating\nSlow.\n",
    );
    std::fs::remove_file(
        site.path()
            .join("content/incidents/2026-09-03-search-index.md"),
    )
    .unwrap();

    // --dry-run says what would happen and touches nothing.
    let keys_before = server.keys();
    let (ok, plan, _) = publish(&site, &["--dry-run"]);
    assert!(ok, "{plan}");
    assert_eq!(
        server.keys(),
        keys_before,
        "--dry-run changes nothing in the bucket"
    );
    assert!(
        plan.contains("DELETE incidents/2026-09-03-search-index/index.html  (no longer rendered)"),
        "{plan}"
    );

    let (ok, stdout, stderr) = publish(&site, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let after = manifest(&site);
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| {
            before
                .get(*k)
                .map(|b| b["sha256"] != v["sha256"])
                .unwrap_or(true)
        })
        .map(|(k, _)| k)
        .collect();
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let puts: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.trim().strip_prefix("PUT    "))
        .map(|l| l.split("  (").next().unwrap())
        .collect();
    let mut sorted_puts = puts.clone();
    sorted_puts.sort();
    let mut sorted_changed: Vec<&str> = changed.iter().map(|s| s.as_str()).collect();
    sorted_changed.sort();
    assert_eq!(
        sorted_puts, sorted_changed,
        "exactly the objects whose bytes changed"
    );
    assert!(
        stdout.contains(&format!(
            "{} uploaded, {} deleted",
            changed.len(),
            removed.len()
        )),
        "{stdout}"
    );
    assert!(
        !puts.contains(&"incidents/2026-11-24-website-down/index.html"),
        "untouched pages are not uploaded"
    );
    // Pages go up after data files; no asset changed here.
    let first_html = puts.iter().position(|p| p.ends_with(".html")).unwrap();
    assert!(
        puts[first_html..].iter().all(|p| p.ends_with(".html")),
        "HTML last: {puts:?}"
    );
    assert_bucket_matches_site(&server, &site);
}

#[test]
fn old_hashed_assets_stay_for_the_grace_period() {
    let server = S3Server::start();
    let site = site_with_target(&server.endpoint(), "");
    assert!(publish(&site, &[]).0);
    let old_css = manifest(&site)
        .keys()
        .find(|k| k.starts_with("assets/style."))
        .unwrap()
        .clone();
    site.write("themes/default/style.css", "body{color:navy}");
    let (ok, plan, _) = publish(&site, &["--dry-run"]);
    assert!(ok && plan.contains(&format!("KEEP   {old_css}")), "{plan}");
    assert!(publish(&site, &[]).0);
    let new_css = manifest(&site)
        .keys()
        .find(|k| k.starts_with("assets/style."))
        .unwrap()
        .clone();
    assert_ne!(old_css, new_css);
    assert!(
        server.object(&old_css).is_some(),
        "CDN-cached old pages still find their stylesheet"
    );
    assert_eq!(server.object(&new_css).unwrap(), b"body{color:navy}");
}

#[test]
fn verify_repairs_a_hand_deleted_or_edited_object() {
    let server = S3Server::start();
    let site = site_with_target(&server.endpoint(), "");
    assert!(publish(&site, &[]).0);
    server.remove("widget.json");
    server.overwrite("badge.svg", "<svg/>");
    let (ok, stdout, _) = publish(&site, &[]);
    assert!(
        ok && stdout.contains("0 uploaded"),
        "without --verify the manifest says all is there: {stdout}"
    );
    let (ok, stdout, stderr) = publish(&site, &["--verify"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("widget.json is missing or different in the bucket"),
        "{stdout}"
    );
    assert_eq!(
        server.object("widget.json").as_deref(),
        Some(site.files()["widget.json"].as_slice())
    );
    assert_eq!(
        server.object("badge.svg").as_deref(),
        Some(site.files()["badge.svg"].as_slice())
    );
}

#[test]
fn an_outage_of_the_store_converges_to_the_newest_state() {
    let mut server = S3Server::start();
    let site = site_with_target(
        &server.endpoint(),
        "      connect_timeout: 1s\n      attempt_timeout: 2s\n      operation_timeout: 5s\n",
    );
    assert!(publish(&site, &[]).0);
    server.stop();
    for i in 0..3 {
        site.write(
            &format!("content/incidents/2026-11-2{}-outage-{i}.md", 3 + i),
            &format!("---\ntitle: Change number {i}\n---\n## 2026-11-2{} 09:00 UTC · resolved\nDone {i}.\n", 3 + i),
        );
        let (ok, _, stderr) = publish(&site, &[]);
        assert!(!ok, "the store is down");
        assert!(
            stderr.contains("target \"test\"") && stderr.contains("resumes"),
            "{stderr}"
        );
    }
    server.restart();
    let (ok, stdout, stderr) = publish(&site, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    assert_bucket_matches_site(&server, &site);
    let month = String::from_utf8(server.object("history/2026-11/index.html").unwrap()).unwrap();
    for i in 0..3 {
        assert!(
            month.contains(&format!("Change number {i}")),
            "no change is lost from the history"
        );
    }
}

#[test]
fn a_store_that_accepts_and_never_answers_times_out() {
    // Accept connections, read, never answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let site = site_with_target(
        &format!("http://{addr}"),
        "      connect_timeout: 1s\n      attempt_timeout: 1s\n      operation_timeout: 3s\n",
    );
    let started = Instant::now();
    let (ok, _, stderr) = publish(&site, &[]);
    assert!(!ok);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded by the configured timeouts"
    );
    assert!(
        stderr.to_lowercase().contains("timeout") || stderr.to_lowercase().contains("timed out"),
        "{stderr}"
    );
}

fn run_daemon(
    site: &TestSite,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let config = site.config();
    let (stop, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        pharos::daemon::run(
            config,
            pharos::daemon::Options {
                stop: Some(rx),
                ..Default::default()
            },
        )
        .unwrap();
    });
    (stop, thread)
}

#[test]
fn the_daemon_publishes_each_render_and_a_restart_resumes_a_pending_publish() {
    let mut server = S3Server::start();
    server.stop();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = site_with_target(
        &server.endpoint(),
        "      connect_timeout: 1s\n      attempt_timeout: 1s\n      operation_timeout: 2s\n",
    );
    let mut config = std::fs::read_to_string(site.config_path()).unwrap();
    config.push_str(&format!(
        "daemon:\n  listen: 127.0.0.1:{port}\n  debounce: 50ms\n"
    ));
    site.write("config.yaml", &config);

    // The store is down: the site is rendered, the publish stays pending.
    let (stop, thread) = run_daemon(&site);
    wait_until(20, "first render", || {
        site.out().join("index.html").exists()
    });
    // Evidence: the publisher tried and recorded the failure.
    wait_until(20, "a failed attempt recorded", || {
        common::db(&site)
            .query_row(
                "SELECT attempts FROM publish_state WHERE target = 'test'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .is_ok_and(|n| n >= 1)
    });
    let _ = stop.send(());
    thread.join().unwrap();
    assert!(server.keys().is_empty());

    // Back up, and a restart publishes what was pending.
    server.restart();
    let (stop, thread) = run_daemon(&site);
    wait_until(30, "published after the restart", || {
        server.object("index.html").is_some()
    });
    wait_until(30, "the bucket matches the site", || {
        site.files()
            .iter()
            .filter(|(k, _)| !k.starts_with(".pharos-manifest"))
            .all(|(k, v)| server.object(k).as_deref() == Some(v.as_slice()))
    });

    // An edit is rendered and published by itself.
    site.write(
        "content/incidents/2026-11-26-new.md",
        "---\ntitle: Published by the daemon\n---\n## 2026-11-26 10:00 UTC · resolved\nDone.\n",
    );
    wait_until(30, "the edit reaches the bucket", || {
        server
            .object("incidents/2026-11-26-new/index.html")
            .is_some_and(|b| String::from_utf8_lossy(&b).contains("Published by the daemon"))
    });
    let _ = stop.send(());
    thread.join().unwrap();
}
