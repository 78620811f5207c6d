//! Delivery: retries with backoff, a crash between send and mark, restarts.

use super::*;

#[test]
fn a_failing_receiver_is_retried_with_backoff_and_does_not_delay_others() {
    let flaky = HttpReceiver::start();
    let steady = HttpReceiver::start();
    let hanging = HttpReceiver::start();
    flaky.fail_next(2);
    hanging.hang(Duration::from_secs(30));
    let site = TestSite::empty();
    let port = free_port();
    site.write(
        "config.yaml",
        &site_yaml(&format!(
            "notifications:
  - id: flaky
    kind: webhook
    url: {}
  - id: steady
    kind: webhook
    url: {}
  - id: hanging
    kind: webhook
    url: {}
    timeout: 1s
daemon:
  listen: 127.0.0.1:{port}
  debounce: 50ms
",
            flaky.url("/"),
            steady.url("/"),
            hanging.url("/")
        )),
    );
    let daemon = Daemon::start(&site);
    wait_until(20, "first render", || {
        site.out().join("index.html").exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let (ok, _, stderr) = run(
        site.path(),
        &[
            "incident",
            "new",
            "Slow pages",
            "--component",
            "web=degraded_performance",
            "-m",
            "Looking.",
        ],
    );
    assert!(ok, "{stderr}");
    wait_until(10, "the steady receiver", || steady.requests().len() == 1);
    let steady_after = started.elapsed();
    wait_until(20, "the flaky receiver accepts the third attempt", || {
        flaky.requests().len() == 3
    });
    let flaky_after = started.elapsed();
    wait_until(10, "the flaky channel handled everything", || {
        common::outbox_drained(&site, &["flaky"])
    });
    assert_eq!(flaky.requests().len(), 3, "not sent again once accepted");
    assert_eq!(
        keys(&flaky.requests())
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        1,
        "every attempt carries the same key"
    );
    assert!(
        flaky_after >= Duration::from_secs(3),
        "backoff of 1 s then 2 s ({flaky_after:?})"
    );
    assert!(
        steady_after < Duration::from_secs(3),
        "the others are not held up ({steady_after:?})"
    );
    // The hanging receiver's attempts time out after 1 s and are retried.
    wait_until(10, "the hanging receiver is tried again", || {
        hanging.requests().len() >= 2
    });
    daemon.stop();
    let config = Config::load(&site.config_path()).unwrap();
    let mut store = pharos::store::Store::open(&config.database_path()).unwrap();
    let state = store.channel_state("hanging").unwrap();
    assert!(state.attempts >= 2);
    assert!(
        state
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("timed out")
            || state
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("timeout"),
        "{:?}",
        state.last_error
    );
    assert_eq!(store.delivered("steady").unwrap().len(), 1);
    assert_eq!(store.delivered("flaky").unwrap().len(), 1);
    assert!(store.delivered("hanging").unwrap().is_empty());
}

#[test]
fn a_crash_between_send_and_mark_resends_with_the_same_key_and_nothing_else() {
    let hooks = HttpReceiver::start();
    let site = site_with_event(&format!(
        "  - id: hook\n    kind: webhook\n    url: {}\n",
        hooks.url("/")
    ));
    // A second event, so the crash leaves one sent-unmarked and one pending.
    let (ok, _, stderr) = run(
        site.path(),
        &[
            "incident",
            "new",
            "Second",
            "--component",
            "web=degraded_performance",
            "-m",
            "Two.",
        ],
    );
    assert!(ok, "{stderr}");
    let out = pharos(site.path())
        .args(["notify", "send"])
        .env("PHAROS_FAILPOINT", "notify-after-send")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the process died after the first send"
    );
    assert_eq!(hooks.requests().len(), 1);

    // The restart: the unmarked message again (same key), then the pending one.
    let (ok, _, stderr) = run(site.path(), &["notify", "send"]);
    assert!(ok, "{stderr}");
    let ks = keys(&hooks.requests());
    assert_eq!(ks.len(), 3);
    assert_eq!(ks[0], ks[1], "a receiver drops the duplicate by its key");
    assert_ne!(ks[1], ks[2]);
    let distinct: std::collections::HashSet<&String> = ks.iter().collect();
    assert_eq!(distinct.len(), 2, "two events, each delivered");

    // Sent ones are not repeated.
    let (ok, _, _) = run(site.path(), &["notify", "send"]);
    assert!(ok);
    assert_eq!(hooks.requests().len(), 3);
}

#[test]
fn the_daemon_delivers_what_was_pending_and_never_repeats_after_a_restart() {
    let hooks = HttpReceiver::start();
    let site = site_with_event(&format!(
        "  - id: hook\n    kind: webhook\n    url: {}\n",
        hooks.url("/")
    ));
    let port = free_port();
    let mut yaml = std::fs::read_to_string(site.config_path()).unwrap();
    yaml.push_str(&format!(
        "daemon:\n  listen: 127.0.0.1:{port}\n  debounce: 50ms\n"
    ));
    site.write("config.yaml", &yaml);
    assert!(hooks.requests().is_empty(), "recorded, not yet sent");
    let daemon = Daemon::start(&site);
    wait_until(20, "the pending event is delivered", || {
        hooks.requests().len() == 1
    });
    daemon.stop();
    let daemon = Daemon::start(&site);
    wait_until(20, "the restarted daemon renders", || {
        site.out().join("index.html").exists()
    });
    // Evidence that the restarted daemon's sender runs: a new event after the restart is
    // delivered; the one delivered before is not sent again.
    let listed: serde_json::Value =
        serde_json::from_str(&run_ok(site.path(), &["incident", "list", "--json"])).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_string();
    run_ok(site.path(), &["incident", "resolve", &id]);
    wait_until(20, "the new event is delivered", || {
        hooks.requests().len() >= 2
    });
    wait_until(10, "the outbox handled", || {
        common::outbox_drained(&site, &["hook"])
    });
    daemon.stop();
    let kinds: Vec<String> = hooks
        .requests()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["incident_opened", "incident_resolved"],
        "the first event was not sent again after the restart"
    );
}
