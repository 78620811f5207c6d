//! The CLI next to a running daemon, and `pharos serve` rebuilding the preview.

use super::*;

#[test]
fn cli_and_hand_edits_reach_a_running_daemon_without_lock_errors_or_lost_updates() {
    let site = init_site("UTC");
    let dir = site.path().to_path_buf();
    let mut config = read(&dir, "config.yaml");
    config.push_str(&format!(
        "daemon:\n  listen: 127.0.0.1:{}\n  debounce: 100ms\n",
        free_port()
    ));
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let log = dir.join("daemon.log");
    let _daemon = spawn(&dir, &["run"], &log);
    wait_until(60, "the first build", || {
        published(&dir, "index.html").contains("Example incident")
    });

    // A CLI command shows on the site within seconds.
    let started = Instant::now();
    let id = created(
        &dir,
        &[
            "incident",
            "new",
            "Queue delays",
            "-C",
            "api",
            "-m",
            "Delays.",
        ],
    );
    wait_until(10, "the new incident on the page", || {
        published(&dir, "index.html").contains("Queue delays")
    });
    eprintln!(
        "incident new -> on the page in {} ms",
        started.elapsed().as_millis()
    );

    // Many CLI commands at once, on the same incident and on new ones, while the daemon renders.
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let (dir, id) = (dir.clone(), id.clone());
            std::thread::spawn(move || {
                let m = format!("Update number {n}.");
                let update = pharos(&dir)
                    .args([
                        "incident",
                        "update",
                        &id,
                        "--status",
                        "identified",
                        "-m",
                        &m,
                    ])
                    .output()
                    .unwrap();
                let title = format!("Parallel incident {n}");
                let new = pharos(&dir)
                    .args(["incident", "new", &title, "-C", "website", "-m", "x"])
                    .output()
                    .unwrap();
                (update, new)
            })
        })
        .collect();
    for t in threads {
        let (update, new) = t.join().unwrap();
        for out in [update, new] {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{err}");
            assert!(!err.contains("locked"), "{err}");
        }
    }
    let text = read(&dir, &format!("content/incidents/{id}.md"));
    for n in 0..8 {
        assert!(
            text.contains(&format!("Update number {n}.")),
            "update {n} lost:\n{text}"
        );
    }
    wait_until(10, "every update on the incident page", || {
        let page = published(&dir, &format!("incidents/{id}/index.html"));
        (0..8).all(|n| page.contains(&format!("Update number {n}.")))
    });
    wait_until(10, "every parallel incident on the page", || {
        let page = published(&dir, "index.html");
        (0..8).all(|n| page.contains(&format!("Parallel incident {n}")))
    });

    // A hand-saved file shows within seconds; a broken one changes nothing public; deleting a
    // file removes its incident.
    let started = Instant::now();
    std::fs::write(
        dir.join("content/incidents/hand-written.md"),
        "---\ntitle: Written by hand\ncomponents:\n  website: degraded_performance\n---\n## 2026-11-26 09:00 UTC · investigating\nSlow pages.\n",
    )
    .unwrap();
    wait_until(10, "the hand-written incident", || {
        published(&dir, "index.html").contains("Written by hand")
    });
    eprintln!(
        "hand edit -> on the page in {} ms",
        started.elapsed().as_millis()
    );
    let before = published(&dir, "api/v2/summary.json");
    std::fs::write(dir.join("content/incidents/broken.md"), "---\ntitle: Broken\ncomponents:\n  nope: major_outage\n---\n## 2026-11-26 09:00 UTC · investigating\nx\n").unwrap();
    wait_until(10, "the problem in the log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("broken.md:4:3")
    });
    assert_eq!(
        published(&dir, "api/v2/summary.json"),
        before,
        "a broken file changes nothing public"
    );
    std::fs::remove_file(dir.join("content/incidents/broken.md")).unwrap();
    // Deleting an open incident's file is refused: it stays published, and the log says so.
    std::fs::remove_file(dir.join("content/incidents/hand-written.md")).unwrap();
    wait_until(10, "the refusal in the log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("the file of this open incident (investigating) was deleted")
    });
    assert!(published(&dir, "index.html").contains("Written by hand"));
    // Resolving writes the file back; a resolved incident's file may go.
    let out = pharos(&dir)
        .args(["incident", "resolve", "hand-written"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote it back from the store"));
    assert!(read(&dir, "content/incidents/hand-written.md").contains("Slow pages."));
    wait_until(10, "resolved on the page", || {
        !published(&dir, "index.html").contains("Slow pages.")
    });
    std::fs::remove_file(dir.join("content/incidents/hand-written.md")).unwrap();
    wait_until(10, "the deleted incident gone", || {
        let page = published(&dir, "index.html");
        !page.is_empty() && !page.contains("Written by hand")
    });
    assert!(!dir.join("publish/incidents/hand-written").exists());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("database is locked"), "{log}");
}

