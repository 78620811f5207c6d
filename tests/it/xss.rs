//! Hostile text in every field that reaches a page, feed or JSON file produces no executable
//! markup, and template syntax is shown literally.

use crate::common;
use crate::common::browser as cdp;

use common::{TestSite, fixtures};
use scraper::{Html, Selector};

fn payloads() -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("xss-payloads.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// A YAML scalar that holds `s` exactly (JSON strings are YAML).
fn yaml(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// In the config, `${` starts an environment reference; `$${` is a literal.
fn config_yaml(s: &str) -> String {
    yaml(&s.replace("${", "$${"))
}

fn hostile_site(payloads: &[String]) -> TestSite {
    let site = TestSite::empty();
    let mut config = format!(
        "site:\n  title: {}\n  description: {}\n  base_url: https://status.evil.test\n  links:\n    - title: {}\n      url: https://ok.test\ngroups:\n  - id: g\n    name: {}\n    description: {}\ncomponents:\n",
        config_yaml(&payloads[0]),
        config_yaml(&payloads[1]),
        config_yaml(&payloads[2]),
        config_yaml(&payloads[3]),
        config_yaml(&payloads[4]),
    );
    for (i, p) in payloads.iter().enumerate() {
        config.push_str(&format!(
            "  - id: c{i}\n    name: {}\n    description: {}\n{}",
            config_yaml(p),
            config_yaml(p),
            if i % 2 == 0 { "    group: g\n" } else { "" }
        ));
    }
    site.write("config.yaml", &config);
    for (i, p) in payloads.iter().enumerate() {
        let status = if i % 3 == 0 {
            "investigating"
        } else {
            "resolved"
        };
        site.write(
            &format!("content/incidents/x{i:03}.md"),
            &format!(
                "---\ntitle: {}\ncomponents:\n  c{i}: major_outage\n---\n## 2026-11-2{} 10:00 UTC · {status}\n{p}\n\nMore: {p}\n",
                yaml(p),
                i % 6
            ),
        );
    }
    for (i, p) in payloads.iter().enumerate().step_by(7) {
        site.write(
            &format!("content/maintenance/m{i:03}.md"),
            &format!(
                "---\ntitle: {}\ncomponents: [c{i}]\nscheduled_for: 2026-11-26 13:00 UTC\nscheduled_until: 2026-12-0{} 15:00 UTC\n---\n{p}\n\n## 2026-11-26 13:10 UTC · in_progress\n{p}\n",
                yaml(p),
                1 + i % 5
            ),
        );
    }
    site
}

const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "background",
    "poster",
    "srcdoc",
];

/// What may never be in a page we render (our pages contain no script at all).
/// The default theme's Content-Security-Policy.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'";

fn check_dom(path: &str, html: &str) {
    let doc = Html::parse_document(html);
    let all = Selector::parse("*").unwrap();
    let mut seen_csp = false;
    for el in doc.select(&all) {
        let name = el.value().name();
        assert!(
            ![
                "script", "iframe", "object", "embed", "base", "form", "frame", "frameset",
                "style", "template", "math"
            ]
            .contains(&name),
            "{path}: <{name}> element in the DOM"
        );
        if name == "meta"
            && let Some(equiv) = el.value().attr("http-equiv")
        {
            // Only the theme's own policy, exactly as written.
            assert!(
                equiv == "Content-Security-Policy"
                    && el.value().attr("content") == Some(CSP)
                    && !std::mem::replace(&mut seen_csp, true),
                "{path}: meta http-equiv={equiv:?}"
            );
        }
        if name == "link" {
            let rel = el.value().attr("rel").unwrap_or("");
            assert!(
                ["stylesheet", "icon", "alternate"].contains(&rel),
                "{path}: unexpected <link rel={rel}>"
            );
        }
        for (attr, value) in el.value().attrs() {
            let attr = attr.to_ascii_lowercase();
            assert!(
                !attr.starts_with("on"),
                "{path}: event handler {attr}={value:?} on <{name}>"
            );
            assert!(attr != "style", "{path}: style attribute on <{name}>");
            if URL_ATTRS.contains(&attr.as_str()) {
                let v: String = value
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect::<String>()
                    .to_ascii_lowercase();
                let is_favicon = name == "link" && v.starts_with("data:image/svg+xml");
                assert!(
                    !v.starts_with("javascript:")
                        && !v.starts_with("vbscript:")
                        && (!v.starts_with("data:") || is_favicon),
                    "{path}: dangerous URL {attr}={value:?} on <{name}>"
                );
            }
        }
    }
    assert!(seen_csp, "{path}: no Content-Security-Policy");
}

#[test]
fn hostile_text_everywhere_produces_no_executable_markup() {
    let payloads = payloads();
    assert!(payloads.len() >= 50, "the corpus has at least 50 payloads");
    let site = hostile_site(&payloads);
    site.build();
    let files = site.files();
    let mut pages = 0;
    for (path, bytes) in &files {
        let text = String::from_utf8(bytes.clone()).unwrap();
        if path.ends_with(".html") {
            pages += 1;
            check_dom(path, &text);
        } else if path.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("{path}: invalid JSON: {e}"));
            assert!(
                !text.contains('<') && !text.contains('>'),
                "{path}: raw angle brackets in JSON"
            );
        } else if path.ends_with(".atom") || path.ends_with(".rss") || path.ends_with(".svg") {
            // Everything admin-written is escaped text inside the XML: no element can be injected.
            let lower = text.to_ascii_lowercase();
            assert!(
                !lower.contains("<script")
                    && !lower.contains("<img")
                    && !lower.contains("<svg onload"),
                "{path}: injected markup"
            );
        }
    }
    assert!(pages > payloads.len(), "every incident got a page");
    let mut feeds = 0;
    for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with(".atom")) {
        atom_syndication::Feed::read_from(&bytes[..])
            .unwrap_or_else(|e| panic!("{path}: Atom no longer parses: {e}"));
        feeds += 1;
    }
    assert_eq!(
        feeds,
        payloads.len() + 1,
        "history.atom and one feed per component"
    );
    rss::Channel::read_from(&files["history.rss"][..]).expect("RSS still parses");
    let ics = String::from_utf8(files["maintenance.ics"].clone()).unwrap();
    let unfolded = icalendar::parser::unfold(&ics);
    let cal = icalendar::parser::read_calendar(&unfolded).expect("iCalendar still parses");
    let events = cal.components.iter().filter(|c| c.name == "VEVENT").count();
    assert_eq!(
        events,
        payloads.len().div_ceil(7),
        "no event was injected through text"
    );
}

