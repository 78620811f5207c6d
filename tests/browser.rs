//! The built page in a real headless Chromium with JavaScript disabled: the visitor can read the
//! overall status and the incidents. `.ci/run` installs Debian's chromium; on a machine without
//! it the test says so and passes, except under CI (CI=true), where a missing browser fails.

mod common;

use common::TestSite;
use scraper::{Html, Selector};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PHAROS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: we write
/// NUL-terminated JSON to its fd 3 and read its answers from fd 4). `--dump-dom` cannot be used:
/// it serializes the DOM with JavaScript, which these tests switch off.
struct Browser {
    child: Child,
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: pipe(2) just returned these descriptors and nothing else owns them.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn start(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (chrome_reads, we_write) = pipe();
        let (we_read, chrome_writes) = pipe();
        let (r, w) = (chrome_reads.as_raw_fd(), chrome_writes.as_raw_fd());
        let mut cmd = Command::new(binary);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-pipe",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe dup2 calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        drop((chrome_reads, chrome_writes));
        Browser {
            child,
            to: std::fs::File::from(we_write),
            from: BufReader::new(std::fs::File::from(we_read)),
            next: 0,
            session: None,
            _profile: profile,
        }
    }

    fn read(&mut self) -> Value {
        let mut buf = Vec::new();
        let n = self
            .from
            .read_until(0, &mut buf)
            .expect("read from chromium");
        assert!(n > 0, "chromium closed the DevTools pipe");
        buf.pop();
        serde_json::from_slice(&buf).expect("DevTools JSON")
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({"id": self.next, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        loop {
            let m = self.read();
            if m["id"] == self.next {
                assert!(m.get("error").is_none(), "{method}: {}", m["error"]);
                return m["result"].clone();
            }
        }
    }

    fn wait_for(&mut self, event: &str) {
        while self.read()["method"] != event {}
    }

    /// Load `page` with JavaScript disabled and return the DOM as HTML.
    fn dom(&mut self, page: &Path) -> String {
        if self.session.is_none() {
            let target =
                self.call("Target.createTarget", json!({"url": "about:blank"}))["targetId"].clone();
            let session = self.call(
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )["sessionId"]
                .clone();
            self.session = Some(session.as_str().unwrap().to_string());
            self.call(
                "Emulation.setScriptExecutionDisabled",
                json!({"value": true}),
            );
            self.call("Page.enable", json!({}));
        }
        self.call(
            "Page.navigate",
            json!({"url": format!("file://{}", page.display())}),
        );
        self.wait_for("Page.loadEventFired");
        let root = self.call("DOM.getDocument", json!({"depth": 0}))["root"]["nodeId"].clone();
        self.call("DOM.getOuterHTML", json!({"nodeId": root}))["outerHTML"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text_of(dom: &Html, css: &str) -> Vec<String> {
    dom.select(&Selector::parse(css).unwrap())
        .map(|e| {
            e.text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn a_visitor_reads_status_and_incidents_without_javascript() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser test: install chromium (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: no chromium on PATH (install Debian's chromium or set PHAROS_CHROMIUM)"
        );
        return;
    };
    let site = TestSite::fixture("basic");
    site.build();
    let mut chrome = Browser::start(&browser);
    // A watchdog: a hung browser fails the test instead of stalling CI.
    let pid = chrome.child.id() as i32;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(120)).is_err() {
            // SAFETY: sending a signal to a pid has no memory-safety requirements.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let dom = Html::parse_document(&chrome.dom(&site.out().join("index.html")));
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

    let incident = Html::parse_document(
        &chrome.dom(
            &site
                .out()
                .join("incidents/2026-11-24-website-down/index.html"),
        ),
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
    let probed = Html::parse_document(&chrome.dom(&probe));
    assert_eq!(text_of(&probed, "h1"), ["static"]);
    let _ = done.send(());
}
