//! Content files: a typo, a half-saved file, a rename, a deletion or a removed component hides nothing.

use super::*;

/// Defect 1: a typo in one content file keeps that file's last good version and hides nothing
/// else: a monitor's outage is published, the admin hears of the typo (log with file:line:col,
/// `pharos status`, an operator channel), and the one-shot commands stay strict.
#[test]
fn a_typo_in_one_file_hides_no_outage() {
    let api = HttpTarget::start();
    let (ops, community) = (
        receivers::HttpReceiver::start(),
        receivers::HttpReceiver::start(),
    );
    let site = http_site(&[("api", &api, "")]);
    let mut config = std::fs::read_to_string(site.config_path()).unwrap();
    config = config.replace(
        "components:\n",
        "components:\n  - id: website\n    name: Website\n",
    );
    config.push_str(&format!(
        "notifications:\n  - id: ops\n    kind: webhook\n    url: {}\n    operator: true\n  - id: community\n    kind: webhook\n    url: {}\n",
        ops.url("/ops"),
        community.url("/community")
    ));
    site.write("config.yaml", &config);
    let hand = "---\ntitle: Slow website\ncomponents:\n  website: partial_outage\n---\n## 2026-11-26 09:00 UTC · identified\nA slow disk.\n";
    site.write("content/incidents/hand.md", hand);
    let log = site.path().join("daemon.log");
    let mut daemon = start_daemon(&site, &log);
    wait_until(30, "the hand-written incident", || {
        status_of(&site, "website") == "partial_outage" && status_of(&site, "api") == "operational"
    });

    // A typo in a file that was good, and a new file that never was.
    site.write(
        "content/incidents/hand.md",
        &hand.replace("partial_outage", "partial_outag"),
    );
    site.write(
        "content/incidents/new.md",
        "---\ntitle: New\n---\n## yesterday · investigating\nx\n",
    );
    wait_until(10, "the problems in the log", || {
        let lines = log_lines(&log, "content problem");
        ["hand.md:4:", "new.md:4:"].iter().all(|want| {
            lines
                .iter()
                .any(|l| l["fields"]["message"].as_str().unwrap_or("").contains(want))
        })
    });
    // Then a real outage: it is published, with its incident, and the typo hides nothing.
    api.set(|a| a.status = 500);
    wait_until(20, "the outage published", || {
        status_of(&site, "api") == "major_outage" && unresolved(&site).len() == 2
    });
    assert_eq!(
        status_of(&site, "website"),
        "partial_outage",
        "last good version"
    );
    assert!(!site.out().join("incidents/new/index.html").exists());

    let out = ok(&site, &["status"]);
    assert!(
        out.contains("CONTENT PROBLEMS") && out.contains("hand.md:4:") && out.contains("new.md:4:"),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&site, &["status", "--json"])).unwrap();
    assert_eq!(
        json["content_problems"].as_array().unwrap().len(),
        2,
        "{json}"
    );

    // Operators hear of it once per file; the community channel never does (it got the outage).
    wait_until(15, "operator and community notified", || {
        let ops = events(&ops);
        let community = events(&community);
        ops.iter()
            .filter(|e| e["event"] == "content_problem")
            .count()
            == 2
            && community.iter().any(|e| e["event"] == "component_status")
    });
    assert!(
        events(&community)
            .iter()
            .all(|e| e["event"] != "content_problem"),
        "a content problem reached a non-operator channel"
    );
    let about_hand = events(&ops)
        .into_iter()
        .find(|e| {
            e["event"] == "content_problem"
                && e["content"]["file"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("hand.md")
        })
        .expect("hand.md reported");
    assert!(
        about_hand["text"]
            .as_str()
            .unwrap()
            .contains("partial_outag"),
        "{about_hand}"
    );

    // One-shot commands stay strict: exit 3, nothing written.
    let strict = site.path().join("strict-out");
    let out = pharos(&site, &["build", "--out", strict.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!strict.exists());
    assert_eq!(pharos(&site, &["validate"]).status.code(), Some(3));

    // Fixed: the file counts again.
    site.write(
        "content/incidents/hand.md",
        &hand.replace("partial_outage", "major_outage"),
    );
    std::fs::remove_file(site.path().join("content/incidents/new.md")).unwrap();
    wait_until(10, "fixed", || {
        status_of(&site, "website") == "major_outage"
    });
    wait_until(10, "the fix in the log", || {
        !log_lines(&log, "content problem fixed").is_empty()
    });
    stop_daemon(&mut daemon);
}

/// Defect 12: an editor that truncates the file and then writes it in parts never publishes
/// what was read in between: the incident is never shown open, nor with fewer updates.
#[test]
fn a_file_saved_in_parts_is_published_only_whole() {
    let api = HttpTarget::start();
    let site = http_site(&[("api", &api, "")]);
    let text = five_updates("Saved in parts");
    // A settle time well above the writer's 100 ms pauses, even on a busy machine.
    let config = std::fs::read_to_string(site.config_path())
        .unwrap()
        .replace("debounce: 50ms", "debounce: 50ms\n  settle: 1s");
    site.write("config.yaml", &config);
    site.write("content/incidents/parts.md", &text);
    let log = site.path().join("daemon.log");
    let mut daemon = start_daemon(&site, &log);
    let page = site.out().join("incidents/parts/index.html");
    let whole = |p: &str| (1..=5).all(|n| p.contains(&format!("Update number {n}.")));
    wait_until(30, "published whole", || {
        std::fs::read_to_string(&page).is_ok_and(|p| whole(&p))
    });

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::new(std::sync::Mutex::new((0usize, Vec::<String>::new())));
    let poller = {
        let (stop, seen, out) = (stop.clone(), seen.clone(), site.out());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let page = std::fs::read_to_string(out.join("incidents/parts/index.html"))
                    .unwrap_or_default();
                let open = std::fs::read_to_string(out.join("api/v2/incidents/unresolved.json"))
                    .unwrap_or_default()
                    .contains("\"parts\"");
                let mut s = seen.lock().unwrap();
                s.0 += 1;
                let n = s.0;
                if !whole(&page) {
                    s.1.push(format!("poll {n}: the page lacks updates"));
                }
                if open {
                    s.1.push(format!("poll {n}: the resolved incident shows as open"));
                }
                drop(s);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // Five saves, each: truncate, then five parts 100 ms apart (an editor writing in chunks).
    let path = site.path().join("content/incidents/parts.md");
    for round in 0..5 {
        use std::io::Write;
        let text = text.replace("Saved in parts", &format!("Saved in parts ({round})"));
        let mut f = std::fs::File::create(&path).unwrap();
        let bytes = text.as_bytes();
        for chunk in bytes.chunks(bytes.len().div_ceil(5)) {
            std::thread::sleep(Duration::from_millis(100));
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
        }
        drop(f);
        let title = format!("Saved in parts ({round})");
        wait_until(10, "the save published", || {
            std::fs::read_to_string(&page).is_ok_and(|p| p.contains(&title))
        });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.join().unwrap();
    let (polls, bad) = seen.lock().unwrap().clone();
    assert!(polls > 100, "only {polls} polls");
    assert!(
        bad.is_empty(),
        "{} of {polls} polls saw a half state: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    stop_daemon(&mut daemon);
}

/// Defect 13: renaming an incident file moves the incident (no second "New incident", the old
/// address redirects); deleting an open incident's file is refused until it is resolved.
#[test]
fn renaming_moves_an_incident_and_deleting_an_open_one_is_refused() {
    let api = HttpTarget::start();
    let hook = receivers::HttpReceiver::start();
    let site = http_site(&[("api", &api, "")]);
    let mut config = std::fs::read_to_string(site.config_path()).unwrap();
    config.push_str(&format!(
        "notifications:\n  - id: hook\n    kind: webhook\n    url: {}\n",
        hook.url("/hook")
    ));
    site.write("config.yaml", &config);
    let (log, mut daemon) = run(&site);
    let id = json_id(&ok(
        &site,
        &[
            "incident",
            "new",
            "Slow API",
            "-C",
            "api=degraded_performance",
            "-m",
            "Looking.",
            "--json",
        ],
    ));
    let opened = |hook: &receivers::HttpReceiver| {
        events(hook)
            .iter()
            .filter(|e| e["event"] == "incident_opened")
            .count()
    };
    wait_until(15, "opened once", || opened(&hook) == 1);

    let dir = site.path().join("content/incidents");
    std::fs::rename(dir.join(format!("{id}.md")), dir.join("slow-api.md")).unwrap();
    wait_until(10, "moved", || {
        unresolved(&site) == ["slow-api"]
            && std::fs::read_to_string(site.out().join(format!("incidents/{id}/index.html")))
                .is_ok_and(|p| {
                    p.contains("http-equiv=\"refresh\"") && p.contains("../slow-api/index.html")
                })
    });
    // Evidence the channel is current: an update to the moved incident arrives.
    ok(
        &site,
        &[
            "incident",
            "update",
            "slow-api",
            "--status",
            "identified",
            "-m",
            "Found it.",
        ],
    );
    wait_until(15, "the update notified", || {
        events(&hook)
            .iter()
            .any(|e| e["event"] == "incident_updated" && e["incident"]["id"] == "slow-api")
    });
    assert_eq!(opened(&hook), 1, "a rename announced the incident again");
    assert!(!log_lines(&log, "incident file renamed").is_empty());

    // Deleting the open incident's file: refused, it stays, the admin is told.
    std::fs::remove_file(dir.join("slow-api.md")).unwrap();
    wait_until(10, "refused", || {
        log_lines(&log, "content problem").iter().any(|l| {
            l["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("was deleted")
        })
    });
    assert_eq!(unresolved(&site), ["slow-api"], "still published as it was");
    // Resolving writes it back; then it may go, and so does the old address.
    ok(&site, &["incident", "resolve", "slow-api"]);
    wait_until(15, "resolved", || {
        unresolved(&site).is_empty()
            && events(&hook)
                .iter()
                .any(|e| e["event"] == "incident_resolved")
    });
    std::fs::remove_file(dir.join("slow-api.md")).unwrap();
    wait_until(10, "gone", || {
        !site.out().join("incidents/slow-api/index.html").exists()
            && !site
                .out()
                .join(format!("incidents/{id}/index.html"))
                .exists()
    });
    stop_daemon(&mut daemon);
}

/// Defect 15: removing a component from the config keeps old incidents rendering (naming it as
/// removed); validation warns without refusing; the running daemon goes on publishing.
#[test]
fn removing_a_component_keeps_its_history_and_the_page_moving() {
    let api = HttpTarget::start();
    let site = http_site(&[("api", &api, "")]);
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    let with_legacy = config.replace(
        "components:\n",
        "components:\n  - id: legacy\n    name: Legacy API\n",
    );
    site.write("config.yaml", &with_legacy);
    site.write(
        "content/incidents/old.md",
        "---\ntitle: Legacy outage\ncomponents:\n  legacy: major_outage\n---\n## 2026-11-20 11:00 UTC · resolved\nFixed.\n\n## 2026-11-20 10:00 UTC · investigating\nDown.\n",
    );
    let log = site.path().join("daemon.log");
    let mut daemon = start_daemon(&site, &log);
    wait_until(30, "first render", || {
        std::fs::read_to_string(site.out().join("incidents/old/index.html"))
            .is_ok_and(|p| p.contains("Legacy API"))
    });
    // Remove the component and rename the site: the reload applies, the history stays.
    site.write(
        "config.yaml",
        &config.replace("title: Truth", "title: Truth after removal"),
    );
    wait_until(10, "reloaded and published", || {
        summary(&site)["page"]["name"] == "Truth after removal"
    });
    let page = std::fs::read_to_string(site.out().join("incidents/old/index.html")).unwrap();
    assert!(page.contains("Legacy API (removed)"), "{page}");
    assert!(
        log_lines(&log, "content problem").is_empty(),
        "history is no problem"
    );
    stop_daemon(&mut daemon);

    let out = pharos(&site, &["validate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("old.md:4:3") && err.contains("removed component"),
        "{err}"
    );
    let out = pharos(&site, &["build"]);
    assert!(out.status.success());
    // An open incident naming a component that does not exist is a typo: refused.
    site.write(
        "content/incidents/typo.md",
        "---\ntitle: Typo\ncomponents:\n  legacy: major_outage\n---\n## 2026-11-20 10:00 UTC · investigating\nDown.\n",
    );
    let out = pharos(&site, &["build"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("typo.md:4:3"));
}

/// Review of defect 12: the admin's commands import as the daemon does: a file an editor is
/// still saving waits (the last good version stays in the store), the command's own file does
/// not.
#[test]
fn cli_imports_wait_for_a_file_being_saved() {
    let api = HttpTarget::start();
    let site = http_site(&[("api", &api, "")]);
    let text = five_updates("Being saved");
    site.write("content/incidents/saved.md", &text);
    let updates = |site: &TestSite| {
        let out = ok(site, &["incident", "show", "saved", "--json"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["updates"]
            .as_array()
            .unwrap()
            .len()
    };
    // Old enough to be read: backdate it past the settle time.
    let f = std::fs::File::options()
        .write(true)
        .open(site.path().join("content/incidents/saved.md"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(10))
        .unwrap();
    drop(f);
    assert_eq!(updates(&site), 5);
    // Half saved just now: the store keeps the whole version.
    site.write(
        "content/incidents/saved.md",
        &text[..text.find("## 2026-11-26 10:03").unwrap()],
    );
    assert_eq!(updates(&site), 5, "a half-saved file reached the store");
    // A command's own write counts at once.
    let id = json_id(&ok(
        &site,
        &["incident", "new", "Now", "-C", "api", "-m", "x", "--json"],
    ));
    let out = ok(&site, &["status", "--json"]);
    assert!(out.contains(&id), "{out}");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(updates(&site), 2, "read once it settled");
}
