//! Path and key traversal: hostile ids and slugs (`..`, `%2f`, NUL, absolute paths, 300-character
//! names, Unicode look-alikes) in every place an id becomes a file name or an object key are
//! rejected with a clear error naming the file, and nothing is written outside the site's folder.

use crate::common;

use assert_cmd::Command;
use common::TestSite;
use std::collections::BTreeSet;
use std::path::Path;

/// Ids that must never become a path segment.
fn hostile_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "..",
        ".",
        "../escape",
        "a/../../escape",
        "/tmp/escape",
        "%2e%2e%2fescape",
        "a%2fb",
        "a\\b",
        "..\\escape",
        "a\u{0}b",
        "аpi",         // Cyrillic a
        "ａｐｉ",      // full-width
        "api\u{202e}", // right-to-left override
        "api\u{200b}", // zero-width space
        "API",
        "a b",
        ".hidden",
        "-dash",
        "",
        "~root",
        "file:///etc/passwd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ids.push("a".repeat(300));
    ids
}

/// Every path under `dir`, relative, but the site's database (opened before content is read).
fn tree(dir: &Path) -> BTreeSet<String> {
    tree_all(dir)
        .into_iter()
        .filter(|p| !p.contains("pharos.db"))
        .collect()
}

fn tree_all(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

fn pharos(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::cargo_bin("pharos")
        .unwrap()
        .env_remove("PHAROS_CONFIG")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A site in its own folder inside `outer`, so anything written beside it shows up.
fn site_in(outer: &Path) -> std::path::PathBuf {
    let site = outer.join("site");
    common::copy_dir(&common::fixtures().join("sites").join("basic"), &site);
    site
}

#[test]
fn hostile_ids_in_the_config_are_rejected_with_the_line() {
    for id in hostile_ids() {
        if id.contains('\0') {
            continue; // YAML cannot carry NUL in a plain config file; see the content test
        }
        for (what, edit) in [
            ("component", "  - id: web\n"),
            ("group", "  - id: core\n"),
            ("monitor", "  - id: api-health\n"),
        ] {
            let outer = tempfile::tempdir().unwrap();
            let site = site_in(outer.path());
            let config = std::fs::read_to_string(site.join("config.yaml")).unwrap();
            let quoted = serde_json::to_string(&id).unwrap();
            let old_id = edit.trim_start_matches("  - id: ").trim_end();
            let hostile = config.replacen(edit, &format!("  - id: {quoted}\n"), 1);
            assert!(config.contains(old_id));
            assert_ne!(hostile, config, "{what}");
            std::fs::write(site.join("config.yaml"), &hostile).unwrap();
            let before = tree(outer.path());
            let (ok, stderr) = pharos(&site, &["build"]);
            assert!(!ok, "{what} id {id:?} was accepted");
            assert!(
                stderr.contains("config.yaml:") && (stderr.contains("id") || stderr.contains("ID")),
                "{what} id {id:?}: the error names the file, line and the id:\n{stderr}"
            );
            assert_eq!(
                tree(outer.path()),
                before,
                "{what} id {id:?} wrote something"
            );
        }
    }
}

#[test]
fn hostile_content_file_names_are_rejected_and_nothing_escapes() {
    // A file name holds at most 255 bytes: 200 characters still break the 100-character limit.
    for id in hostile_ids().into_iter().chain(["b".repeat(200)]) {
        if id.is_empty() || id.contains('/') || id.contains('\0') || id == "." || id == ".." {
            continue; // not a file name a folder can hold
        }
        if id.len() > 255 {
            continue; // not a file name a folder can hold
        }
        if id.starts_with('.') {
            continue; // hidden files are skipped by design (editors' swap files)
        }
        for folder in ["incidents", "maintenance"] {
            let outer = tempfile::tempdir().unwrap();
            let site = site_in(outer.path());
            let file = site.join("content").join(folder).join(format!("{id}.md"));
            let text = if folder == "incidents" {
                "---\ntitle: Hostile\ncomponents:\n  api: major_outage\n---\n## 2026-11-20 10:00 UTC · resolved\nx\n"
            } else {
                "---\ntitle: Hostile\ncomponents: [api]\nscheduled_for: 2026-12-01 10:00 UTC\nscheduled_until: 2026-12-01 11:00 UTC\n---\nx\n"
            };
            std::fs::write(&file, text).unwrap();
            let before = tree(outer.path());
            let (ok, stderr) = pharos(&site, &["build"]);
            assert!(!ok, "{folder} file {id:?} was accepted");
            assert!(
                stderr.contains(&format!("{id}.md")) && stderr.contains("id"),
                "{folder} file {id:?}: the error names the file:\n{stderr}"
            );
            assert_eq!(
                tree(outer.path()),
                before,
                "{folder} file {id:?} wrote something"
            );
        }
    }
}

#[test]
fn hostile_ids_on_the_command_line_touch_nothing() {
    let outer = tempfile::tempdir().unwrap();
    let site = site_in(outer.path());
    let before = tree(outer.path());
    for id in hostile_ids() {
        if id.contains('\0') {
            continue; // cannot be a process argument
        }
        for args in [
            vec![
                "incident",
                "update",
                &id,
                "--status",
                "identified",
                "-m",
                "x",
            ],
            vec!["incident", "resolve", &id],
            vec!["incident", "show", &id],
            vec!["maintenance", "cancel", &id],
            vec!["maintenance", "update", &id, "-m", "x"],
        ] {
            let (ok, stderr) = pharos(&site, &args);
            assert!(!ok, "pharos {args:?} succeeded");
            assert!(!stderr.trim().is_empty(), "pharos {args:?}: no error shown");
            assert!(!stderr.contains("panicked"), "pharos {args:?}: {stderr}");
        }
        // A new incident's id comes from its title: a hostile title gives a safe slug.
        let (ok, stderr) = pharos(
            &site,
            &[
                "incident",
                "new",
                &id,
                "--component",
                "api=major_outage",
                "-m",
                "x",
            ],
        );
        if ok {
            let made: Vec<String> = tree_all(&site.join("content/incidents"))
                .into_iter()
                .filter(|p| !before.contains(&format!("site/content/incidents/{p}")))
                .collect();
            for name in &made {
                let stem = name.trim_end_matches(".md");
                assert!(pharos::ids::check_id(stem).is_ok(), "{id:?} made {name:?}");
            }
            for name in made {
                std::fs::remove_file(site.join("content/incidents").join(name)).unwrap();
            }
        } else {
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
    let after: BTreeSet<String> = tree(outer.path())
        .into_iter()
        .filter(|p| !p.starts_with("site/pharos.db") && !p.starts_with("site/publish"))
        .collect();
    let before: BTreeSet<String> = before
        .into_iter()
        .filter(|p| !p.starts_with("site/pharos.db") && !p.starts_with("site/publish"))
        .collect();
    assert_eq!(after, before, "hostile ids changed files");
}

#[test]
fn hostile_key_prefixes_and_output_paths_are_refused() {
    let site = TestSite::fixture("basic");
    for prefix in ["../up", "/abs", "a/../../b", "./x", "a//b/.."] {
        let config = std::fs::read_to_string(site.config_path()).unwrap();
        let with = format!(
            "{config}\npublish:\n  targets:\n    - name: t\n      kind: s3\n      bucket: b\n      region: us-east-1\n      endpoint: http://127.0.0.1:9\n      prefix: {}\n",
            serde_json::to_string(prefix).unwrap()
        );
        let dir = tempfile::tempdir().unwrap();
        common::copy_dir(site.path(), dir.path());
        std::fs::write(dir.path().join("config.yaml"), with).unwrap();
        let (ok, stderr) = pharos(dir.path(), &["validate"]);
        assert!(!ok, "prefix {prefix:?} accepted");
        assert!(stderr.contains("prefix"), "{prefix:?}: {stderr}");
    }
    // The writer itself refuses any rendered path that could leave the folder.
    for path in [
        "../x.html",
        "/etc/x",
        "a/../../x",
        "a\0b",
        "a\\..\\b",
        "a//b",
        "",
    ] {
        assert!(pharos::output::check_relative(path).is_err(), "{path:?}");
    }
}
