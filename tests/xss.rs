//! Hostile text in every field that reaches a page, feed or JSON file produces no executable
//! markup, and template syntax is shown literally.

mod common;

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
fn check_dom(path: &str, html: &str) {
    let doc = Html::parse_document(html);
    let all = Selector::parse("*").unwrap();
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
        if name == "meta" {
            assert!(
                el.value().attr("http-equiv").is_none(),
                "{path}: meta http-equiv"
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
    atom_syndication::Feed::read_from(&files["history.atom"][..]).expect("Atom still parses");
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
