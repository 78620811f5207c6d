//! The admin CLI run as a user runs it: `pharos init`, `validate`, `incident ...`,
//! `maintenance ...`, `status`, `serve`, alone and next to a running daemon, mixed with edits
//! made by hand in an editor.

use crate::common;

use assert_cmd::Command;
use common::{free_port, wait_until};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn pharos(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("pharos").unwrap();
    c.env_remove("PHAROS_CONFIG")
        .env_remove("EDITOR")
        .env_remove("VISUAL")
        .current_dir(dir);
    c
}

/// Run `pharos ARGS` in `dir`; returns stdout, panics with stderr on failure.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = pharos(dir).args(args).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "pharos {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Run `pharos ARGS` expecting failure; returns (exit code, stderr).
fn fails(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = pharos(dir).args(args).output().unwrap();
    assert!(!out.status.success(), "pharos {args:?} should fail");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A site made by `pharos init`, without its example monitor (no network in tests), in `zone`.
fn init_site(zone: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    let config = read(dir.path(), "config.yaml");
    let start = config.find("monitors:").unwrap();
    let end = config.find("publish:").unwrap();
    let config = format!("{}{}", &config[..start], &config[end..])
        .replace("time_zone: UTC", &format!("time_zone: {zone}"));
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    dir
}

/// Run a command that creates something with `--json`; returns its id.
fn created(dir: &Path, args: &[&str]) -> String {
    let out = json(&ok(dir, &[args, &["--json"]].concat()));
    out["id"].as_str().unwrap().to_string()
}

fn open_incident_ids(dir: &Path) -> Vec<String> {
    json(&ok(dir, &["status", "--json"]))["open_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn init_scaffolds_a_site_that_validates_and_builds_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["init", "site"]);
    assert!(out.contains("created"), "{out}");
    let site = dir.path().join("site");
    for f in ["config.yaml", ".gitignore"] {
        assert!(site.join(f).is_file(), "{f}");
    }
    assert!(
        read(&site, "config.yaml").contains("# "),
        "the config has comments"
    );
    assert!(read(&site, ".gitignore").contains("/publish/"));
    ok(&site, &["validate"]);
    ok(&site, &["build"]);
    let index = read(&site, "publish/index.html");
    assert!(
        index.contains("Example maintenance"),
        "the sample maintenance is upcoming"
    );
    assert!(
        index.contains("Example incident"),
        "the sample incident is recent"
    );
    let (_, err) = fails(dir.path(), &["init", "site"]);
    assert!(err.contains("refusing to overwrite"), "{err}");
}

/// Every file under `dir`, as (path relative to it, text).
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((
                    rel,
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into(),
                ));
            }
        }
    }
    out
}

/// How to edit the samples is for the admin (in the file, in the CLI's output), never for
/// visitors: no page, feed or API document of the new site shows it.
#[test]
fn init_samples_keep_their_editing_instructions_off_the_public_site() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["init", "site"]);
    assert!(out.contains("examples: edit or delete them"), "{out}");
    let site = dir.path().join("site");
    let samples = files_under(&site.join("content"));
    assert_eq!(samples.len(), 2, "{samples:?}");
    for (file, text) in &samples {
        assert!(
            text.contains("edit it or delete this file"),
            "{file}: {text}"
        );
    }
    ok(&site, &["build"]);
    let published = files_under(&site.join("publish"));
    let shown = |file: &str, text: &str| {
        published
            .iter()
            .any(|(f, t)| f.starts_with(file) && f.ends_with("index.html") && t.contains(text))
    };
    assert!(
        shown("incidents/", "Response times are back to normal."),
        "the sample incident's page"
    );
    assert!(shown("index.html", "We are upgrading the API servers."));
    for (file, text) in &published {
        for instruction in [
            "delete this file",
            "edit it or delete",
            "This is an example",
            "Updates are",
            "Statuses:",
            "YAML comment",
            "pharos incident update",
        ] {
            assert!(!text.contains(instruction), "{file} shows {instruction:?}");
        }
    }
}

/// `pharos init DIR` ends with the `cd` to paste: it works in a shell whatever DIR holds.
#[test]
fn init_prints_a_cd_a_shell_runs_as_written() {
    for name in ["status", "My Site", "Bob's \"status\" $HOME", "-dash"] {
        let dir = tempfile::tempdir().unwrap();
        let out = ok(dir.path(), &["init", "--", name]);
        let next = out
            .lines()
            .find_map(|l| l.strip_prefix("Next: "))
            .unwrap_or_else(|| panic!("{out}"));
        let cd = next.split(" && ").next().unwrap();
        assert!(cd.starts_with("cd "), "{next}");
        let shell = std::process::Command::new("sh")
            .args(["-c", &format!("{cd} && pwd")])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(shell.status.success(), "{cd}: {shell:?}");
        let pwd = String::from_utf8(shell.stdout).unwrap();
        assert_eq!(
            Path::new(pwd.trim()).file_name().unwrap().to_str(),
            Some(name),
            "{cd}"
        );
    }
    // In the current folder there is nothing to cd into.
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["init"]);
    assert!(out.contains("Next: pharos build"), "{out}");
}

