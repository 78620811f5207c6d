//! Parsers on hostile 64 KiB inputs: every parser (incident and maintenance files, Markdown,
//! config, conditions) on pathological inputs (deep nesting, runs of Markdown punctuation, YAML
//! aliases, long conditions) and on each fuzz corpus file grown to 64 KiB; prints the slowest
//! per parser against the budget (a 64 KiB input parses in under 50 ms) and saves the figures
//! for the summary.
//!
//!     cargo bench --bench parse [-- --all]
//!
//! PHAROS_SLOW_MS sets the budget shown (default 50), PHAROS_SLOW_RUNS the runs per input (best
//! of, default 3). Nothing fails on a time.

#[path = "common/report.rs"]
mod report;

use pharos::condition::{Observed, parse as parse_condition};
use pharos::config::Config;
use pharos::content::{
    Kind, ParseContext, SourceFile, parse_incident, parse_maintenance, render_markdown,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SIZE: usize = 64 * 1024;

/// `unit` repeated until the result is `SIZE` bytes (cut on a char boundary).
fn fill(prefix: &str, unit: &str, suffix: &str) -> String {
    let mut s = String::with_capacity(SIZE + unit.len());
    s.push_str(prefix);
    let room = SIZE.saturating_sub(suffix.len());
    while s.len() + unit.len() <= room {
        s.push_str(unit);
    }
    s.push_str(suffix);
    s
}

/// `open` N times, `mid`, `close` N times, N as large as fits.
fn nest(prefix: &str, open: &str, mid: &str, close: &str, suffix: &str) -> String {
    let room = SIZE - prefix.len() - mid.len() - suffix.len();
    let n = room / (open.len() + close.len());
    format!("{prefix}{}{mid}{}{suffix}", open.repeat(n), close.repeat(n))
}

const INCIDENT_HEAD: &str = "---\ntitle: T\ncomponents:\n  api: partial_outage\n---\n## 2026-11-20 14:02 UTC · investigating\n";

fn ctx() -> ParseContext {
    ParseContext {
        tz: chrono_tz::Europe::Berlin,
        components: ["platform", "api", "dashboard", "database", "website"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>(),
        // What is measured is the parser, not the limits.
        limits: pharos::config::Limits {
            file_size: pharos::config::Size(u64::MAX),
            updates: usize::MAX,
        },
    }
}

fn content_cases() -> Vec<(String, String)> {
    let md_units: &[(&str, &str)] = &[
        ("stars", "*"),
        ("underscores", "_"),
        ("brackets", "["),
        ("close-brackets", "]"),
        ("backticks", "`"),
        ("tildes", "~"),
        ("lt", "<"),
        ("pipes", "|"),
        ("star-a", "*a"),
        ("star-a-us", "*a_"),
        ("strong-em", "***a**b*"),
        ("link-open", "[a]("),
        ("image-open", "!["),
        ("bracket-paren", "[]("),
        ("angle-autolink", "<http://a"),
        ("entities", "&amp;"),
        ("backslash", "\\"),
        ("html-b", "<b>"),
        ("html-div", "<div>"),
        ("html-a", "<a href=x>"),
        ("html-table", "<table><tr><td>"),
        ("html-comment", "<!--"),
        ("html-formatting", "<b><i><u><s><em><strong>"),
        ("emph-mixed", "*_*_"),
        ("code-runs", "`` ` "),
        ("link-refs", "[a]: /u\n"),
        ("link-ref-uses", "[a][b] "),
        ("footnotes", "[^a] "),
        ("task-items", "- [ ] x\n"),
        ("table-rows", "|a|b|\n|-|-|\n"),
        ("headings", "## x\n"),
        ("setext", "a\n=\n"),
        ("fences", "```\n"),
        ("blank-lines", "\n"),
        ("spaces", " "),
        ("tabs-list", "\t- a\n"),
        ("unicode", "é·✓"),
        ("nul-ish", "\u{0}\u{1}"),
    ];
    let mut cases = Vec::new();
    for (name, unit) in md_units {
        cases.push((
            format!("incident body: {name}"),
            fill(INCIDENT_HEAD, unit, ""),
        ));
    }
    // One long line, and a table with many columns.
    cases.push((
        "incident body: long word".into(),
        fill(INCIDENT_HEAD, "a", ""),
    ));
    let n = (SIZE - INCIDENT_HEAD.len() - 16) / 4;
    cases.push((
        "incident body: wide table".into(),
        format!("{INCIDENT_HEAD}{}|\n{}|\n", "|a".repeat(n), "|-".repeat(n)),
    ));
    // Nesting.
    for (name, open) in [
        ("nested lists", "- "),
        ("nested ordered lists", "1. "),
        ("nested quotes", "> "),
        ("quote+list", "> - "),
    ] {
        cases.push((
            format!("incident body: {name} (one line)"),
            fill(INCIDENT_HEAD, open, "x\n"),
        ));
    }
    let mut s = String::from(INCIDENT_HEAD);
    let mut depth = 0;
    while s.len() < SIZE - 200 {
        s.push_str(&"  ".repeat(depth));
        s.push_str("- item\n");
        depth += 1;
    }
    cases.push(("incident body: indented list staircase".into(), s));
    let mut s = String::from(INCIDENT_HEAD);
    let mut depth = 1;
    while s.len() < SIZE - 200 {
        s.push_str(&">".repeat(depth));
        s.push_str(" q\n");
        depth += 1;
    }
    cases.push(("incident body: quote staircase".into(), s));
    cases.push((
        "incident body: nested links".into(),
        nest(INCIDENT_HEAD, "[", "a", "](u)", ""),
    ));
    cases.push((
        "incident body: nested brackets".into(),
        nest(INCIDENT_HEAD, "[", "a", "]", ""),
    ));
    cases.push((
        "incident body: nested emphasis".into(),
        nest(INCIDENT_HEAD, "*a ", "b", " a*", ""),
    ));
    cases.push((
        "incident body: nested html".into(),
        nest(INCIDENT_HEAD, "<div>", "x", "</div>", ""),
    ));
    cases.push((
        "incident body: nested list items in html".into(),
        fill(INCIDENT_HEAD, "<ul><li>", ""),
    ));
    // Deep Markdown nesting is cheap on the plain path; an image sends it through the sanitizer.
    cases.push((
        "incident body: nested quotes + image".into(),
        fill(INCIDENT_HEAD, ">", " ![x](y)\n"),
    ));
    cases.push((
        "incident body: nested spans".into(),
        nest(INCIDENT_HEAD, "<span>", "x", "</span>", ""),
    ));
    // Many sections, and many bad headings (one problem each).
    cases.push((
        "incident: many updates".into(),
        fill(
            "---\ntitle: T\n---\n",
            "## 2026-11-20 14:02 UTC · investigating\nx\n",
            "",
        ),
    ));
    cases.push((
        "incident: many bad headings".into(),
        fill("---\ntitle: T\n---\n", "## x\n", ""),
    ));
    cases.push((
        "incident: long heading".into(),
        fill("---\ntitle: T\n---\n## ", "2026", " · investigating\nx\n"),
    ));
    cases.push((
        "incident: heading of separators".into(),
        fill("---\ntitle: T\n---\n## ", "·|- ", "\nx\n"),
    ));
    // Front matter.
    cases.push((
        "front: many unknown components".into(),
        fill("---\ntitle: T\ncomponents:\n", "  apx: down\n", "---\n"),
    ));
    let mut s = String::from("---\ntitle: T\ncomponents:\n");
    let mut i = 0;
    while s.len() < SIZE - 100 {
        s.push_str(&format!("  c{i}: partial_outage\n"));
        i += 1;
    }
    s.push_str("---\n## 2026-11-20 14:02 UTC · investigating\nx\n");
    cases.push(("front: many distinct unknown components".into(), s));
    cases.push((
        "front: long unknown component id".into(),
        fill("---\ntitle: T\ncomponents:\n  ", "apiz", ": down\n---\n"),
    ));
    cases.push((
        "front: long key + long list".into(),
        format!(
            "---\ntitle: T\ncomponents:\n  {}: [{}0]\n---\n",
            "k".repeat(SIZE / 2),
            "0,".repeat(SIZE / 4 - 40)
        ),
    ));
    cases.push((
        "front: long title".into(),
        fill(
            "---\ntitle: ",
            "x",
            "\n---\n## 2026-11-20 14:02 UTC · investigating\nx\n",
        ),
    ));
    cases.push((
        "front: billion laughs".into(),
        billion_laughs(
            "---\ntitle: T\ncomponents:\n  api: partial_outage\nx: ",
            "---\n",
        ),
    ));
    cases.push((
        "front: anchors in components".into(),
        billion_laughs("---\ntitle: T\ncomponents:\n  api: ", "---\n"),
    ));
    cases.push((
        "front: deep flow seq".into(),
        nest("---\ntitle: T\ncomponents: {a: ", "[", "1", "]", "}\n---\n"),
    ));
    cases.push((
        "front: deep flow map".into(),
        nest("---\ntitle: T\ncomponents: ", "{a: ", "1", "}", "\n---\n"),
    ));
    cases.push((
        "front: deep block seq".into(),
        fill("---\ntitle: T\ncomponents: {}\nx:\n", "- ", "1\n---\n"),
    ));
    cases.push((
        "front: many documents".into(),
        fill("---\ntitle: T\n", "...\n--- \n", "---\n"),
    ));
    cases.push((
        "front: never closed".into(),
        fill("---\ntitle: T\n", "a: b\n", ""),
    ));
    cases.push((
        "front: many lines of dashes".into(),
        fill("---\n", "--- x\n", ""),
    ));
    cases.push((
        "maintenance: long schedule".into(),
        fill(
            "---\ntitle: T\nschedule: \"",
            "* ",
            "\"\nduration: 1h\n---\n",
        ),
    ));
    cases.push((
        "maintenance: long duration".into(),
        fill(
            "---\ntitle: T\nschedule: \"0 3 * * *\"\nduration: ",
            "1h",
            "\n---\n",
        ),
    ));
    cases.push((
        "maintenance: many components".into(),
        fill(
            "---\ntitle: T\nschedule: \"0 3 * * *\"\nduration: 1h\ncomponents: [",
            "api,",
            "api]\n---\n",
        ),
    ));
    cases
}

/// Nine levels of ten aliases each (10^9 nodes if expanded), padded to 64 KiB with a comment.
fn billion_laughs(prefix: &str, suffix: &str) -> String {
    let mut y = String::from(prefix);
    y.push_str("&a0 [\"lol\"]\n");
    let mut yaml = String::new();
    for i in 1..10 {
        yaml.push_str(&format!(
            "l{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(",")
        ));
    }
    y.push_str(&yaml);
    fill(&y, "#", &format!("\n{suffix}"))
}

fn config_cases() -> Vec<(String, String)> {
    let head = "site:\n  title: T\n  base_url: https://status.example.com\n";
    let mut cases = Vec::new();
    let mut s = format!("{head}components:\n");
    let mut i = 0;
    while s.len() < SIZE - 100 {
        s.push_str(&format!("  - id: c{i}\n    name: C{i}\n"));
        i += 1;
    }
    cases.push(("many components".into(), s));
    let mut s = format!("{head}components:\n  - id: api\n    name: API\nmonitors:\n");
    let mut i = 0;
    while s.len() < SIZE - 200 {
        s.push_str(&format!("  - id: m{i}\n    component: api\n    kind: http\n    url: https://x/{i}\n    conditions: ['status == 200']\n"));
        i += 1;
    }
    cases.push(("many monitors".into(), s));
    cases.push((
        "duplicate component ids".into(),
        fill(
            &format!("{head}components:\n"),
            "  - {id: a, name: A}\n",
            "",
        ),
    ));
    cases.push((
        "invalid ids".into(),
        fill(
            &format!("{head}components:\n"),
            "  - {id: A!, name: A}\n",
            "",
        ),
    ));
    cases.push((
        "long invalid id".into(),
        fill(
            &format!("{head}components:\n  - name: A\n    id: "),
            "Ab!",
            "\n",
        ),
    ));
    cases.push(("long condition".into(), fill(&format!("{head}components: [{{id: a, name: A}}]\nmonitors:\n  - id: m\n    component: a\n    kind: http\n    url: https://x\n    conditions:\n      - '"), "! ", "'\n")));
    cases.push((
        "env references".into(),
        fill(&format!("{head}  description: \""), "${A}", "\"\n"),
    ));
    cases.push((
        "escaped env references".into(),
        fill(&format!("{head}  description: \""), "$${", "\"\n"),
    ));
    cases.push((
        "unclosed env reference".into(),
        fill(&format!("{head}  description: \"${{"), "A", "\"\n"),
    ));
    cases.push((
        "billion laughs".into(),
        billion_laughs(&format!("{head}x: "), ""),
    ));
    cases.push((
        "deep flow seq".into(),
        nest(&format!("{head}x: "), "[", "1", "]", "\n"),
    ));
    cases.push((
        "deep flow map".into(),
        nest(&format!("{head}x: "), "{a: ", "1", "}", "\n"),
    ));
    cases.push(("deep block map".into(), {
        let mut s = format!("{head}x:\n");
        let mut d = 1;
        while s.len() < SIZE - 200 {
            s.push_str(&" ".repeat(d));
            s.push_str("a:\n");
            d += 1;
        }
        s
    }));
    cases.push((
        "long key + long list".into(),
        format!(
            "{head}{}: [{}0]\n",
            "k".repeat(SIZE / 2),
            "0,".repeat(SIZE / 4 - 60)
        ),
    ));
    cases.push(("many unknown keys".into(), fill(head, "  zz: 1\n", "")));
    cases.push((
        "long string".into(),
        fill(&format!("{head}  description: "), "x", "\n"),
    ));
    cases.push((
        "long single-quoted escapes".into(),
        fill(&format!("{head}  description: '"), "''", "'\n"),
    ));
    cases.push((
        "long double-quoted escapes".into(),
        fill(&format!("{head}  description: \""), "\\u00e9", "\"\n"),
    ));
    cases.push((
        "long time zone".into(),
        fill(&format!("{head}  time_zone: "), "Europe/", "\n"),
    ));
    cases.push(("long durations".into(), fill(&format!("{head}components: [{{id: a, name: A}}]\nmonitors:\n  - id: m\n    component: a\n    kind: tcp\n    host: h\n    port: 1\n    interval: "), "1s", "\n")));
    cases.push(("long status spec".into(), fill(&format!("{head}components: [{{id: a, name: A}}]\nmonitors:\n  - id: m\n    component: a\n    kind: http\n    url: https://x\n    expected_status: ["), "2xx,", "200]\n")));
    cases.push((
        "long cron".into(),
        fill(
            &format!("{head}schedules:\n  - id: s\n    action: publish\n    cron: \""),
            "* ",
            "\"\n",
        ),
    ));
    cases.push(("tags and anchors".into(), fill(head, "x: !!str &a 1\n", "")));
    cases.push(("tabs".into(), fill(head, "\t", "\n")));
    cases.push(("nothing but comments".into(), fill("", "#\n", "")));
    cases
}

fn condition_cases() -> Vec<(String, String)> {
    let mut cases = Vec::new();
    for (name, unit) in [
        ("lone bangs", "! "),
        ("bangs", "!"),
        ("operators", "= "),
        ("operator run", "="),
        ("words", "a "),
        ("quotes", "\"\" "),
        ("backslashes in string", "\\"),
        ("open parens", "("),
        ("paren pairs", "()"),
        ("dots", "."),
        ("brackets", "["),
        ("index steps", "[0]"),
        ("digits", "1"),
        ("spaces", " "),
        ("unicode", "é"),
        ("wide unicode", "𝔸"),
        ("bang contains", "!contains "),
    ] {
        cases.push((name.to_string(), fill("", unit, "")));
    }
    cases.push((
        "deep parens".into(),
        nest("", "(", "status == 200", ")", ""),
    ));
    cases.push(("long json path".into(), fill("$.", "a.", "a == 1")));
    cases.push(("long json index path".into(), fill("$.a", "[0]", " == 1")));
    cases.push(("long body path".into(), fill("body.", "[1]", " == 1")));
    cases.push(("long number".into(), fill("status == ", "9", "")));
    cases.push(("long fraction".into(), fill("status == 0.", "1", "")));
    cases.push(("long duration".into(), fill("response_time < ", "1ms", "")));
    cases.push((
        "long duration digits".into(),
        fill("response_time < ", "1", "ms"),
    ));
    cases.push(("long string".into(), fill("body contains \"", "x", "\"")));
    cases.push((
        "long escaped string".into(),
        fill("body contains \"", "\\\"", "\""),
    ));
    cases.push((
        "unclosed string".into(),
        fill("body contains \"", "\\x", ""),
    ));
    cases.push(("long bare word".into(), fill("dns_rcode == ", "A", "")));
    cases.push(("long lowercase word".into(), fill("dns_rcode == ", "a", "")));
    cases.push(("long field".into(), fill("", "a", " == 1")));
    cases
}

/// Each corpus file grown to 64 KiB: repeated whole, and (content) with its body repeated.
fn corpus_cases(dir: &Path, grow_body: bool) -> Vec<(String, String)> {
    let mut cases = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return cases;
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        let name = f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .take(16)
            .collect::<String>();
        cases.push((format!("corpus {name} repeated"), fill("", &text, "")));
        if text.len() < SIZE {
            // Padded: the file itself, then filler that changes nothing (trailing spaces/lines).
            cases.push((format!("corpus {name} padded"), fill(&text, "\n", "")));
        }
        if grow_body
            && let Some(end) = text
                .get(4..)
                .and_then(|t| t.find("\n---"))
                .map(|i| i + 4 + 4)
        {
            let (head, body) = text.split_at(end.min(text.len()));
            if !body.trim().is_empty() {
                cases.push((format!("corpus {name} body repeated"), fill(head, body, "")));
            }
        }
    }
    cases
}

/// Best of `runs`; an input slower than a second is timed once.
fn time(runs: usize, f: &mut dyn FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        if best > Duration::from_secs(1) {
            break;
        }
    }
    best
}

