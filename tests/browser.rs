//! The built page in a real headless Chromium with JavaScript disabled: the visitor can read the
//! overall status and the incidents. `.ci/run` installs Debian's chromium; on a machine without
//! it the test says so and passes, except under CI (CI=true), where a missing browser fails.

mod common;

use common::TestSite;
use scraper::{Html, Selector};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
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

    /// Send a command (to the browser, or to a page's session) and wait for its answer.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({"id": self.next, "method": method, "params": params});
        if let Some(s) = session {
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

    /// A new tab; with `javascript: false` its scripts never run.
    fn tab(&mut self, javascript: bool) -> String {
        let target =
            self.call(None, "Target.createTarget", json!({"url": "about:blank"}))["targetId"]
                .clone();
        let session = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        if !javascript {
            self.call(
                Some(&session),
                "Emulation.setScriptExecutionDisabled",
                json!({"value": true}),
            );
        }
        self.call(Some(&session), "Page.enable", json!({}));
        session
    }

    fn open(&mut self, tab: &str, url: &str) {
        self.call(Some(tab), "Page.navigate", json!({"url": url}));
        while self.read()["method"] != "Page.loadEventFired" {}
    }

    /// The tab's DOM as HTML.
    fn dom(&mut self, tab: &str) -> String {
        let root =
            self.call(Some(tab), "DOM.getDocument", json!({"depth": 0}))["root"]["nodeId"].clone();
        self.call(Some(tab), "DOM.getOuterHTML", json!({"nodeId": root}))["outerHTML"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn page(&mut self, tab: &str, file: &Path) -> Html {
        self.open(tab, &format!("file://{}", file.display()));
        Html::parse_document(&self.dom(tab))
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

/// Kills the browser if a test hangs, so CI fails instead of stalling.
struct Watchdog(std::sync::mpsc::Sender<()>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Chromium with a watchdog, or `None` (and a note) where it is not installed outside CI.
fn browser() -> Option<(Browser, Watchdog)> {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests: install chromium (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: no chromium on PATH (install Debian's chromium or set PHAROS_CHROMIUM)"
        );
        return None;
    };
    let chrome = Browser::start(&binary);
    let pid = chrome.child.id() as i32;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(120)).is_err() {
            // SAFETY: sending a signal to a pid has no memory-safety requirements.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    Some((chrome, Watchdog(done)))
}

/// Serve `root` over HTTP on loopback, with `Access-Control-Allow-Origin: *` as the bucket's
/// CORS rule for widget.json does. Returns the base URL.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split(['?', '#'])
                .next()
                .unwrap_or("/");
            let rel = path.trim_start_matches('/');
            let file = root.join(if rel.is_empty() { "index.html" } else { rel });
            let response = match std::fs::read(&file) {
                Ok(body) if !rel.contains("..") => {
                    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        pharos::render::content_type_for(ext),
                        body.len()
                    );
                    [head.into_bytes(), body].concat()
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    base
}

#[test]
fn a_visitor_reads_status_and_incidents_without_javascript() {
    let Some((mut chrome, _watchdog)) = browser() else {
        return;
    };
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
fn embed_js_shows_the_status_on_a_customer_page() {
    let Some((mut chrome, _watchdog)) = browser() else {
        return;
    };
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
