//! Per-component Atom feeds: `components/<id>/feed.atom` holds what concerns that one component
//! (the incidents and maintenance windows that name it, its status changes), in history.atom's
//! entry format, and is linked from the component's page, for a feed reader or Slack's `/feed`.

use crate::common;

use atom_syndication::Feed;
use common::{TestSite, now, seed_rollups, t};
use scraper::{Html, Selector};
use std::collections::BTreeSet;

fn golden() -> TestSite {
    let site = TestSite::fixture("basic");
    seed_rollups(&site);
    site.build();
    site
}

fn feed(site: &TestSite, id: &str) -> Feed {
    site.read(&format!("components/{id}/feed.atom"))
        .parse()
        .unwrap_or_else(|e| panic!("components/{id}/feed.atom is not valid Atom: {e}"))
}

fn titles(feed: &Feed) -> Vec<&str> {
    feed.entries().iter().map(|e| e.title().as_str()).collect()
}

/// The `<entry>…</entry>` blocks of an Atom document, as written.
fn raw_entries(atom: &str) -> Vec<&str> {
    atom.split("<entry>")
        .skip(1)
        .map(|e| e.split("</entry>").next().unwrap())
        .collect()
}

/// The basic fixture with `site.feed_entries` set.
fn with_feed_entries(n: usize) -> TestSite {
    let site = TestSite::fixture("basic");
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write(
        "config.yaml",
        &config.replacen("site:\n", &format!("site:\n  feed_entries: {n}\n"), 1),
    );
    site
}

#[test]
fn a_component_feed_holds_its_incidents_and_maintenance_and_not_the_others() {
    let site = golden();

    let api = feed(&site, "api");
    let got = titles(&api);
    assert!(
        got.contains(&"Slow API responses in EU (Identified)"),
        "{got:?}"
    );
    assert!(
        got.contains(&"Maintenance: Network maintenance (Scheduled)"),
        "a window for api and web is in both feeds: {got:?}"
    );
    for other in [
        "Website unavailable",
        "Database upgrade",
        "Search",
        "Nightly",
    ] {
        assert!(
            got.iter().all(|t| !t.contains(other)),
            "{other} does not concern api: {got:?}"
        );
    }

    let web = feed(&site, "web");
    let got = titles(&web);
    assert!(got.contains(&"Website unavailable (Resolved)"), "{got:?}");
    assert!(got.contains(&"Maintenance: Network maintenance (Scheduled)"));
    assert!(got.iter().all(|t| !t.contains("Slow API")), "{got:?}");

    // A component hidden from the front page while operational still has a page, so a feed.
    let search = feed(&site, "search");
    let got = titles(&search);
    assert!(
        got.contains(&"Search results out of date (Resolved)"),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|t| t.starts_with("Maintenance: Nightly search re-index"))
    );

    // The feed says what it is and where it lives.
    assert_eq!(api.title().as_str(), "Acme Status: API");
    assert_eq!(
        api.id(),
        "https://status.acme.test/components/api/feed.atom"
    );
    let href = |rel: &str| {
        api.links()
            .iter()
            .find(|l| l.rel() == rel)
            .map(|l| l.href().to_string())
    };
    assert_eq!(
        href("self").as_deref(),
        Some("https://status.acme.test/components/api/feed.atom")
    );
    assert_eq!(
        href("alternate").as_deref(),
        Some("https://status.acme.test/components/api/index.html")
    );
    // `updated` is the newest entry's, a time from the data.
    let newest = api.entries().iter().map(|e| *e.updated()).max().unwrap();
    assert_eq!(*api.updated(), newest);

    // Same entry format as history.atom: every entry is there byte for byte (the fixture has
    // fewer entries than the cap, so history.atom holds them all).
    let history = site.read("history.atom");
    let all = raw_entries(&history);
    for id in ["api", "web", "db", "search"] {
        let text = site.read(&format!("components/{id}/feed.atom"));
        for e in raw_entries(&text) {
            assert!(
                all.contains(&e),
                "{id}: an entry unlike history.atom's:\n{e}"
            );
        }
    }
}