#[test]
fn an_incident_runs_from_first_report_to_postmortem_with_only_the_cli() {
    let site = init_site("Europe/Berlin");
    let dir = site.path();
    ok(dir, &["validate"]);

    // Open.
    let id = created(
        dir,
        &[
            "incident",
            "new",
            "Elevated API errors",
            "--component",
            "api=major_outage",
            "--message",
            "We are **investigating** errors on the API.",
            "--publish",
        ],
    );
    assert!(
        regex_like_id(&id, "elevated-api-errors"),
        "a readable id with the date: {id}"
    );
    let file = format!("content/incidents/{id}.md");
    let text = read(dir, &file);
    assert!(
        text.starts_with(
            "---\ntitle: \"Elevated API errors\"\ncomponents:\n  api: major_outage\n---\n## "
        ),
        "{text}"
    );
    assert!(
        text.contains("· investigating\nWe are **investigating** errors on the API.\n"),
        "{text}"
    );
    assert_eq!(open_incident_ids(dir), [id.as_str()], "the store has it");
    let summary = json(&read(dir, "publish/api/v2/summary.json"));
    assert_eq!(summary["incidents"][0]["id"], id.as_str());
    let api = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "api")
        .unwrap();
    assert_eq!(api["status"], "major_outage");
    let page = read(dir, &format!("publish/incidents/{id}/index.html"));
    assert!(
        page.contains("<strong>investigating</strong>"),
        "Markdown is rendered"
    );

    // Update, with a component getting better and another one affected.
    ok(
        dir,
        &[
            "incident",
            "update",
            &id,
            "--status",
            "identified",
            "--component",
            "api=degraded_performance",
            "--component",
            "website=partial_outage",
            "--message",
            "A bad deploy; rolling back.",
            "--publish",
        ],
    );
    let text = read(dir, &file);
    assert!(
        text.contains("  api: degraded_performance\n  website: partial_outage\n"),
        "{text}"
    );
    let first = text.find("A bad deploy").unwrap();
    assert!(first < text.find("We are").unwrap(), "newest update first");
    let summary = json(&read(dir, "publish/api/v2/summary.json"));
    assert_eq!(summary["incidents"][0]["status"], "identified");
    let statuses: Vec<(String, String)> = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().into(),
                c["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("api".into(), "degraded_performance".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("website".into(), "partial_outage".into())),
        "{statuses:?}"
    );

    // Resolve (default message).
    ok(dir, &["incident", "resolve", &id, "--publish"]);
    assert!(read(dir, &file).contains("· resolved\nThis incident has been resolved.\n"));
    assert!(open_incident_ids(dir).is_empty());
    let summary = json(&read(dir, "publish/api/v2/summary.json"));
    assert_eq!(summary["status"]["indicator"], "none");
    assert!(
        summary["incidents"].as_array().unwrap().is_empty(),
        "no unresolved incident"
    );

    // Postmortem from stdin, with its own headings.
    let out = pharos(dir)
        .args(["incident", "postmortem", &id, "--publish"])
        .write_stdin("## What happened\nA config change.\n\n## What we changed\nA check in CI.\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = read(dir, &file);
    assert!(
        text.contains("· postmortem\n### What happened\nA config change.\n\n### What we changed\n"),
        "{text}"
    );
    let page = read(dir, &format!("publish/incidents/{id}/index.html"));
    assert!(
        page.contains("What we changed") && page.contains("Postmortem"),
        "the page shows the postmortem"
    );

    // The same story through list and show.
    let list = json(&ok(dir, &["incident", "list", "--json"]));
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "postmortem");
    let shown = json(&ok(dir, &["incident", "show", &id, "--json"]));
    let statuses: Vec<&str> = shown["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["postmortem", "resolved", "identified", "investigating"]
    );
    assert!(ok(dir, &["incident", "list", "--open"]).contains("No open incidents"));
    ok(dir, &["validate"]);
}

/// `2026-11-26-elevated-api-errors`: a date, then the slug.
fn regex_like_id(id: &str, slug: &str) -> bool {
    let (date, rest) = id.split_at(10);
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok() && rest == format!("-{slug}")
}

