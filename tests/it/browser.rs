//! The built page in a real headless Chromium with JavaScript disabled: the visitor can read the
//! overall status and the incidents. `.ci/run` installs Debian's chromium; on a machine without
//! it the test says so and passes, except under CI (CI=true), where a missing browser fails.

use crate::common;
use crate::common::browser as cdp;

use cdp::{Browser, browser, serve, text_of};
use common::TestSite;
use scraper::{Html, Selector};
use std::time::Duration;

#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn a_visitor_reads_status_and_incidents_without_javascript() {
    let (mut chrome, _watchdog) = browser();
    let site = TestSite::fixture("basic");
    site.build();
    let tab = chrome.tab(false);
    let dom = chrome.page(&tab, &site.out().join("index.html"));
    assert_eq!(
        text_of(&dom, "h1").first().map(String::as_str),
        Some("Minor Service Outage")
    );
    let headings = text_of(&dom, "main h3");
    assert!(
        headings.iter().any(|h| h == "Slow API responses in EU"),
        "{headings:?}"
    );
    let body = text_of(&dom, "main").join(" ");
    assert!(
        body.contains("We found a saturated database replica"),
        "update text is readable"
    );
    assert!(
        body.contains("Under maintenance"),
        "component statuses are text, not only colour"
    );

    let incident = chrome.page(
        &tab,
        &site
            .out()
            .join("incidents/2026-11-24-website-down/index.html"),
    );
    assert_eq!(
        text_of(&incident, "h1").first().map(String::as_str),
        Some("Website unavailable")
    );
    assert!(
        text_of(&incident, "main")
            .join(" ")
            .contains("The CDN configuration was rolled back.")
    );

    // JavaScript really is off: a page that would rewrite its heading with a script does not.
    let probe = site.path().join("probe.html");
    std::fs::write(
        &probe,
        "<h1>static</h1><script>document.querySelector('h1').textContent='scripted'</script>",
    )
    .unwrap();
    let probed = chrome.page(&tab, &probe);
    assert_eq!(text_of(&probed, "h1"), ["static"]);
}

/// The badge `embed.js` draws, once it has loaded `widget.json` (polled: the request is async).
fn badge_text(chrome: &mut Browser, tab: &str, url: &str) -> (String, String) {
    chrome.open(tab, url);
    for _ in 0..100 {
        let dom = Html::parse_document(&chrome.dom(tab));
        if let Some(a) = dom
            .select(&Selector::parse("[data-pharos-status] a.pharos-status").unwrap())
            .next()
        {
            return (
                a.text().collect(),
                a.value().attr("href").unwrap_or("").to_string(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("embed.js drew no badge on {url}");
}

#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn embed_js_shows_the_status_on_a_customer_page() {
    let (mut chrome, _watchdog) = browser();
    let site = TestSite::fixture("basic");
    // The widget's stale_after is compared with the browser's real clock.
    let now = chrono::Utc::now();
    site.build_at(now).unwrap();
    let status = serve(site.out());
    let customer = tempfile::tempdir().unwrap();
    std::fs::write(
        customer.path().join("index.html"),
        format!("<!doctype html><p>Our product</p><div data-pharos-status></div><script src=\"{status}/embed.js\" async></script>"),
    )
    .unwrap();
    let page = format!("{}/index.html", serve(customer.path().to_path_buf()));
    let tab = chrome.tab(true);
    assert_eq!(
        badge_text(&mut chrome, &tab, &page),
        (
            "Minor Service Outage".to_string(),
            "https://status.acme.test/".to_string()
        )
    );

    // When publishing stops, embeds say their data may be old.
    site.build_at(now - chrono::Duration::days(1)).unwrap();
    let (text, _) = badge_text(&mut chrome, &tab, &page);
    assert_eq!(text, "Minor Service Outage (status may be out of date)");
}

/// Where CI keeps files for humans to look at (`.ci/run` prints the folder).
fn artifacts(sub: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("artifacts").join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The front page and an incident page, served over HTTP as from the CDN, in light and dark
/// mode: saved as PNGs for a human to look at, and checked to really differ by scheme. The
/// page's own policy is in force here: the stylesheet loads under it and nothing is blocked.
#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn screenshots_in_light_and_dark_mode() {
    let (mut chrome, _watchdog) = browser();
    let site = TestSite::fixture("basic");
    site.build();
    let base = serve(site.out());
    let dir = artifacts("screenshots");
    let tab = chrome.tab(true);
    chrome.call(Some(&tab), "Log.enable", serde_json::json!({}));
    for (name, path) in [
        ("index", "index.html"),
        ("incident", "incidents/2026-11-24-website-down/index.html"),
    ] {
        let mut shots = Vec::new();
        for dark in [false, true] {
            chrome.color_scheme(&tab, dark);
            chrome.open(&tab, &format!("{base}/{path}"));
            // The stylesheet applied (CSP allows it): the body has the theme's background.
            let background = chrome.eval(&tab, "getComputedStyle(document.body).backgroundColor");
            let png = chrome.screenshot(&tab);
            assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}");
            let file = dir.join(format!(
                "{name}-{}.png",
                if dark { "dark" } else { "light" }
            ));
            std::fs::write(&file, &png).unwrap();
            shots.push((background, png));
        }
        assert_ne!(
            shots[0].0, shots[1].0,
            "{name}: dark mode changes the background"
        );
        // No console errors (a CSP violation, a missing file) on the page.
        let errors: Vec<&serde_json::Value> = chrome
            .events
            .iter()
            .filter(|e| e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    eprintln!("screenshots in {}", dir.display());
}

/// The Content-Security-Policy of every page forbids inline script: a page that tries one
/// (with JavaScript on, policy in force) does not run it.
#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn the_page_policy_blocks_inline_script() {
    let (mut chrome, _watchdog) = browser();
    let site = TestSite::fixture("basic");
    site.build();
    let index = site.read("index.html");
    let csp = index
        .split("http-equiv=\"Content-Security-Policy\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSP meta");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // The same page with a script added after the policy: the browser refuses to run it.
    let probe = index.replacen(
        "</head>",
        "<script>document.title='scripted'</script></head>",
        1,
    );
    std::fs::write(site.out().join("probe.html"), probe).unwrap();
    let base = serve(site.out());
    let tab = chrome.tab(true);
    chrome.open(&tab, &format!("{base}/probe.html"));
    let title = chrome.eval(&tab, "document.title");
    assert_ne!(title, "scripted", "inline script ran despite the policy");
}