#[test]
fn template_syntax_is_shown_literally() {
    let payloads = payloads();
    let site = hostile_site(&payloads);
    site.build();
    for (i, p) in payloads.iter().enumerate() {
        if !(p.contains("{{") || p.contains("{%")) {
            continue;
        }
        let page = site.read(&format!("incidents/x{i:03}/index.html"));
        let doc = Html::parse_document(&page);
        let h1 = doc
            .select(&Selector::parse("h1").unwrap())
            .next()
            .unwrap()
            .text()
            .collect::<String>();
        assert_eq!(h1.trim(), p.trim(), "the title is shown as written");
    }
    let seven = site.read("incidents/x054/index.html");
    assert!(
        seven.contains("{{ 7*7 }}") && !seven.contains(">49<"),
        "{{ 7*7 }} is not evaluated"
    );
}

/// Installed in every page before its own scripts: records any call a payload could make.
const HOOK: &str = r#"(() => {
  const ran = [];
  Object.defineProperty(window, '__pharosRan', { value: ran });
  const note = (name) => function (...args) { ran.push(name + '(' + args.join(',') + ')'); };
  for (const f of ['alert', 'confirm', 'prompt', 'print', 'fetch', '__xss']) window[f] = note(f);
  const realEval = window.eval;
  window.eval = function (src) { ran.push('eval'); return realEval(src); };
  Object.defineProperty(window, '__pwned', { set(v) { ran.push('__pwned=' + v); }, get() {} });
})();"#;