#[test]
fn hand_edits_and_cli_edits_of_one_incident_are_both_kept() {
    let site = init_site("UTC");
    let dir = site.path();
    let id = created(
        dir,
        &[
            "incident",
            "new",
            "Slow search",
            "-C",
            "api",
            "-m",
            "Looking into it.",
        ],
    );
    let file = dir.join(format!("content/incidents/{id}.md"));
    // An admin fixes the title and adds a sentence in an editor...
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .replace(
            "title: \"Slow search\"",
            "title: Slow search results # renamed by hand",
        )
        .replace(
            "Looking into it.",
            "Looking into it. Only EU customers are affected.",
        );
    std::fs::write(&file, text).unwrap();
    // ... the CLI adds an update ...
    ok(
        dir,
        &[
            "incident",
            "update",
            &id,
            "--status",
            "monitoring",
            "-m",
            "A fix is out.",
        ],
    );
    // ... the admin adds another update by hand ...
    let text = std::fs::read_to_string(&file).unwrap();
    let (head, body) = text.split_at(text.find("## ").unwrap());
    std::fs::write(
        &file,
        format!("{head}## 2099-01-01 00:00 UTC · monitoring\nStill watching.\n\n{body}"),
    )
    .unwrap();
    // ... and the CLI resolves it.
    ok(dir, &["incident", "resolve", &id, "-m", "All good."]);
    let text = std::fs::read_to_string(&file).unwrap();
    for kept in [
        "# renamed by hand",
        "Only EU customers are affected.",
        "A fix is out.",
        "Still watching.",
        "All good.",
    ] {
        assert!(text.contains(kept), "{kept:?} lost:\n{text}");
    }
    let shown = json(&ok(dir, &["incident", "show", &id, "--json"]));
    assert_eq!(shown["title"], "Slow search results");
    assert_eq!(shown["updates"].as_array().unwrap().len(), 4);
}

