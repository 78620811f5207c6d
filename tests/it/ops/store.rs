//! The store: many processes opening a new one, a deleted, read-only or damaged file.

use super::*;
use common::{Volume, db};

/// Ten commands opening a new store at once all succeed (the migrations take turns).
#[test]
fn parallel_commands_on_a_new_store_all_succeed() {
    for _ in 0..3 {
        let site = site("");
        let children: Vec<_> = (0..10)
            .map(|_| {
                Command::new(assert_cmd::cargo::cargo_bin("pharos"))
                    .arg("status")
                    .current_dir(site.path())
                    .env_remove("PHAROS_CONFIG")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out));
        }
    }
}

/// Deleting pharos.db under a running daemon: it stops, and writes back what it held, so the
/// next start goes on with the same state (nothing is announced again).
#[test]
fn a_store_deleted_under_the_daemon_is_written_back_and_the_daemon_stops() {
    let site = site("");
    site.write(
        "content/incidents/kept.md",
        "---\ntitle: Kept across the deletion\ncomponents:\n  api: partial_outage\n---\n\n## 2026-11-30 10:00 UTC · investigating\n\nLooking.\n",
    );
    let log = site.path().join("daemon.log");
    let mut d = running(&site, &log);
    wait_logged(&log, "site written", 1, 30);
    let db_path = site.path().join("pharos.db");
    std::fs::remove_file(&db_path).unwrap();
    let status = exited(&mut d, Duration::from_secs(15)).expect("the daemon stops");
    assert!(!status.success(), "a failure exit (systemd restarts it)");
    assert!(logged(&log, "deleted or replaced") >= 1);
    assert!(logged(&log, "written back") >= 1);
    let kept: i64 = db(&site)
        .query_row(
            "SELECT count(*) FROM incidents WHERE id = 'kept'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1, "the state is back at its path");
    // And it starts again from it.
    let _again = running(&site, &log);
}

/// A store on a read-only volume (or a file without write permission): commands that only
/// look still answer; the daemon refuses with the file's name.
#[test]
#[cfg_attr(pharos_no_root, ignore = "needs root to mount a read-only volume")]
fn a_read_only_store_still_answers_status_and_run_names_the_file() {
    let site = site("store:\n  path: data/pharos.db\n");
    let vol = Volume::mount(&site.path().join("data"), "8m");
    let built = pharos(&site, &["build"]);
    assert!(built.status.success(), "{}", text(&built));
    vol.read_only(true);
    let status = pharos(&site, &["status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains("API"), "{}", text(&status));
    let run = pharos(&site, &["run"]);
    assert!(!run.status.success());
    let said = text(&run);
    assert!(
        said.contains("data/pharos.db") && said.contains("read-only"),
        "{said}"
    );
    vol.read_only(false);
}

/// A damaged store is refused at the start by every command, with its path and what to do.
#[test]
fn a_damaged_store_is_refused_with_its_path_and_what_to_do() {
    let site = site("");
    site.write(
        "content/incidents/one.md",
        "---\ntitle: One\ncomponents:\n  api: partial_outage\n---\n\n## 2026-11-30 10:00 UTC · investigating\n\nLooking.\n",
    );
    let built = pharos(&site, &["build"]);
    assert!(built.status.success(), "{}", text(&built));
    let path = site.path().join("pharos.db");
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192);
    // Page 2 onward: the tables' pages, not the header.
    for b in &mut bytes[4096..8192] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    for args in [&["status"][..], &["build"], &["run"]] {
        let out = pharos(&site, args);
        assert!(!out.status.success(), "pharos {args:?} refuses");
        let said = text(&out);
        assert!(
            said.contains("damaged") && said.contains("pharos.db.damaged"),
            "pharos {args:?}: {said}"
        );
    }
}
