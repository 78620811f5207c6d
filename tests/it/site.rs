//! The golden fixture site: what `pharos build` renders, byte for byte (insta snapshots), and the
//! properties the site must keep: determinism, freshness ticks, atomic output, valid feeds.

use crate::common;

use common::{TestSite, now, seed_rollups, t};

fn golden() -> TestSite {
    let site = TestSite::fixture("basic");
    seed_rollups(&site);
    site.build();
    site
}

fn pretty(site: &TestSite, rel: &str) -> String {
    serde_json::to_string_pretty(&site.json(rel)).unwrap()
}

#[test]
fn every_page_type_matches_its_snapshot() {
    let site = golden();
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("index.html", site.read("index.html"));
        insta::assert_snapshot!("incident.html", site.read("incidents/2026-11-26-api-latency/index.html"));
        insta::assert_snapshot!("incident-resolved.html", site.read("incidents/2026-11-24-website-down/index.html"));
        insta::assert_snapshot!("maintenance.html", site.read("maintenance/2026-11-26-db-upgrade/index.html"));
        insta::assert_snapshot!("history.html", site.read("history/index.html"));
        insta::assert_snapshot!("history-month.html", site.read("history/2026-11/index.html"));
        insta::assert_snapshot!("component.html", site.read("components/api/index.html"));
        insta::assert_snapshot!("component-no-data.html", site.read("components/web/index.html"));
    });
}

#[test]
fn every_data_file_matches_its_snapshot() {
    let site = golden();
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        for rel in [
            "api/v2/summary.json",
            "api/v2/status.json",
            "api/v2/components.json",
            "api/v2/incidents.json",
            "api/v2/incidents/unresolved.json",
            "api/v2/scheduled-maintenances.json",
            "api/v2/scheduled-maintenances/upcoming.json",
            "api/v2/scheduled-maintenances/active.json",
            "widget.json",
            "badges/api.json",
            "badge.json",
        ] {
            insta::assert_snapshot!(rel.replace('/', "__"), pretty(&site, rel));
        }
        for rel in ["badges/api.svg", "badge.svg", "history.atom", "history.rss", "maintenance.ics"] {
            insta::assert_snapshot!(rel.replace('/', "__"), site.read(rel).replace("\r\n", "\n"));
        }
    });
}