#[test]
fn mistakes_get_clear_errors_with_hints_and_change_nothing() {
    let site = init_site("Europe/Berlin");
    let dir = site.path();
    let id = created(
        dir,
        &["incident", "new", "Outage", "-C", "api", "-m", "Down."],
    );
    let file = format!("content/incidents/{id}.md");
    let before = read(dir, &file);
    let typo = id.replace("outage", "outgae");
    let (code, err) = fails(
        dir,
        &[
            "incident",
            "update",
            &typo,
            "--status",
            "identified",
            "-m",
            "x",
        ],
    );
    assert_eq!(code, 2, "an unknown id is a usage error: {err}");
    assert!(err.contains(&format!("did you mean {id:?}")), "{err}");
    let (_, err) = fails(
        dir,
        &[
            "incident",
            "update",
            &id,
            "--status",
            "identified",
            "-C",
            "apii=major_outage",
            "-m",
            "x",
        ],
    );
    assert!(
        err.contains("unknown component \"apii\": did you mean \"api\"?"),
        "{err}"
    );
    let (_, err) = fails(
        dir,
        &["incident", "update", &id, "--status", "fixed", "-m", "x"],
    );
    assert!(
        err.contains("expected one of: investigating, identified"),
        "{err}"
    );
    // 02:30 on 29 March 2026 does not exist in Berlin (clocks jump from 02:00 to 03:00).
    let (_, err) = fails(
        dir,
        &[
            "incident",
            "update",
            &id,
            "--status",
            "identified",
            "--at",
            "2026-03-29 02:30",
            "-m",
            "x",
        ],
    );
    assert!(err.contains("does not exist in Europe/Berlin"), "{err}");
    // No text and no editor: a clear error. With $EDITOR, the text typed there is the update.
    let (_, err) = fails(dir, &["incident", "update", &id, "--status", "identified"]);
    assert!(err.contains("--message"), "no text and no editor: {err}");
    assert_eq!(read(dir, &file), before, "nothing was written");
    let out = pharos(dir)
        .env("EDITOR", "printf 'Typed in an editor.\\n' >")
        .args(["incident", "update", &id, "--status", "identified"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(read(dir, &file).contains("· identified\nTyped in an editor.\n"));
}

#[test]
fn validate_reports_every_problem_of_a_folder_of_broken_files() {
    let site = init_site("UTC");
    let dir = site.path();
    let files = [
        ("content/incidents/no-front-matter.md", "Just text.\n"),
        (
            "content/incidents/bad-status.md",
            "---\ntitle: X\ncomponents:\n  api: sideways\n---\n## 2026-11-20 10:00 UTC · investigating\nText.\n",
        ),
        (
            "content/incidents/unknown-component.md",
            "---\ntitle: X\ncomponents:\n  apii: major_outage\n---\n## 2026-11-20 10:00 UTC · investigating\nText.\n",
        ),
        (
            "content/incidents/bad-heading.md",
            "---\ntitle: X\n---\n## yesterday · investigating\nText.\n",
        ),
        (
            "content/maintenance/no-window.md",
            "---\ntitle: X\ncomponents: [api]\n---\nText.\n",
        ),
    ];
    for (rel, text) in files {
        std::fs::write(dir.join(rel), text).unwrap();
    }
    let (code, err) = fails(dir, &["validate"]);
    assert_eq!(code, 3);
    for expected in [
        "content/incidents/bad-heading.md:4:1: incident \"bad-heading\":",
        "content/incidents/bad-status.md:4:8: incident \"bad-status\": component \"api\": unknown component status \"sideways\"",
        "content/incidents/no-front-matter.md:1:1: incident \"no-front-matter\":",
        "content/incidents/unknown-component.md:4:3: incident \"unknown-component\": unknown component \"apii\" (did you mean \"api\"?)",
        "content/maintenance/no-window.md:",
        "5 problems found",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!dir.join("publish").exists(), "validate writes nothing");
}

/// `pharos ARGS` as a child process in `dir`; killed on drop.
fn spawn(dir: &Path, args: &[&str], log: &Path) -> common::Running {
    common::Running(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("pharos"))
            .args(args)
            .current_dir(dir)
            .env_remove("PHAROS_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn published(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join("publish").join(rel)).unwrap_or_default()
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Every command and subcommand clap knows (so a new one is checked without editing this list).
fn commands(c: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    for sub in c.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut p = path.clone();
        p.push(sub.get_name().to_string());
        out.push(p.clone());
        commands(sub, p, out);
    }
}

#[test]
fn every_command_has_help_with_examples() {
    use clap::CommandFactory;
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    commands(&pharos::cli::Cli::command(), Vec::new(), &mut all);
    let names: Vec<String> = all.iter().map(|p| p.join(" ")).collect();
    // The walk sees what was added lately too.
    for known in [
        "notify",
        "notify test",
        "notify send",
        "incident postmortem",
        "maintenance update",
    ] {
        assert!(
            names.iter().any(|n| n == known),
            "{known} missing from {names:?}"
        );
    }
    for args in &all {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let help = ok(dir.path(), &[&args[..], &["--help"]].concat());
        assert!(
            help.contains("Examples:\n  pharos"),
            "{args:?} --help has no examples:\n{help}"
        );
    }
}

/// Issue 15, defect 10: without an explicit impact an incident keeps the worst impact it
/// reached; a postmortem is refused while the incident is open.
#[test]
fn impact_is_the_worst_reached_and_a_postmortem_waits_for_the_resolution() {
    let site = init_site("Europe/Berlin");
    let dir = site.path();
    let id = created(
        dir,
        &[
            "incident",
            "new",
            "API errors",
            "-C",
            "api=partial_outage",
            "-m",
            "Looking.",
        ],
    );
    let impact = |dir: &Path| {
        json(&ok(dir, &["incident", "show", &id, "--json"]))["impact"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(impact(dir), "major");
    ok(
        dir,
        &[
            "incident",
            "update",
            &id,
            "--status",
            "monitoring",
            "-C",
            "api=degraded_performance",
            "-m",
            "Better.",
        ],
    );
    assert_eq!(impact(dir), "major", "lowering a component keeps the worst");
    ok(dir, &["build"]);
    let unresolved = json(&read(dir, "publish/api/v2/incidents/unresolved.json"));
    assert_eq!(unresolved["incidents"][0]["impact"], "major");
    assert!(
        read(dir, &format!("publish/incidents/{id}/index.html")).contains("Major"),
        "the page shows the worst impact"
    );
    // Worse raises it; an explicit impact wins.
    ok(
        dir,
        &[
            "incident",
            "update",
            &id,
            "--status",
            "identified",
            "-C",
            "api=major_outage",
            "-m",
            "Worse.",
        ],
    );
    assert_eq!(impact(dir), "critical");
    let file = dir.join(format!("content/incidents/{id}.md"));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("title:", "impact: minor\ntitle:", 1)).unwrap();
    // A hand edit is read once it has settled (daemon.settle), by the CLI too.
    wait_until(5, "an explicit impact wins", || impact(dir) == "minor");

    let before = read(dir, &format!("content/incidents/{id}.md"));
    let (code, err) = fails(
        dir,
        &["incident", "postmortem", &id, "-m", "What happened."],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("still open") && err.contains(&format!("pharos incident resolve {id}")),
        "{err}"
    );
    assert_eq!(
        read(dir, &format!("content/incidents/{id}.md")),
        before,
        "nothing written"
    );
    ok(dir, &["incident", "resolve", &id]);
    ok(
        dir,
        &["incident", "postmortem", &id, "-m", "What happened."],
    );
    assert!(read(dir, &format!("content/incidents/{id}.md")).contains("· postmortem\n"));
}

mod live;
mod maintenance;
mod subscribers;
mod usage;