#[test]
fn serve_previews_the_site_and_rebuilds_on_every_change() {
    let (site, addr, _serve) = preview();
    let dir: PathBuf = site.path().to_path_buf();
    assert_eq!(get(&addr, "/api/v2/summary.json").0, 200);
    assert_eq!(
        get(&addr, "/../config.yaml").0,
        404,
        "nothing outside the folder"
    );
    assert_eq!(get(&addr, "/.pharos-manifest.json").0, 404);
    // Content, theme and config edits show without a restart.
    std::fs::write(
        dir.join("content/incidents/preview.md"),
        "---\ntitle: Previewed incident\n---\n## 2026-11-26 09:00 UTC · investigating\nText.\n",
    )
    .unwrap();
    wait_until(10, "the edit in the preview", || {
        get(&addr, "/").1.contains("Previewed incident")
    });
    // A broken file keeps its last good version; the next edit elsewhere still shows.
    std::fs::write(
        dir.join("content/incidents/preview.md"),
        "---\ntitle: Previewed incident\ncomponents:\n  api: partial_outag\n---\n## 2026-11-26 09:00 UTC · investigating\nText.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("content/incidents/second.md"),
        "---\ntitle: Second preview\n---\n## 2026-11-26 09:30 UTC · investigating\nMore.\n",
    )
    .unwrap();
    wait_until(10, "the other edit despite the broken file", || {
        let page = get(&addr, "/").1;
        page.contains("Second preview") && page.contains("Previewed incident")
    });
    wait_until(10, "the problem on the terminal", || {
        read(&dir, "serve.log").contains("preview.md:4:")
    });
    std::fs::create_dir_all(dir.join("themes/default")).unwrap();
    std::fs::write(
        dir.join("themes/default/style.css"),
        "body { color: rebeccapurple }\n",
    )
    .unwrap();
    wait_until(10, "the theme edit", || {
        let (_, index) = get(&addr, "/");
        let css = index
            .split("assets/style.")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|h| format!("/assets/style.{h}"));
        css.is_some_and(|c| get(&addr, &c).1.contains("rebeccapurple"))
    });
    let config = read(&dir, "config.yaml").replace("title: My Status", "title: Renamed Status");
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    wait_until(10, "the config edit", || {
        get(&addr, "/").1.contains("Renamed Status")
    });
    std::thread::sleep(Duration::from_millis(10));
}

fn preview_version(addr: &str) -> String {
    let (code, v) = get(addr, "/.pharos-serve/version");
    assert_eq!(code, 200, "{v}");
    v
}