#[test]
fn every_component_page_links_its_feed_and_no_feed_lacks_a_page() {
    let site = golden();
    let files = site.files();
    let under = |suffix: &str| -> BTreeSet<String> {
        files
            .keys()
            .filter_map(|k| k.strip_prefix("components/")?.strip_suffix(suffix))
            .filter(|id| !id.contains('/'))
            .map(str::to_string)
            .collect()
    };
    let pages = under("/index.html");
    assert_eq!(pages.len(), 4, "{pages:?}");
    assert_eq!(under("/feed.atom"), pages, "one feed per component page");

    let head_link = Selector::parse(
        r#"head link[rel="alternate"][type="application/atom+xml"][href="feed.atom"]"#,
    )
    .unwrap();
    let visible = Selector::parse(r#"main a[href="feed.atom"]"#).unwrap();
    for id in &pages {
        let page = Html::parse_document(&site.read(&format!("components/{id}/index.html")));
        let links: Vec<_> = page.select(&head_link).collect();
        assert_eq!(links.len(), 1, "{id}: one feed link in the head");
        assert_eq!(
            links[0].value().attr("title"),
            Some(format!("{} (Atom)", feed(&site, id).title().as_str()).as_str()),
            "{id}: the link is titled with the component"
        );
        let a = page.select(&visible).next();
        assert!(
            a.is_some_and(|a| !a.text().collect::<String>().trim().is_empty()),
            "{id}: a visible link to the feed"
        );
    }
    // Served as Atom.
    let manifest = site.manifest();
    assert_eq!(
        manifest["components/api/feed.atom"]["content_type"],
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(manifest["components/api/feed.atom"]["cache_class"], "short");
}

#[test]
fn a_removed_component_loses_its_page_and_its_feed() {
    let site = golden();
    assert!(site.files().contains_key("components/db/feed.atom"));
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write(
        "config.yaml",
        &config.replace("  - id: db\n    name: Database\n    group: core\n", ""),
    );
    std::fs::remove_file(
        site.path()
            .join("content/maintenance/2026-11-26-db-upgrade.md"),
    )
    .unwrap();
    site.build();
    let files = site.files();
    assert!(!files.contains_key("components/db/index.html"));
    assert!(!files.contains_key("components/db/feed.atom"));
    assert!(files.contains_key("components/api/feed.atom"));
}

#[test]
fn news_about_another_component_leaves_a_feed_byte_identical() {
    let site = golden();
    let api = site.read("components/api/feed.atom");
    site.write(
        "content/incidents/2026-11-26-web-slow.md",
        "---\ntitle: Website slow\ncomponents:\n  web: degraded_performance\n---\n## 2026-11-26 14:10 · investigating\nPages load slowly.\n",
    );
    site.build_at(t("2026-11-26T13:31:00Z")).unwrap();
    assert_eq!(site.read("components/api/feed.atom"), api);
    assert!(titles(&feed(&site, "web")).contains(&"Website slow (Investigating)"));
}

#[test]
fn each_component_feed_keeps_its_own_newest_entries_up_to_the_cap() {
    let site = with_feed_entries(3);
    for h in 0..6 {
        site.write(
            &format!("content/incidents/2026-11-25-api-{h}.md"),
            &format!(
                "---\ntitle: API blip {h}\ncomponents:\n  api: degraded_performance\n---\n## 2026-11-25 0{h}:30 UTC · resolved\nBack.\n\n## 2026-11-25 0{h}:00 UTC · investigating\nSlow.\n"
            ),
        );
    }
    site.build();
    let history = site.read("history.atom").parse::<Feed>().unwrap();
    assert_eq!(history.entries().len(), 3);
    assert!(
        titles(&history).iter().all(|t| !t.contains("Website")),
        "the site feed is full of newer news"
    );

    let api = feed(&site, "api");
    assert_eq!(
        titles(&api),
        [
            "Maintenance: Network maintenance (Scheduled)",
            "Slow API responses in EU (Identified)",
            "API blip 5 (Resolved)",
        ],
        "the newest three, newest change first"
    );
    // web's older incident is not crowded out by news about api.
    let web = feed(&site, "web");
    assert!(
        titles(&web).contains(&"Website unavailable (Resolved)"),
        "{:?}",
        titles(&web)
    );
    assert!(web.entries().len() <= 3);
}

#[test]
fn a_long_timeline_is_cut_like_in_history_atom() {
    let site = TestSite::fixture("basic");
    let mut text = String::from("---\ntitle: Long story\ncomponents:\n  db: major_outage\n---\n");
    for m in (0..40).rev() {
        text.push_str(&format!(
            "## 2026-11-26 10:{m:02} UTC · identified\n{}\n\n",
            "The replica is still catching up. ".repeat(30)
        ));
    }
    site.write("content/incidents/2026-11-26-long.md", &text);
    site.build();
    let db = feed(&site, "db");
    let entry = db
        .entries()
        .iter()
        .find(|e| e.title().as_str() == "Long story (Identified)")
        .expect("the incident is in the db feed");
    let html = entry.content().and_then(|c| c.value()).unwrap();
    assert!(
        html.contains("earlier updates: <a href="),
        "the timeline is cut"
    );
    assert!(html.len() < 40 * 1000, "{} bytes", html.len());
    let history = site.read("history.atom");
    let raw = site.read("components/db/feed.atom");
    let ours = raw_entries(&raw)
        .into_iter()
        .find(|e| e.contains("Long story"))
        .unwrap();
    assert!(
        raw_entries(&history).contains(&ours),
        "the same cut as history.atom"
    );
}

#[test]
fn a_component_status_change_is_in_that_components_feed_only() {
    use pharos::event::{ComponentChange, Event};
    use pharos::model::ComponentStatus;
    let site = golden();
    let at = t("2026-11-26T13:00:00Z");
    let event = Event::Component {
        at,
        change: ComponentChange {
            id: "db".into(),
            old_status: ComponentStatus::Operational,
            new_status: ComponentStatus::MajorOutage,
        },
    };
    common::db(&site)
        .execute(
            "INSERT INTO outbox (key, kind, at, created_at, payload) VALUES ('component:db:test', 'component_status', ?1, ?1, ?2)",
            rusqlite::params![at.timestamp(), serde_json::to_string(&event).unwrap()],
        )
        .unwrap();
    site.build_at(now()).unwrap();
    let change = "Database: Major outage";
    assert!(
        titles(&feed(&site, "db")).contains(&change),
        "{:?}",
        titles(&feed(&site, "db"))
    );
    for other in ["api", "web", "search"] {
        assert!(!titles(&feed(&site, other)).contains(&change), "{other}");
    }
    let history = site.read("history.atom").parse::<Feed>().unwrap();
    assert!(
        titles(&history).contains(&change),
        "history.atom has it too"
    );
}