/// Print the slowest inputs of one parser; returns its row for the summary.
fn show(
    parser: &str,
    mut results: Vec<(String, usize, Duration)>,
    all: bool,
    budget: Duration,
) -> serde_json::Value {
    results.sort_by_key(|r| std::cmp::Reverse(r.2));
    let over = results.iter().filter(|r| r.2 > budget).count();
    println!(
        "== {parser}: {} inputs, {} over {} ms",
        results.len(),
        over,
        budget.as_millis()
    );
    for (name, len, d) in results.iter().take(if all { usize::MAX } else { 5 }) {
        println!(
            "   {:>9.3} ms  {:>6} B  {name}",
            d.as_secs_f64() * 1000.0,
            len
        );
    }
    let (name, len, d) = results.first().cloned().unwrap_or_default();
    serde_json::json!({
        "parser": parser,
        "inputs": results.len(),
        "over_budget": over,
        "budget_ms": budget.as_millis() as u64,
        "slowest_ms": d.as_secs_f64() * 1000.0,
        "slowest_input": name,
        "slowest_bytes": len,
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let all = std::env::args().any(|a| a == "--all");
    let runs: usize = std::env::var("PHAROS_SLOW_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let budget = Duration::from_millis(
        std::env::var("PHAROS_SLOW_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50),
    );
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let ctx = ctx();
    let mut rows = Vec::new();

    let mut cases = content_cases();
    cases.extend(corpus_cases(&corpus.join("content"), true));
    let mut results = Vec::new();
    for (name, text) in cases {
        let src = |kind: Kind| SourceFile {
            kind,
            id: "slow".into(),
            path: PathBuf::from("content/x/slow.md"),
            text: text.clone(),
            loaded: true,
            hash: String::new(),
        };
        let (inc, mnt) = (src(Kind::Incident), src(Kind::Maintenance));
        let body = text.find("\n---").map_or(text.as_str(), |i| &text[i + 4..]);
        let d_inc = time(runs, &mut || {
            drop(std::hint::black_box(parse_incident(&inc, &ctx)))
        });
        let d_mnt = time(runs, &mut || {
            drop(std::hint::black_box(parse_maintenance(&mnt, &ctx)))
        });
        let d_md = time(runs, &mut || {
            drop(std::hint::black_box(render_markdown(body)))
        });
        results.push((format!("{name} [incident]"), text.len(), d_inc));
        results.push((format!("{name} [maintenance]"), text.len(), d_mnt));
        results.push((format!("{name} [render_markdown]"), body.len(), d_md));
    }
    rows.push(show("content", results, all, budget));

    let mut cases = config_cases();
    cases.extend(corpus_cases(&corpus.join("config"), false));
    let results = cases
        .into_iter()
        .map(|(name, text)| {
            let d = time(runs, &mut || {
                drop(std::hint::black_box(Config::parse(
                    &text,
                    Path::new("config.yaml"),
                )))
            });
            (name, text.len(), d)
        })
        .collect();
    rows.push(show("config", results, all, budget));

    let mut cases = condition_cases();
    cases.extend(corpus_cases(&corpus.join("condition"), false));
    let obs = Observed {
        status: Some(200),
        body: Some(r#"{"status":"ok","data":{"state":"UP"}}"#.into()),
        ..Observed::default()
    };
    let results = cases
        .into_iter()
        .map(|(name, text)| {
            let d = time(runs, &mut || {
                if let Ok(c) = std::hint::black_box(parse_condition(&text)) {
                    let _ = c.eval(&obs);
                }
            });
            (name, text.len(), d)
        })
        .collect();
    rows.push(show("condition", results, all, budget));

    report::save(
        "parse",
        &serde_json::json!({"machine": report::machine(), "rows": rows}),
    );
}