/// Open pages reload after each rebuild: `serve` adds a script to the HTML it sends (and lets
/// the page's Content-Security-Policy load it), which polls a version that changes once a
/// rebuild wrote something. The files on disk, what `build` and `publish` produce, carry none.
#[test]
fn serve_tells_open_pages_to_reload_and_keeps_its_script_out_of_the_files() {
    let (site, addr, _serve) = preview();
    let dir: PathBuf = site.path().to_path_buf();
    let (code, script) = get(&addr, "/.pharos-serve/reload.js");
    assert_eq!(code, 200);
    assert!(script.contains("location.reload()"), "{script}");
    let before = preview_version(&addr);
    let (_, page) = get(&addr, "/");
    let tag = |v: &str| format!(r#"<script src="/.pharos-serve/reload.js" data-version="{v}""#);
    assert!(page.contains(&tag(&before)), "{page}");
    assert!(
        page.contains("script-src 'self'"),
        "the page's policy lets the script load: {page}"
    );
    let on_disk = || {
        let files = files_under(&dir.join("publish"));
        assert!(files.iter().any(|(f, _)| f == "index.html"));
        for (file, text) in files {
            assert!(!text.contains("pharos-serve"), "{file} has serve's script");
            if file.ends_with(".html") {
                assert!(!text.contains("<script"), "{file} has a script");
            }
            assert!(!text.contains("script-src"), "{file}'s policy was widened");
        }
    };
    on_disk();

    std::fs::write(
        dir.join("content/incidents/reload.md"),
        "---\ntitle: Reloaded incident\n---\n## 2026-11-26 09:00 UTC · investigating\nText.\n",
    )
    .unwrap();
    wait_until(10, "a new version after the rebuild", || {
        preview_version(&addr) != before
    });
    let after = preview_version(&addr);
    let (_, page) = get(&addr, "/");
    assert!(
        page.contains("Reloaded incident"),
        "the version moves after the write"
    );
    assert!(page.contains(&tag(&after)), "{page}");
    // Every HTML page carries it, JSON and the rest are served as written.
    let incident = page
        .split("href=\"incidents/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|p| format!("/incidents/{p}"))
        .unwrap();
    assert!(get(&addr, &incident).1.contains("/.pharos-serve/reload.js"));
    assert_eq!(
        get(&addr, "/api/v2/summary.json").1,
        read(&dir, "publish/api/v2/summary.json")
    );
    on_disk();
}

/// The same in a real browser: a page left open shows an edit by itself, and with
/// JavaScript off the served page reads as usual.
#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn serve_reloads_an_open_page_in_the_browser() {
    use common::browser::{browser, text_of};
    let (site, addr, _serve) = preview();
    let dir: PathBuf = site.path().to_path_buf();
    let (mut chrome, _watchdog) = browser();
    let url = format!("http://{addr}/");

    let off = chrome.tab(false);
    chrome.open(&off, &url);
    let dom = scraper::Html::parse_document(&chrome.dom(&off));
    assert!(
        text_of(&dom, "main").join(" ").contains("Example incident"),
        "readable with JavaScript off"
    );

    let tab = chrome.tab(true);
    chrome.open(&tab, &url);
    chrome.events.clear();
    // Gone after a reload; the page's CSP is not bypassed, so the script must be allowed.
    chrome.eval(&tab, "window.notReloaded = true");
    std::fs::write(
        dir.join("content/incidents/browser.md"),
        "---\ntitle: Seen without reloading\n---\n## 2026-11-26 09:00 UTC · investigating\nText.\n",
    )
    .unwrap();
    // A rebuild of the settling scaffold may reload the page first: wait for the one with the edit.
    let mut loads = 0;
    loop {
        assert!(
            chrome.next_load(&tab, Duration::from_secs(15)),
            "the page did not reload after the edit"
        );
        loads += 1;
        let shown = chrome.eval(
            &tab,
            "document.body.innerText.includes('Seen without reloading')",
        );
        if shown == true {
            break;
        }
        assert!(loads < 5, "reloaded {loads} times without the edit");
    }
    assert_eq!(
        chrome.eval(&tab, "window.notReloaded === undefined"),
        true,
        "the page itself reloaded"
    );
}

/// A new site previewed by `pharos serve` on a free port, once its first page is served (the
/// scaffold was written a moment ago: it shows once it has settled, `daemon.settle`).
fn preview() -> (tempfile::TempDir, String, common::Running) {
    let site = init_site("UTC");
    let addr = format!("127.0.0.1:{}", free_port());
    let serve = spawn(
        site.path(),
        &["serve", "--addr", &addr],
        &site.path().join("serve.log"),
    );
    wait_until(60, "the preview", || {
        get(&addr, "/").1.contains("Example incident")
    });
    (site, addr, serve)
}
