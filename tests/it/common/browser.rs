//! Headless Chromium driven over the DevTools protocol, and a tiny static HTTP server, for the
//! browser tests (`.ci/run` installs Debian's chromium).
#![allow(dead_code)]

use scraper::{Html, Selector};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn chromium() -> Option<PathBuf> {
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
pub struct Browser {
    child: Child,
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next: u64,
    /// Events that arrived while waiting for an answer, oldest first.
    pub events: Vec<Value>,
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
    pub fn start(binary: &Path) -> Browser {
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
            events: Vec::new(),
            _profile: profile,
        }
    }

    pub fn read(&mut self) -> Value {
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
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
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
            if m.get("method").is_some() {
                self.events.push(m);
            }
        }
    }

    /// A new tab; with `javascript: false` its scripts never run.
    pub fn tab(&mut self, javascript: bool) -> String {
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

    /// Navigate and wait for the load event (events of earlier pages are dropped first).
    pub fn open(&mut self, tab: &str, url: &str) {
        self.events.clear();
        self.call(Some(tab), "Page.navigate", json!({"url": url}));
        let loaded = |m: &Value| m["method"] == "Page.loadEventFired" && m["sessionId"] == tab;
        if self.events.iter().any(loaded) {
            return;
        }
        loop {
            let m = self.read();
            if loaded(&m) {
                return;
            }
            self.events.push(m);
        }
    }

    /// Wait up to `timeout` for the tab's next load event without navigating (a page that
    /// reloads itself); false if none came.
    pub fn next_load(&mut self, tab: &str, timeout: Duration) -> bool {
        let loaded = |m: &Value| m["method"] == "Page.loadEventFired" && m["sessionId"] == tab;
        if let Some(i) = self.events.iter().position(loaded) {
            self.events.drain(..=i);
            return true;
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.from.buffer().is_empty() {
                let mut fd = libc::pollfd {
                    fd: self.from.get_ref().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, for the length given.
                if unsafe { libc::poll(&mut fd, 1, left.as_millis() as i32) } <= 0 {
                    return false;
                }
            }
            let m = self.read();
            if loaded(&m) {
                return true;
            }
            self.events.push(m);
        }
    }

    /// The tab's DOM as HTML.
    pub fn dom(&mut self, tab: &str) -> String {
        let root =
            self.call(Some(tab), "DOM.getDocument", json!({"depth": 0}))["root"]["nodeId"].clone();
        self.call(Some(tab), "DOM.getOuterHTML", json!({"nodeId": root}))["outerHTML"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn page(&mut self, tab: &str, file: &Path) -> Html {
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

pub fn text_of(dom: &Html, css: &str) -> Vec<String> {
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
pub struct Watchdog(std::sync::mpsc::Sender<()>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Why a browser test is ignored on a machine without Chromium (see `build.rs`).
pub const NO_CHROMIUM: &str =
    "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM";

/// Chromium with a watchdog. Tests that need it are ignored where it is not installed (see
/// `build.rs`); under CI a missing Chromium fails them.
pub fn browser() -> (Browser, Watchdog) {
    let binary = chromium().unwrap_or_else(|| panic!("{NO_CHROMIUM}"));
    let chrome = Browser::start(&binary);
    let pid = chrome.child.id() as i32;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(300)).is_err() {
            // SAFETY: sending a signal to a pid has no memory-safety requirements.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    (chrome, Watchdog(done))
}

/// Serve `root` over HTTP on loopback, with `Access-Control-Allow-Origin: *` as the bucket's
/// CORS rule for widget.json does. Returns the base URL.
pub fn serve(root: PathBuf) -> String {
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

impl Browser {
    /// Evaluate `expr` in the tab and return its value (JSON-serializable results only).
    pub fn eval(&mut self, tab: &str, expr: &str) -> Value {
        let r = self.call(
            Some(tab),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expr}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Run `source` in every document the tab loads from now on, before the page's own scripts.
    pub fn before_every_page(&mut self, tab: &str, source: &str) {
        self.call(
            Some(tab),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source}),
        );
    }

    /// Let the tab ignore Content-Security-Policy, so that markup injected despite escaping
    /// would really run (CSP must not be what hides an injection from a test).
    pub fn bypass_csp(&mut self, tab: &str) {
        self.call(Some(tab), "Page.setBypassCSP", json!({"enabled": true}));
    }

    /// Light or dark colour scheme, as the visitor's system would ask for.
    pub fn color_scheme(&mut self, tab: &str, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        self.call(
            Some(tab),
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": value}]}),
        );
    }

    /// The DOM node id of what `selector` finds in `tab` (there must be one).
    pub fn node(&mut self, tab: &str, selector: &str) -> Value {
        let doc = self.call(
            Some(tab),
            "DOM.getDocument",
            serde_json::json!({"depth": 0}),
        );
        let node = self.call(
            Some(tab),
            "DOM.querySelector",
            serde_json::json!({"nodeId": doc["root"]["nodeId"], "selector": selector}),
        )["nodeId"]
            .clone();
        assert_ne!(node, serde_json::json!(0), "no {selector} on the page");
        node
    }

    /// Focus what `selector` finds in `tab`.
    pub fn focus(&mut self, tab: &str, selector: &str) {
        let node = self.node(tab, selector);
        self.call(Some(tab), "DOM.focus", serde_json::json!({"nodeId": node}));
    }

    /// Press Enter in `tab` (a focused input submits its form, a focused button is pressed:
    /// no script runs).
    pub fn press_enter(&mut self, tab: &str) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                Some(tab),
                "Input.dispatchKeyEvent",
                serde_json::json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}),
            );
        }
    }

    /// A PNG of the whole page at 1280 px wide.
    pub fn screenshot(&mut self, tab: &str) -> Vec<u8> {
        use base64::Engine;
        self.call(
            Some(tab),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        let png = self.call(
            Some(tab),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )["data"]
            .as_str()
            .unwrap()
            .to_string();
        base64::engine::general_purpose::STANDARD
            .decode(png)
            .expect("base64 PNG")
    }
}
