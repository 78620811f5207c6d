//! Heartbeats: silence measured in time a daemon listened, not in results, pings or restarts.

use super::*;

/// Defects 2 and 14: silence past interval + grace is the confirmed failure (not three times
/// that), and a flood of pings neither adds a result per ping nor inflates uptime.
#[test]
fn a_silent_heartbeat_is_down_after_interval_plus_grace_and_pings_do_not_count_as_uptime() {
    let (site, port) = heartbeat_site(&["backup"]);
    let log = site.path().join("daemon.log");
    let mut daemon = start_daemon(&site, &log);
    wait_until(30, "listener", || {
        ping(port, "token-backup-0123456789") == 200
    });
    let pinged = now_ms();
    wait_until(15, "down after the silence", || {
        status_of(&site, "backup") == "major_outage"
    });
    let confirmed = log_lines(&log, "confirmed")
        .into_iter()
        .find(|l| l["fields"]["monitor"] == "beat-backup" && l["fields"]["to"] == "down")
        .expect("a confirmed down");
    let at = chrono::DateTime::parse_from_rfc3339(confirmed["timestamp"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let silence = at - pinged;
    // interval + grace = 3 s; confirming with the default threshold of 3 took about 3x that.
    assert!(
        (2_900..6_000).contains(&silence),
        "confirmed down {silence} ms after the last ping (interval + grace = 3000 ms)"
    );

    // 2,000 replayed pings: a burst is accepted, then one a second; rows stay per sample.
    let before = results(&site, "beat-backup").len();
    let started = std::time::Instant::now();
    let codes: Vec<u16> = (0..2000)
        .map(|_| ping(port, "token-backup-0123456789"))
        .collect();
    let secs = started.elapsed().as_secs_f64();
    let accepted = codes.iter().filter(|c| **c == 200).count();
    let limited = codes.iter().filter(|c| **c == 429).count();
    assert_eq!(accepted + limited, 2000, "{codes:?}");
    assert!(
        (accepted as f64) <= 5.0 + secs.ceil() + 1.0,
        "{accepted} pings accepted in {secs:.1} s"
    );
    wait_until(10, "back up after a ping", || {
        status_of(&site, "backup") == "operational"
    });
    // Evidence that sampling goes on: two more samples after the flood.
    let flood_end = now_ms();
    wait_until(15, "samples after the flood", || {
        results(&site, "beat-backup")
            .iter()
            .filter(|(at, _)| *at > flood_end)
            .count()
            >= 2
    });
    let added = results(&site, "beat-backup").len() - before;
    // One sample every 2 s while it ran, the recovery, and the two samples waited for.
    let bound = (secs / 2.0).ceil() as usize + 4 + 2;
    assert!(
        added <= bound,
        "{added} results recorded for 2,000 pings in {secs:.1} s (at most {bound})"
    );
    stop_daemon(&mut daemon);
}

/// Defect 3: a restart is not a ping. A heartbeat that was down stays down, one never pinged is
/// unknown (then down), and no restart changes a confirmed state or reopens an incident.
#[test]
fn a_restart_never_counts_as_a_heartbeat_ping() {
    let (site, port) = heartbeat_site(&["backup", "nightly"]);
    let log = site.path().join("daemon.log");
    let mut daemon = start_daemon(&site, &log);
    wait_until(30, "listener", || {
        ping(port, "token-backup-0123456789") == 200
    });
    wait_until(15, "both down", || {
        status_of(&site, "backup") == "major_outage"
            && status_of(&site, "nightly") == "major_outage"
    });
    wait_until(10, "two automatic incidents", || {
        unresolved(&site).len() == 2
    });
    let incidents = incident_files(&site);
    stop_daemon(&mut daemon);

    // One-shot checks read the recorded pings.
    let out = pharos(&site, &["check", "beat-backup", "beat-nightly"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} missing:\n{text}"))
            .to_string()
    };
    assert!(
        line("beat-backup").contains("down") && line("beat-backup").contains("no ping since"),
        "{text}"
    );
    assert!(line("beat-nightly").contains("unknown"), "{text}");

    for round in 0..2 {
        let restarted = now_ms();
        let mut daemon = start_daemon(&site, &log);
        // Evidence: both sampled down again after this start (past interval + grace).
        wait_until(20, "sampled after the restart", || {
            ["beat-backup", "beat-nightly"].iter().all(|m| {
                results(&site, m)
                    .iter()
                    .any(|(at, o)| *at > restarted && o == "down")
            })
        });
        for m in ["beat-backup", "beat-nightly"] {
            let ups: Vec<_> = results(&site, m)
                .into_iter()
                .filter(|(at, o)| *at > restarted && o == "up")
                .collect();
            assert!(
                ups.is_empty(),
                "round {round}: {m} up after a restart: {ups:?}"
            );
        }
        stop_daemon(&mut daemon);
        let ups = log_lines(&log, "confirmed")
            .into_iter()
            .filter(|l| l["fields"]["to"] == "up")
            .count();
        assert_eq!(ups, 0, "round {round}: a restart confirmed a recovery");
        assert_eq!(
            incident_files(&site),
            incidents,
            "round {round}: no new incident"
        );
        assert_eq!(unresolved(&site).len(), 2, "round {round}: none resolved");
    }
}

/// Review of defect 3: restarts neither reset nor stretch a heartbeat's silence. A daemon
/// restarted every second or so (a crash loop, nightly restarts) still sees a job that
/// stopped: the silence each run listened to adds up.
#[test]
fn restarts_in_a_loop_still_see_a_silent_heartbeat() {
    let (site, port) = heartbeat_site(&["backup"]);
    let log = site.path().join("daemon.log");
    let mut daemon = start_daemon(&site, &log);
    wait_until(30, "listener", || {
        ping(port, "token-backup-0123456789") == 200
    });
    wait_until(10, "up", || status_of(&site, "backup") == "operational");
    stop_daemon(&mut daemon);
    // interval + grace = 3 s; each run listens about 1.5 s, then stops.
    let mut down_in = None;
    for run in 0..6 {
        let mut daemon = start_daemon(&site, &log);
        wait_until(30, "listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        std::thread::sleep(Duration::from_millis(1500));
        stop_daemon(&mut daemon);
        if log_lines(&log, "confirmed")
            .iter()
            .any(|l| l["fields"]["monitor"] == "beat-backup" && l["fields"]["to"] == "down")
        {
            down_in = Some(run);
            break;
        }
    }
    down_in.expect("six short runs never confirmed the silent heartbeat down");
}
