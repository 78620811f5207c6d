//! The daemon's lifecycle: stop signals, reloads, one daemon per site, ports, isolated targets,
//! secrets in peers' answers.

use super::*;
use common::receivers::HttpReceiver;
use common::s3::S3Server;
use common::{db, free_port};

/// `cp new.yaml config.yaml && systemctl restart pharos`: the SIGTERM that follows a config
/// edit within milliseconds stops the daemon at once, every time.
#[test]
fn a_stop_signal_right_after_a_config_edit_stops_the_daemon() {
    let site = site("");
    let log = site.path().join("daemon.log");
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    for round in 0..3 {
        let mut d = running(&site, &log);
        std::fs::write(site.config_path(), &config).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let sent = Instant::now();
        sigterm(&d);
        let status = exited(&mut d, Duration::from_secs(3));
        assert!(
            status.is_some(),
            "round {round}: still running 3 s after SIGTERM"
        );
        assert!(
            sent.elapsed() < Duration::from_millis(1500),
            "round {round}: stopped only after {:?}",
            sent.elapsed()
        );
    }
    assert_eq!(logged(&log, "stopped"), 3);
}

/// A changed `daemon.listen` moves the listener; a changed `content_dir` is watched; a field
/// that takes a restart (`store.path`) refuses the reload and says which.
#[test]
fn a_reload_applies_every_field_or_names_the_one_needing_a_restart() {
    let (a, b) = (free_port(), free_port());
    let site = site(&heartbeat(a));
    let log = site.path().join("daemon.log");
    let _d = running(&site, &log);
    common::wait_until(30, "a ping on the first port", || ping(a));

    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write(
        "config.yaml",
        &config.replace(&format!("127.0.0.1:{a}"), &format!("127.0.0.1:{b}")),
    );
    common::wait_until(30, "a ping on the new port", || ping(b));
    assert!(
        request(a, "POST", &format!("/heartbeat/{TOKEN}")).is_err(),
        "the old port is let go"
    );
    wait_logged(&log, "config reloaded", 1, 10);

    // Another content folder: an incident written there is published.
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write("config.yaml", &format!("content_dir: elsewhere\n{config}"));
    wait_logged(&log, "config reloaded", 2, 30);
    site.write(
        "elsewhere/incidents/moved-folder.md",
        "---\ntitle: Written in the new folder\ncomponents:\n  api: degraded_performance\n---\n\n## 2026-11-30 10:00 UTC · investigating\n\nLooking.\n",
    );
    common::wait_until(30, "the incident from the new folder", || {
        site.out()
            .join("incidents/moved-folder/index.html")
            .exists()
    });

    // The store cannot move under a running daemon: refused, with the field's name.
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write(
        "config.yaml",
        &format!("store:\n  path: other.db\n{config}"),
    );
    wait_logged(&log, "store.path changed, which takes a restart", 1, 30);
    assert_eq!(logged(&log, "config reloaded"), 2, "no reload was claimed");
    assert!(ping(b), "the running config stays");
}

/// Two daemons on one site would share streaks (halving every threshold): the second refuses
/// to start and names the first one's pid.
#[test]
fn a_second_daemon_on_a_site_refuses_and_names_the_first() {
    let site = site("");
    let log = site.path().join("daemon.log");
    let first = running(&site, &log);
    let mut second = start_daemon(&site, &site.path().join("second.log"));
    let status = exited(&mut second, Duration::from_secs(20)).expect("the second daemon exits");
    assert!(!status.success());
    let said = std::fs::read_to_string(site.path().join("second.log")).unwrap();
    assert!(
        said.contains(&format!("pid {}", first.id())),
        "names the holder: {said}"
    );
    assert!(said.contains("pharos.db.lock"), "{said}");
    drop(first);
    // Once the first is gone, the site is free again.
    let _third = running(&site, &site.path().join("third.log"));
}

/// With no heartbeat monitor, no port is taken (a busy port is no reason not to start); with
/// one, a busy port is an error that names `daemon.listen`.
#[test]
fn the_heartbeat_port_is_bound_only_for_heartbeats_and_named_when_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let plain = site(&format!("daemon:\n  listen: 127.0.0.1:{port}\n"));
    let log = plain.path().join("daemon.log");
    let mut d = running(&plain, &log);
    wait_logged(&log, "site written", 1, 30);
    assert!(d.try_wait().unwrap().is_none(), "runs without heartbeats");
    assert_eq!(logged(&log, "heartbeat listener ready"), 0);

    let beats = site(&heartbeat(port));
    let log = beats.path().join("daemon.log");
    let mut d = start_daemon(&beats, &log);
    let status = exited(&mut d, Duration::from_secs(20)).expect("exits");
    assert!(!status.success());
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("daemon.listen"), "{said}");
    assert!(said.contains(&port.to_string()), "{said}");
}

/// A target that accepts connections and never answers does not hold up a healthy one.
#[test]
fn a_hung_target_does_not_delay_a_healthy_one() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr = hung.local_addr().unwrap();
    // Accept and hold every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hung.incoming() {
            held.push(s);
        }
    });
    let s3 = S3Server::start();
    let healthy = common::s3::target_yaml(&s3.endpoint(), "");
    let stuck = format!(
        "    - name: stuck\n      kind: s3\n      bucket: b\n      endpoint: http://{hung_addr}\n      path_style: true\n      region: us-east-1\n      access_key_id: k\n      secret_access_key: s\n      attempt_timeout: 60s\n      operation_timeout: 60s\n"
    );
    // The hung target comes first, as a primary would.
    let targets = healthy.replacen("  targets:\n", &format!("  targets:\n{stuck}"), 1);
    let site = site(&targets);
    let log = site.path().join("daemon.log");
    let started = Instant::now();
    let _d = running(&site, &log);
    common::wait_until(20, "the healthy target has the site", || {
        s3.object("index.html").is_some()
    });
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A receiver whose error page echoes the URL it was sent to: the secret in the URL's path
/// reaches neither the log nor the stored error.
#[test]
fn a_secret_echoed_by_a_receiver_is_taken_out_before_it_is_logged_or_stored() {
    let receiver = HttpReceiver::start();
    receiver.echo_not_found();
    let secret = "T0SECRET/B0SECRET/xoxSlackPathSecret42";
    let url = receiver.url(&format!("/services/{secret}"));
    let site = site(&format!(
        "notifications:\n  - id: slack\n    kind: slack\n    url: {url}\n"
    ));
    let log = site.path().join("daemon.log");
    let _d = running(&site, &log);
    site.write(
        "content/incidents/echo.md",
        &format!(
            "---\ntitle: Echo\ncomponents:\n  api: major_outage\n---\n\n## {} UTC · investigating\n\nDown.\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M")
        ),
    );
    common::wait_until(60, "the receiver was asked and the error stored", || {
        !receiver.requests().is_empty()
            && db(&site)
                .query_row(
                    "SELECT last_error FROM notify_channels WHERE channel = 'slack'",
                    [],
                    |r| r.get::<_, Option<String>>(0),
                )
                .ok()
                .flatten()
                .is_some_and(|e| e.contains("404"))
    });
    let stored: String = db(&site)
        .query_row(
            "SELECT last_error FROM notify_channels WHERE channel = 'slack'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.contains("[redacted]"), "{stored}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("404"), "the failure is logged");
    for piece in ["xoxSlackPathSecret42", "T0SECRET", "B0SECRET"] {
        assert!(!stored.contains(piece), "stored: {stored}");
        assert!(!logged.contains(piece), "logged: {piece}");
    }
}
