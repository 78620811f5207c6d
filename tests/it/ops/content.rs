//! Bounds on content and the checks of what can never work: file size, update count, feeds,
//! heartbeat tokens, a folder that is not ours.

use super::*;

fn incident(title: &str, updates: usize, body: &str) -> String {
    let mut s = format!("---\ntitle: {title}\ncomponents:\n  api: partial_outage\n---\n\n");
    for i in 0..updates {
        s.push_str(&format!(
            "## 2026-11-30 {:02}:{:02} UTC · investigating\n\n{body}\n\n",
            i / 60,
            i % 60
        ));
    }
    s
}

/// A file over `limits.file_size` is refused with its name and size: `validate` fails, and
/// the daemon keeps the file's last good version.
#[test]
fn a_content_file_over_the_size_limit_is_refused_and_its_last_good_version_stays() {
    let site = site("limits:\n  file_size: 64KB\n");
    site.write(
        "content/incidents/big.md",
        &incident("Small at first", 1, "Looking."),
    );
    let log = site.path().join("daemon.log");
    let _d = running(&site, &log);
    common::wait_until(30, "the first version", || {
        std::fs::read_to_string(site.out().join("incidents/big/index.html"))
            .is_ok_and(|p| p.contains("Small at first"))
    });
    let huge = incident("Far too big", 1, &"x".repeat(100 * 1024));
    site.write("content/incidents/big.md", &huge);
    wait_logged(&log, "over the limit of 64KB", 1, 30);
    let page = std::fs::read_to_string(site.out().join("incidents/big/index.html")).unwrap();
    assert!(page.contains("Small at first") && !page.contains("Far too big"));

    let out = pharos(&site, &["validate"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("big.md") && said.contains("100.1KB"),
        "{said}"
    );
}

/// More updates than `limits.updates` is an error that says how many.
#[test]
fn too_many_updates_are_refused() {
    let site = site("limits:\n  updates: 20\n");
    site.write("content/incidents/long.md", &incident("Long", 21, "More."));
    let out = pharos(&site, &["validate"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("21 updates, over the limit of 20"),
        "{}",
        text(&out)
    );
    site.write("content/incidents/long.md", &incident("Long", 20, "More."));
    let out = pharos(&site, &["validate"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A feed entry stops after about 16 KB of updates and links to the whole timeline: the feed
/// stays small whatever the incident holds.
#[test]
fn feed_entries_stay_bounded_whatever_the_content_holds() {
    let site = site("");
    site.write(
        "content/incidents/chatty.md",
        &incident("Chatty", 150, &"A long update. ".repeat(100)),
    );
    let out = pharos(&site, &["build"]);
    assert!(out.status.success(), "{}", text(&out));
    let page = std::fs::read_to_string(site.out().join("incidents/chatty/index.html")).unwrap();
    assert!(
        page.len() > 150 * 1500,
        "the incident page has every update"
    );
    for feed in ["history.atom", "history.rss"] {
        let f = std::fs::read_to_string(site.out().join(feed)).unwrap();
        assert!(f.len() < 40 * 1024, "{feed}: {} bytes", f.len());
        assert!(f.contains("earlier updates"), "{feed} links to the rest");
    }
}

/// Tokens that could never be pinged (or guessed in a moment) are refused; HEAD gets headers
/// and no body.
#[test]
fn heartbeat_tokens_must_be_url_safe_and_long_and_head_has_no_body() {
    for bad in [
        "\"\"",
        "a",
        "\"abc def ghi jkl mno\"",
        "\"abcdefgh?ijklmnop\"",
        "\"abcdefgh#ijklmnop\"",
    ] {
        let site = site(&format!(
            "monitors:\n  - id: beat\n    component: api\n    kind: heartbeat\n    token: {bad}\n    interval: 1h\n"
        ));
        let out = pharos(&site, &["validate"]);
        assert_eq!(out.status.code(), Some(3), "token {bad}: {}", text(&out));
        assert!(text(&out).contains("token"), "{}", text(&out));
    }
    let port = common::free_port();
    let site = site(&heartbeat(port));
    let log = site.path().join("daemon.log");
    let _d = running(&site, &log);
    common::wait_until(30, "the listener", || ping(port));
    let head = request(port, "HEAD", &format!("/heartbeat/{TOKEN}")).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Length: 3"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "no body: {head:?}");
    let missing = request(port, "HEAD", "/heartbeat/no-such-token-0123456789").unwrap();
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.ends_with("\r\n\r\n"),
        "{missing:?}"
    );
}

/// A hand-made `.pharos-manifest.json` (`{}`) does not let `build --out` replace a folder of
/// someone else's files.
#[test]
fn a_bogus_manifest_does_not_make_a_folder_ours() {
    let site = site("");
    let folder = site.path().join("theirs");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("thesis.tex"), "years of work").unwrap();
    std::fs::write(folder.join(".pharos-manifest.json"), "{}").unwrap();
    let out = pharos(&site, &["build", "--out", "theirs"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("thesis.tex"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(folder.join("thesis.tex")).unwrap(),
        "years of work"
    );
}

/// The CLI never writes a file the daemon would then refuse for its size.
#[test]
fn the_cli_refuses_to_write_a_file_over_the_size_limit() {
    let site = site("limits:\n  file_size: 4KB\n");
    let long = "Still looking. ".repeat(400);
    let out = pharos(
        &site,
        &[
            "incident",
            "new",
            "Too long",
            "-C",
            "api",
            "--message",
            &long,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("over the limit of 4KB"),
        "{}",
        text(&out)
    );
    let written = std::fs::read_dir(site.path().join("content/incidents"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(written, 0, "nothing was written");
    let out = pharos(
        &site,
        &[
            "incident",
            "new",
            "Short",
            "-C",
            "api",
            "--message",
            "Looking.",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}