#[test]
fn the_site_has_every_file_the_contract_names() {
    let site = golden();
    let files = site.files();
    for rel in [
        "index.html",
        "incidents/2026-11-26-api-latency/index.html",
        "incidents/2026-11-24-website-down/index.html",
        "incidents/2026-09-03-search-index/index.html",
        "maintenance/2026-11-26-db-upgrade/index.html",
        "maintenance/2026-12-10-network/index.html",
        "maintenance/nightly-reindex-20261127t0230/index.html",
        "history/index.html",
        "history/2026-11/index.html",
        "history/2026-09/index.html",
        "components/api/index.html",
        "components/search/index.html",
        "api/v2/summary.json",
        "api/v2/scheduled-maintenances/active.json",
        "widget.json",
        "embed.js",
        "badges/api.svg",
        "badges/db.json",
        "badge.svg",
        "history.atom",
        "history.rss",
        "maintenance.ics",
        ".pharos-manifest.json",
    ] {
        assert!(
            files.contains_key(rel),
            "missing {rel}; have {:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
    let css: Vec<&String> = files
        .keys()
        .filter(|k| k.starts_with("assets/style.") && k.ends_with(".css"))
        .collect();
    assert_eq!(css.len(), 1, "one content-hashed stylesheet");
    assert!(
        site.read("index.html")
            .contains(&format!("assets/{}", css[0].trim_start_matches("assets/")))
    );

    // The manifest lists every file with hash, type and cache class.
    let entries = site.manifest();
    assert_eq!(
        entries.len(),
        files.len() - 2,
        "everything but the manifest files themselves"
    );
    assert_eq!(entries[css[0].as_str()]["cache_class"], "immutable");
    assert_eq!(
        entries[css[0].as_str()]["cache_control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        entries["index.html"]["content_type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(entries["index.html"]["cache_class"], "short");
}

#[test]
fn status_is_derived_from_incidents_and_maintenance() {
    let site = golden();
    let summary = site.json("api/v2/summary.json");
    let status = |id: &str| {
        summary["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("api"), "partial_outage", "open incident");
    assert_eq!(status("db"), "under_maintenance", "maintenance in progress");
    assert_eq!(status("web"), "operational", "its incident is resolved");
    assert_eq!(
        status("core"),
        "partial_outage",
        "a group is its worst member"
    );
    assert_eq!(summary["status"]["indicator"], "minor");
    assert_eq!(summary["status"]["description"], "Minor Service Outage");
    let index = site.read("index.html");
    assert!(index.contains("Minor Service Outage"));
    // Search only shows while degraded.
    assert!(!index.contains("components/search/index.html"));
}

#[test]
fn two_builds_of_the_same_state_are_byte_identical() {
    let site = golden();
    let first = site.files();
    let r = site.build();
    assert!(
        r.write.changed.is_empty(),
        "nothing changed: {:?}",
        r.write.changed
    );
    assert_eq!(site.files(), first);

    // The same content in another folder (another database, created later) renders the same too,
    // apart from nothing: component creation times come from the build's `now`.
    let other = TestSite::fixture("basic");
    seed_rollups(&other);
    other.build();
    assert_eq!(other.files(), first);
}

#[test]
fn a_freshness_tick_without_news_changes_only_the_stamped_files() {
    let site = golden();
    // 13:30 -> 13:36 crosses one 5-minute freshness step; nothing else happens in between.
    let r = site.build_at(t("2026-11-26T13:36:00Z")).unwrap();
    assert_eq!(
        r.write.changed,
        ["index.html", "widget.json"],
        "only the files that carry the freshness stamp"
    );
    // Within the same step nothing changes at all.
    let r = site.build_at(t("2026-11-26T13:39:59Z")).unwrap();
    assert!(r.write.changed.is_empty(), "{:?}", r.write.changed);
}

#[test]
fn maintenance_moves_through_its_states_by_time() {
    let site = TestSite::fixture("basic");
    site.build_at(t("2026-11-26T11:00:00Z")).unwrap();
    assert_eq!(
        site.json("api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"][0]["id"],
        "2026-11-26-db-upgrade"
    );
    site.build_at(t("2026-11-26T13:00:00Z")).unwrap();
    assert_eq!(
        site.json("api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"][0]["status"],
        "in_progress"
    );
    site.build_at(t("2026-11-26T14:00:00Z")).unwrap();
    let all = site.json("api/v2/scheduled-maintenances.json");
    let db = all["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "2026-11-26-db-upgrade")
        .unwrap()
        .clone();
    assert_eq!(db["status"], "completed");
    assert_eq!(db["resolved_at"], "2026-11-26T14:00:00Z");
}

#[test]
fn a_broken_file_fails_the_build_and_keeps_the_old_site() {
    let site = golden();
    let before = site.files();
    site.write("content/incidents/2026-11-27-broken.md", "---\ntitle: Broken\ncomponents:\n  nope: major_outage\n---\n## tomorrow · investigating\nx\n");
    let err = site.build_at(now()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(
            "2026-11-27-broken.md:4:3: incident \"2026-11-27-broken\": unknown component \"nope\""
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "2026-11-27-broken.md:6:1: incident \"2026-11-27-broken\": invalid time \"tomorrow\""
        ),
        "{msg}"
    );
    assert_eq!(site.files(), before, "the previous output is untouched");
}

#[test]
fn a_broken_theme_fails_the_build_and_keeps_the_old_site() {
    let site = golden();
    let before = site.files();
    site.write(
        "themes/default/templates/index.html",
        "{% extends \"base.html\" %}{% block main %}{{ oops(}}{% endblock %}",
    );
    let err = site.build_at(now()).unwrap_err();
    assert!(format!("{err:#}").contains("index.html"), "{err:#}");
    assert_eq!(site.files(), before);
}

#[test]
fn a_theme_folder_overrides_templates_one_by_one() {
    let site = TestSite::fixture("basic");
    site.write(
        "themes/default/templates/history.html",
        "{% extends \"base.html\" %}{% block main %}<h1>Our custom history</h1>{% endblock %}",
    );
    site.write("themes/default/style.css", "body{color:teal}");
    site.build();
    assert!(
        site.read("history/index.html")
            .contains("Our custom history")
    );
    assert!(
        site.read("index.html").contains("Minor Service Outage"),
        "other pages keep the default theme"
    );
    let files = site.files();
    let css = files
        .iter()
        .find(|(k, _)| k.starts_with("assets/style."))
        .unwrap();
    assert_eq!(css.1, b"body{color:teal}");
}

#[test]
fn feeds_and_calendar_parse_with_real_parsers() {
    let site = golden();
    let atom: atom_syndication::Feed = site.read("history.atom").parse().expect("valid Atom");
    assert!(
        atom.entries()
            .iter()
            .any(|e| e.title().as_str() == "Slow API responses in EU (Identified)")
    );
    // The newest entry: the upcoming windows, first seen by this build.
    assert_eq!(atom.updated().to_rfc3339(), "2026-11-26T13:30:00+00:00");
    let rss = rss::Channel::read_from(site.read("history.rss").as_bytes()).expect("valid RSS");
    assert_eq!(rss.items().len(), atom.entries().len());
    assert!(rss.items().iter().all(|i| {
        i.link()
            .is_some_and(|l| l.starts_with("https://status.acme.test/"))
    }));

    let ics = site.read("maintenance.ics");
    let unfolded = icalendar::parser::unfold(&ics);
    let cal = icalendar::parser::read_calendar(&unfolded).expect("valid iCalendar");
    let events: Vec<_> = cal
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .collect();
    assert_eq!(
        events.len(),
        3,
        "two one-off windows and the next nightly occurrence"
    );
    let uid = |e: &&icalendar::parser::Component| {
        e.find_prop("UID")
            .map(|p| p.val.to_string())
            .unwrap_or_default()
    };
    assert!(
        events
            .iter()
            .any(|e| uid(e) == "2026-12-10-network@status.acme.test")
    );
    assert!(ics.lines().all(|l| l.len() <= 76), "lines are folded");
}

#[test]
fn private_monitor_details_never_reach_the_output() {
    let site = golden();
    for (path, bytes) in site.files() {
        let text = String::from_utf8_lossy(&bytes);
        for secret in [
            "internal-secret-host",
            "SECRET-TOKEN-123",
            "SECRET-HEADER-456",
            "api-health",
        ] {
            assert!(!text.contains(secret), "{path} leaks {secret}");
        }
    }
}

#[test]
fn uptime_bars_come_from_daily_rollups() {
    let site = golden();
    let page = site.read("components/api/index.html");
    assert!(
        page.contains("24 Nov 2026: 97.91 % uptime (30 failed checks)"),
        "a bad day is labelled"
    );
    assert!(page.contains("no data"), "days without rollups say so");
    let web = site.read("components/web/index.html");
    assert!(web.contains("No data"));
}

#[test]
fn a_cached_render_is_byte_identical_and_renders_only_changed_pages() {
    let site = golden();
    let config = site.config();
    let mut store = pharos::store::Store::open(&config.database_path()).unwrap();
    let theme = pharos::theme::load(&config).unwrap();
    let snap =
        pharos::build::snapshot(&config, &mut store, now(), &mut Default::default()).unwrap();
    let mut cache = pharos::render::RenderCache::default();
    let first = pharos::render::render(&snap, &theme, &mut cache).unwrap();
    assert_eq!(cache.hits, 0);
    assert_eq!(
        pharos::render::render(&snap, &theme, &mut cache).unwrap(),
        first
    );
    assert_eq!(
        cache.hits, 10,
        "the history layer (3 incident pages, 2 month pages, the month list) and 4 component pages come from the cache"
    );
    let again = pharos::render::render(&snap, &theme, &mut cache).unwrap();
    assert!(
        again.files.same_history(&first.files),
        "an unchanged history layer is shared, not copied"
    );

    // One incident changes: its page and its month's page are rendered again, nothing else.
    site.write(
        "content/incidents/2026-11-24-website-down.md",
        "---\ntitle: Website unavailable\nimpact: critical\ncomponents:\n  web: major_outage\n---\n## 2026-11-24 08:30 UTC · resolved\nRolled back.\n\n## 2026-11-24 07:55 UTC · investigating\nErrors.\n",
    );
    let snap =
        pharos::build::snapshot(&config, &mut store, now(), &mut Default::default()).unwrap();
    let cached = pharos::render::render(&snap, &theme, &mut cache).unwrap();
    assert_eq!(
        cache.hits, 6,
        "the 2 other incidents, the other month, the 3 components it does not name"
    );
    assert_eq!(
        cached,
        pharos::render::render(&snap, &theme, &mut Default::default()).unwrap(),
        "same bytes as a fresh render"
    );
}

/// Issue 15, defects 8 and 9: every API document of one build carries the same `page` object,
/// and "Last updated" is never older than the newest change the page shows.
#[test]
fn one_build_has_one_page_object_and_last_updated_covers_the_newest_update() {
    let site = TestSite::fixture("basic");
    site.write(
        "content/incidents/2026-11-26-fresh.md",
        "---\ntitle: Fresh news\ncomponents:\n  api: degraded_performance\n---\n## 2026-11-26 13:33:20 UTC · investigating\nJust now.\n",
    );
    // 13:34 is in the freshness step that started at 13:30, after the update at 13:33:20.
    site.build_at(t("2026-11-26T13:34:00Z")).unwrap();
    let api = [
        "summary.json",
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    ];
    let pages: Vec<serde_json::Value> = api
        .iter()
        .map(|f| site.json(&format!("api/v2/{f}"))["page"].clone())
        .collect();
    for (f, p) in api.iter().zip(&pages) {
        assert_eq!(p, &pages[0], "{f} carries another page object");
    }
    let updated = pages[0]["updated_at"].as_str().unwrap();
    assert!(
        updated >= "2026-11-26T13:33:20Z",
        "page.updated_at {updated}"
    );
    let index = site.read("index.html");
    let stamp = index
        .split("Last updated <time datetime=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a Last updated time");
    let stamp = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
    assert!(
        stamp >= t("2026-11-26T13:33:20Z"),
        "Last updated {stamp} is older than the update at 13:33:20"
    );
}
