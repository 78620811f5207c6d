//! The page never lies: what admins type, restarts, a busy store and half-saved files must not
//! hide an outage, fake a recovery or leave a stale incident open. Each test runs the release
//! path a user runs: `pharos run` as a child process against real servers on loopback, the CLI
//! as a binary, the published folder read as a visitor's client would.

use crate::common;
use crate::common::receivers;

use common::servers::HttpTarget;
use common::{
    TestSite, free_port, log_lines, pharos, start_daemon, status_of, stop_daemon, summary,
    wait_until,
};
use std::path::PathBuf;
use std::time::Duration;

fn ok(site: &TestSite, args: &[&str]) -> String {
    let out = pharos(site, args);
    assert!(
        out.status.success(),
        "pharos {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ids of the incidents `incidents/unresolved.json` lists.
fn unresolved(site: &TestSite) -> Vec<String> {
    std::fs::read_to_string(site.out().join("api/v2/incidents/unresolved.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v["incidents"].as_array().map(|a| {
                a.iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn incident_files(site: &TestSite) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(site.path().join("content/incidents"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".md"))
                .map(|n| n.trim_end_matches(".md").to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn incident_text(site: &TestSite, id: &str) -> String {
    std::fs::read_to_string(site.path().join(format!("content/incidents/{id}.md")))
        .unwrap_or_default()
}

/// `pharos run` in `site` as a child process, once it has published its first render: (its
/// JSON log, the process).
fn run(site: &TestSite) -> (PathBuf, common::Running) {
    let log = site.path().join("daemon.log");
    let daemon = start_daemon(site, &log);
    wait_until(30, "first render", || {
        site.out().join("api/v2/summary.json").exists()
    });
    (log, daemon)
}

/// A site with HTTP monitors, one per (component, target, extra monitor YAML).
fn http_site(monitors: &[(&str, &HttpTarget, &str)]) -> TestSite {
    let site = TestSite::empty();
    let mut yaml = format!(
        "site:\n  title: Truth\n  base_url: https://truth.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 50ms\ncomponents:\n",
        free_port()
    );
    for (c, _, _) in monitors {
        yaml.push_str(&format!("  - id: {c}\n    name: {}\n", c.to_uppercase()));
    }
    yaml.push_str("monitors:\n");
    for (c, target, extra) in monitors {
        yaml.push_str(&format!(
            "  - id: {c}-http\n    component: {c}\n    kind: http\n    url: {}\n    interval: 1s\n    timeout: 500ms\n    failure_threshold: 1\n    success_threshold: 1\n{extra}",
            target.url("/")
        ));
    }
    site.write("config.yaml", &yaml);
    site
}

/// Defect 4: recovery resolves only incidents nobody else wrote to. Once an admin has written
/// an update, the monitor posts `monitoring` and the admin resolves; `never` and `always` do
/// what they say.
#[test]
fn recovery_leaves_an_incident_an_admin_took_over_to_the_admin() {
    let (api, web, db) = (
        HttpTarget::start(),
        HttpTarget::start(),
        HttpTarget::start(),
    );
    let site = http_site(&[
        ("api", &api, ""),
        ("web", &web, "    auto_resolve: never\n"),
        ("db", &db, "    auto_resolve: always\n"),
    ]);
    let (_log, mut daemon) = run(&site);

    for t in [&api, &web, &db] {
        t.set(|a| a.status = 500);
    }
    wait_until(20, "three automatic incidents", || {
        unresolved(&site).len() == 3
    });
    let id_of = |c: &str| {
        incident_files(&site)
            .into_iter()
            .find(|id| id.ends_with(&format!("-{c}-http")))
            .unwrap_or_else(|| panic!("no incident for {c}: {:?}", incident_files(&site)))
    };
    let (api_id, web_id, db_id) = (id_of("api"), id_of("web"), id_of("db"));
    // The admin takes over the api and db incidents.
    for id in [&api_id, &db_id] {
        ok(
            &site,
            &[
                "incident",
                "update",
                id,
                "--status",
                "identified",
                "-m",
                "A bad deploy.",
            ],
        );
    }
    wait_until(10, "the admin's update published", || {
        std::fs::read_to_string(site.out().join(format!("incidents/{api_id}/index.html")))
            .is_ok_and(|p| p.contains("A bad deploy."))
    });

    for t in [&api, &web, &db] {
        t.set(|a| a.status = 200);
    }
    wait_until(20, "components follow the monitors", || {
        ["api", "web", "db"]
            .iter()
            .all(|c| status_of(&site, c) == "operational")
    });
    wait_until(10, "monitoring updates written", || {
        [&api_id, &web_id]
            .iter()
            .all(|id| incident_text(&site, id).contains("· monitoring\nOur monitoring sees"))
    });
    wait_until(10, "db resolved anyway (always)", || {
        incident_text(&site, &db_id).contains("· resolved\n")
    });
    wait_until(10, "the open ones stay open", || {
        let mut open = unresolved(&site);
        open.sort();
        let mut want = vec![api_id.clone(), web_id.clone()];
        want.sort();
        open == want
    });
    for id in [&api_id, &web_id] {
        let text = incident_text(&site, id);
        assert!(!text.contains("· resolved"), "{id} was resolved:\n{text}");
    }
    // The admin resolves; the page follows.
    ok(&site, &["incident", "resolve", &api_id]);
    wait_until(10, "resolved by the admin", || {
        unresolved(&site) == [web_id.clone()]
    });
    stop_daemon(&mut daemon);
}

/// Defect 11: a batch of results that holds both the failure and the recovery (the store was
/// locked by another process meanwhile) opens the incident and resolves it.
#[test]
fn one_batch_with_failure_and_recovery_leaves_no_incident_open() {
    let api = HttpTarget::start();
    let site = http_site(&[("api", &api, "")]);
    let (log, mut daemon) = run(&site);
    let db = site.path().join("pharos.db");
    {
        // Held for 14 s, longer than the daemon's 10 s busy timeout: its first write fails and
        // every result of the locked time (the failure and the recovery) is written as one
        // batch once the lock goes.
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        api.set(|a| a.status = 500);
        std::thread::sleep(Duration::from_secs(5));
        api.set(|a| a.status = 200);
        std::thread::sleep(Duration::from_secs(9));
        c.execute_batch("COMMIT").unwrap();
    }
    wait_until(20, "the outage and the recovery recorded", || {
        !log_lines(&log, "resolved incident").is_empty()
    });
    wait_until(10, "nothing left open", || {
        unresolved(&site).is_empty() && status_of(&site, "api") == "operational"
    });
    let ids = incident_files(&site);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(incident_text(&site, &ids[0]).contains("· resolved\n"));
    // Both were confirmed in the same batch (the case this is about).
    let at = |what: &str| {
        let l = log_lines(&log, what).remove(0);
        chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap()).unwrap()
    };
    let apart = (at("resolved incident") - at("opened incident")).num_milliseconds();
    assert!(
        apart < 1000,
        "opened and resolved {apart} ms apart: not one batch"
    );
    stop_daemon(&mut daemon);
}

/// POST a heartbeat ping; the status code.
fn ping(port: u16, token: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    write!(
        s,
        "POST /heartbeat/{token} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A site with heartbeat monitors `beat-<c>` for components `c` (interval 2 s, grace 1 s).
fn heartbeat_site(components: &[&str]) -> (TestSite, u16) {
    let site = TestSite::empty();
    let port = free_port();
    let mut yaml = format!(
        "site:\n  title: Beats\n  base_url: https://beats.test\ndaemon:\n  listen: 127.0.0.1:{port}\n  debounce: 50ms\ncomponents:\n"
    );
    for c in components {
        yaml.push_str(&format!("  - id: {c}\n    name: Job {c}\n"));
    }
    yaml.push_str("monitors:\n");
    for c in components {
        yaml.push_str(&format!(
            "  - id: beat-{c}\n    component: {c}\n    kind: heartbeat\n    token: token-{c}-0123456789\n    interval: 2s\n    grace: 1s\n"
        ));
    }
    site.write("config.yaml", &yaml);
    (site, port)
}

fn db(site: &TestSite) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(site.path().join("pharos.db")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// (at_ms, outcome) of a monitor's recorded results, oldest first.
fn results(site: &TestSite, monitor: &str) -> Vec<(i64, String)> {
    db(site)
        .prepare("SELECT at_ms, outcome FROM check_results WHERE monitor_id = ?1 ORDER BY at_ms")
        .unwrap()
        .query_map([monitor], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Defect 6: a `verify` schedule compares each active target with what was recorded and uploads
/// again what was deleted or edited in the bucket, as `pharos publish --verify` does.
#[test]
fn a_verify_schedule_repairs_the_bucket() {
    use common::s3::{S3Server, target_yaml};
    let server = S3Server::start();
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: Verify\n  base_url: https://verify.test\ndaemon:\n  listen: 127.0.0.1:{}\n  debounce: 50ms\ncomponents:\n  - id: api\n    name: API\nschedules:\n  - id: check-bucket\n    cron: \"*/2 * * * * *\"\n    action: verify\n{}",
            free_port(),
            target_yaml(&server.endpoint(), "")
        ),
    );
    let log = site.path().join("daemon.log");
    let mut daemon = start_daemon(&site, &log);
    wait_until(30, "published", || server.object("widget.json").is_some());
    server.remove("widget.json");
    server.overwrite("badge.svg", "<svg/>");
    wait_until(20, "repaired by the schedule", || {
        server.object("widget.json").as_deref() == Some(site.read("widget.json").as_bytes())
            && server.object("badge.svg").is_some_and(|b| b != b"<svg/>")
    });
    assert!(log_lines(&log, "nothing to verify").is_empty());
    stop_daemon(&mut daemon);
}

/// The `event` of each webhook request `r` received.
fn events(r: &receivers::HttpReceiver) -> Vec<serde_json::Value> {
    r.requests().iter().map(|q| q.json()).collect()
}

/// A resolved incident with five updates, as a file.
fn five_updates(id_title: &str) -> String {
    let mut text = format!("---\ntitle: {id_title}\ncomponents:\n  api: major_outage\n---\n");
    for n in (1..=5).rev() {
        let status = if n == 5 { "resolved" } else { "investigating" };
        text.push_str(&format!(
            "## 2026-11-26 10:0{n} UTC · {status}\nUpdate number {n}.\n\n"
        ));
    }
    text
}

fn json_id(out: &str) -> String {
    serde_json::from_str::<serde_json::Value>(out).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Review of defects 4 and 13: the monitor follows its incident through a rename, and resolves
/// one whose file was deleted while it was open (the file is written back, resolved).
#[test]
fn a_monitor_resolves_its_incident_after_a_rename_or_a_refused_deletion() {
    let api = HttpTarget::start();
    let site = http_site(&[("api", &api, "")]);
    let (log, mut daemon) = run(&site);
    let dir = site.path().join("content/incidents");

    api.set(|a| a.status = 500);
    wait_until(20, "opened", || unresolved(&site).len() == 1);
    let first = unresolved(&site).remove(0);
    std::fs::rename(dir.join(format!("{first}.md")), dir.join("api-outage.md")).unwrap();
    wait_until(10, "moved", || unresolved(&site) == ["api-outage"]);
    api.set(|a| a.status = 200);
    wait_until(20, "resolved under its new name", || {
        unresolved(&site).is_empty() && incident_text(&site, "api-outage").contains("· resolved\n")
    });
    assert!(
        !dir.join(format!("{first}.md")).exists(),
        "the old name came back"
    );

    api.set(|a| a.status = 500);
    wait_until(20, "opened again", || unresolved(&site).len() == 1);
    let second = unresolved(&site).remove(0);
    assert_ne!(second, first, "a new incident, not the moved one's old id");
    std::fs::remove_file(dir.join(format!("{second}.md"))).unwrap();
    wait_until(10, "the deletion refused", || {
        log_lines(&log, "content problem").iter().any(|l| {
            l["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("was deleted")
        })
    });
    api.set(|a| a.status = 200);
    wait_until(20, "resolved, its file written back", || {
        unresolved(&site).is_empty()
            && incident_text(&site, &second).contains("· resolved\n")
            && status_of(&site, "api") == "operational"
    });
    stop_daemon(&mut daemon);
}

mod content;
mod heartbeats;