/// Run in the page after it loaded (and a moment for autofocus and media errors): what ran, and
/// any event-handler attribute or script URL in the live DOM.
const AUDIT: &str = r#"new Promise((done) => setTimeout(() => {
  const handlers = [], urls = [], scripts = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const v = a.value.replace(/[\s\u0000-\u001f]/g, '').toLowerCase();
      if (a.name.toLowerCase().startsWith('on')) handlers.push(el.tagName + ' ' + a.name);
      if (/^(javascript|vbscript):/.test(v)) urls.push(el.tagName + ' ' + a.name);
    }
    if (el.tagName === 'SCRIPT') scripts.push(el.outerHTML.slice(0, 80));
  }
  done({ ran: window.__pharosRan, handlers, urls, scripts });
}, 20))"#;

/// Every page of the hostile site in headless Chromium with JavaScript on and the page's CSP
/// bypassed (so escaping, not CSP, is what is tested): no payload runs, and the DOM holds no
/// handler or script URL. Any script the browser compiles from the page is reported by the
/// debugger and fails the test too.
#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn no_hostile_text_runs_in_a_real_browser() {
    let (mut chrome, _watchdog) = cdp::browser();
    let payloads = payloads();
    assert!(
        payloads.len() >= 200,
        "the corpus has at least 200 payloads"
    );
    let site = hostile_site(&payloads);
    site.build();
    let base = cdp::serve(site.out());
    let tab = chrome.tab(true);
    chrome.bypass_csp(&tab);
    chrome.before_every_page(&tab, HOOK);
    chrome.call(Some(&tab), "Debugger.enable", serde_json::json!({}));
    let files = site.files();
    // Every page but most component pages: their text is also on the front page.
    let pages: Vec<&String> = files
        .keys()
        .filter(|p| p.ends_with(".html"))
        .filter(|p| !p.starts_with("components/") || p.starts_with("components/c1"))
        .collect();
    assert!(pages.len() > payloads.len(), "{} pages", pages.len());
    for path in pages {
        let url = format!("{base}/{path}");
        chrome.open(&tab, &url);
        let audit = chrome.eval(&tab, AUDIT);
        assert_eq!(
            audit,
            serde_json::json!({"ran": [], "handlers": [], "urls": [], "scripts": []}),
            "{path}"
        );
        // Scripts compiled from the page itself (inline, handlers, javascript: URLs) carry its URL;
        // the hook and the audit have none.
        let compiled: Vec<&serde_json::Value> = chrome
            .events
            .iter()
            .filter(|e| e["method"] == "Debugger.scriptParsed")
            .filter(|e| e["params"]["url"].as_str().is_some_and(|u| !u.is_empty()))
            .collect();
        assert!(compiled.is_empty(), "{path}: scripts ran: {compiled:?}");
    }

    // The widget: embed.js on a customer's page draws hostile names from widget.json as text.
    let customer = tempfile::tempdir().unwrap();
    std::fs::write(
        customer.path().join("index.html"),
        format!(
            "<!doctype html><div data-pharos-status></div><script src=\"{base}/embed.js\"></script>"
        ),
    )
    .unwrap();
    let page = format!("{}/index.html", cdp::serve(customer.path().to_path_buf()));
    chrome.open(&tab, &page);
    for _ in 0..100 {
        if chrome.eval(&tab, "document.querySelector('a.pharos-status') !== null") == true {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let audit = chrome.eval(&tab, AUDIT);
    assert_eq!(
        audit["ran"],
        serde_json::json!([]),
        "embed.js ran a payload"
    );
    assert_eq!(audit["handlers"], serde_json::json!([]), "embed.js");
    // Only embed.js itself was compiled, no script came from the widget's data.
    let compiled: Vec<String> = chrome
        .events
        .iter()
        .filter(|e| e["method"] == "Debugger.scriptParsed")
        .filter_map(|e| e["params"]["url"].as_str().map(String::from))
        .filter(|u| !u.is_empty())
        .collect();
    assert!(
        compiled.iter().all(|u| u.ends_with("/embed.js")),
        "{compiled:?}"
    );
}
