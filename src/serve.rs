//! `pharos serve`: a local preview for admins. Builds the site, serves the output folder over
//! HTTP on loopback, and builds again whenever content, the config or the theme changes (like
//! `zola serve`). No monitors run and nothing is published: it shows what the content makes.
//! Open pages reload after each rebuild through a script that only `serve` adds to the HTML it
//! sends (the files it writes stay exactly what `build` writes).

use crate::config::Config;
use crate::daemon::Changed;
use anyhow::{Context, Result};
use chrono::Utc;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Changes closer together than this become one build.
const SETTLE: Duration = Duration::from_millis(150);

/// The preview's own files. A leading dot: no output file can have these paths (ids never start
/// with one, and [`resolve`] refuses such segments), so they exist only here.
const RELOAD_JS: &str = "/.pharos-serve/reload.js";
const VERSION: &str = "/.pharos-serve/version";

/// Polls [`VERSION`] and reloads once it differs from the version the page was sent with.
/// Polling rather than server-sent events: a held-open stream per tab would use up the
/// browser's six HTTP/1.1 connections to the preview after a few tabs. A failed poll (serve
/// stopped) just tries again, and a restarted serve has a new version, so the page reloads.
const RELOAD_SCRIPT: &str = r#"// Added by `pharos serve` only: reload this page after each rebuild.
(function () {
  var me = document.currentScript;
  var shown = me && me.getAttribute("data-version");
  if (!shown || !window.fetch) return;
  function poll() {
    fetch("/.pharos-serve/version", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : shown; })
      .then(function (v) {
        if (v.trim() !== shown) location.reload();
        else setTimeout(poll, 500);
      }, function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 500);
})();
"#;

/// Build once, then serve `out` on `addr` and rebuild on every change, until killed.
pub fn serve(config: Config, addr: SocketAddr, out: Option<PathBuf>) -> Result<()> {
    let out = out.unwrap_or_else(|| config.output_path());
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    // As in the daemon: a broken file keeps its last good version, the rest is shown.
    let mut state = Preview {
        inc: crate::build::Incremental::lenient(Some(config.daemon.settle.0)),
        problems: Vec::new(),
    };
    // Starts at the clock, so a restarted serve never repeats a version a page was sent with.
    let version = Arc::new(AtomicU64::new(
        Utc::now().timestamp_millis().try_into().unwrap_or(0),
    ));
    let (mut again, _) = state.rebuild(&config, &out);
    let (tx, rx) = mpsc::channel();
    let watch = |config: &Config| {
        let tx = tx.clone();
        crate::daemon::watch_site(config, move |c| {
            let _ = tx.send(c);
        })
    };
    let mut watcher = watch(&config)?;
    let themes_watched = |config: &Config| config.resolve("themes").is_dir();
    let mut watching_themes = themes_watched(&config);
    let (root, shown) = (out.clone(), version.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (root, shown) = (root.clone(), shown.clone());
            std::thread::spawn(move || respond(stream, &root, &shown));
        }
    });
    eprintln!(
        "previewing {} at http://{}/ (rebuilds on changes; Ctrl-C stops)",
        out.display(),
        addr
    );
    let mut config = config;
    loop {
        // Wait for a change, or for a file that was still settling.
        let first = match again {
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(c) => Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(c) => Some(c),
                Err(_) => break,
            },
        };
        let mut config_changed = first == Some(Changed::Config);
        // Let a burst of saves settle.
        while let Ok(c) = rx.recv_timeout(SETTLE) {
            config_changed |= c == Changed::Config;
        }
        if config_changed {
            match Config::load(&config.file) {
                Ok(c) => config = c,
                Err(e) => {
                    eprintln!("config not reloaded, the preview keeps the last good one:\n{e:#}");
                    continue;
                }
            }
        }
        state.inc.content_dirty = true;
        let (wait, changed) = state.rebuild(&config, &out);
        again = wait;
        if changed {
            // After the write: a page that reloads now gets the new files.
            version.fetch_add(1, Ordering::SeqCst);
        }
        // A theme folder created while we run is watched from now on.
        if !watching_themes && themes_watched(&config) {
            watcher = watch(&config)?;
            watching_themes = true;
        }
    }
    drop(watcher);
    Ok(())
}

/// What the preview keeps between builds.
struct Preview {
    inc: crate::build::Incremental,
    /// The content problems last printed.
    problems: Vec<String>,
}

impl Preview {
    /// Build into `out`; returns how long until files still settling should be read, and
    /// whether any file changed.
    fn rebuild(&mut self, config: &Config, out: &Path) -> (Option<Duration>, bool) {
        let started = std::time::Instant::now();
        let built = crate::store::Store::open(&config.database_path()).and_then(|mut store| {
            crate::build::update(&mut store, config, Some(out), Utc::now(), &mut self.inc)?
                .written()
        });
        let changed = match built {
            Ok(b) => {
                eprintln!(
                    "built {} files in {} ms ({} changed)",
                    b.report.write.files,
                    started.elapsed().as_millis(),
                    b.report.write.changed.len()
                );
                !b.report.write.changed.is_empty()
            }
            // Problems come with file:line; the previous preview stays as it was.
            Err(e) => {
                eprintln!("build failed, the preview shows the last good site:\n{e:#}");
                false
            }
        };
        let problems: Vec<String> = self.inc.problems.iter().map(|p| p.to_string()).collect();
        if problems != self.problems {
            if problems.is_empty() {
                eprintln!("content problems fixed");
            } else {
                eprintln!(
                    "content problems (the preview keeps the last good version of these files):\n{}",
                    problems.join("\n")
                );
            }
            self.problems = problems;
        }
        let again = self
            .inc
            .settling
            .take()
            .map(|left| left + Duration::from_millis(20));
        (again, changed)
    }
}

/// The file for a request path inside `root`, or `None` for anything that tries to leave it.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let decoded = percent_decode(path)?;
    let mut file = root.to_path_buf();
    for seg in decoded.split('/') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if seg == ".." || seg.contains('\\') || seg.contains('\0') || seg.starts_with('.') {
            return None;
        }
        file.push(seg);
    }
    Some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `html` as `serve` sends it: with the reload script (which the page's Content-Security-Policy
/// is widened to allow) before `</head>`.
fn with_reload(html: &str, version: u64) -> String {
    let tag = format!(r#"<script src="{RELOAD_JS}" data-version="{version}" defer></script>"#);
    let mut out = String::with_capacity(html.len() + 200);
    let mut rest = html;
    // Each `<meta http-equiv="Content-Security-Policy" content="...">`, copied with its policy widened.
    while let Some(at) = find_ascii_ci(rest, "http-equiv=\"content-security-policy\"") {
        let end = rest[at..].find('>').map_or(rest.len(), |e| at + e);
        let meta = &rest[..end];
        // The attribute may come before or after http-equiv.
        let open = meta[..at].rfind('<').unwrap_or(0);
        match find_ascii_ci(&meta[open..], "content=\"") {
            Some(c) => {
                let start = open + c + "content=\"".len();
                let stop = meta[start..].find('"').map_or(meta.len(), |e| start + e);
                out.push_str(&meta[..start]);
                out.push_str(&allow_self(&meta[start..stop]));
                out.push_str(&meta[stop..]);
            }
            None => out.push_str(meta),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    let at = find_ascii_ci(&out, "</head>")
        .or_else(|| find_ascii_ci(&out, "</body>"))
        .unwrap_or(out.len());
    out.insert_str(at, &tag);
    out
}

/// The byte offset of `needle` (lowercase ASCII) in `hay`, ignoring ASCII case.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A Content-Security-Policy that also lets the page load a script from and poll its own origin.
/// A directive the policy leaves to `default-src` is added only when there is a default to
/// override (without one, everything is allowed already).
fn allow_self(policy: &str) -> String {
    let mut directives: Vec<Vec<&str>> = policy
        .split(';')
        .map(|d| d.split_whitespace().collect::<Vec<_>>())
        .filter(|d| !d.is_empty())
        .collect();
    let has_default = directives
        .iter()
        .any(|d| d[0].eq_ignore_ascii_case("default-src"));
    for name in ["script-src", "connect-src"] {
        match directives
            .iter_mut()
            .find(|d| d[0].eq_ignore_ascii_case(name))
        {
            Some(d) => {
                // 'none' alone means nothing; next to a source it would be ignored anyway.
                d.retain(|s| !s.eq_ignore_ascii_case("'none'"));
                if !d.iter().any(|s| s.eq_ignore_ascii_case("'self'")) {
                    d.push("'self'");
                }
            }
            None if has_default => directives.push(vec![name, "'self'"]),
            None => {}
        }
    }
    directives
        .iter()
        .map(|d| d.join(" "))
        .collect::<Vec<_>>()
        .join("; ")
}

fn respond(mut stream: TcpStream, root: &Path, version: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 8192];
    let mut len = 0;
    while len < buf.len() {
        match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let own = target.split(['?', '#']).next().unwrap_or("");
    // Read before the file: a rebuild in between makes the page reload once more, never miss one.
    let shown = version.load(Ordering::SeqCst);
    let (status, ctype, body, location) = match (method, resolve(root, target)) {
        ("GET" | "HEAD", _) if own == RELOAD_JS => (
            200,
            crate::render::content_type_for("js"),
            RELOAD_SCRIPT.as_bytes().to_vec(),
            None,
        ),
        ("GET" | "HEAD", _) if own == VERSION => (
            200,
            "text/plain; charset=utf-8",
            shown.to_string().into_bytes(),
            None,
        ),
        ("GET" | "HEAD", Some(path)) if path.is_dir() && !target.ends_with('/') => (
            301,
            "text/plain; charset=utf-8",
            b"moved\n".to_vec(),
            Some(format!("{target}/")),
        ),
        ("GET" | "HEAD", Some(path)) => {
            let file = if path.is_dir() {
                path.join("index.html")
            } else {
                path
            };
            match std::fs::read(&file) {
                Ok(bytes) => {
                    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
                    let bytes = match ext {
                        "html" => match String::from_utf8(bytes) {
                            Ok(html) => with_reload(&html, shown).into_bytes(),
                            Err(e) => e.into_bytes(),
                        },
                        _ => bytes,
                    };
                    (200, crate::render::content_type_for(ext), bytes, None)
                }
                Err(_) => (
                    404,
                    "text/plain; charset=utf-8",
                    b"not found\n".to_vec(),
                    None,
                ),
            }
        }
        ("GET" | "HEAD", None) => (
            404,
            "text/plain; charset=utf-8",
            b"not found\n".to_vec(),
            None,
        ),
        _ => (
            405,
            "text/plain; charset=utf-8",
            b"only GET and HEAD\n".to_vec(),
            None,
        ),
    };
    let reason = match status {
        200 => "OK",
        301 => "Moved Permanently",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(l) = location {
        response.push_str(&format!("Location: {l}\r\n"));
    }
    response.push_str("\r\n");
    let _ = stream.write_all(response.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_cannot_leave_the_folder() {
        let root = Path::new("/srv/site");
        assert_eq!(resolve(root, "/").unwrap(), root);
        assert_eq!(
            resolve(root, "/incidents/x/index.html?utm=1").unwrap(),
            root.join("incidents/x/index.html")
        );
        assert_eq!(resolve(root, "/a%20b").unwrap(), root.join("a b"));
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc",
            "/x/%2E%2E/%2E%2E/y",
            "/.pharos-manifest.json",
            "/a%00b",
            "/%zz",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
        // The preview's own files can never be output files.
        for own in [RELOAD_JS, VERSION] {
            assert_eq!(resolve(root, own), None, "{own}");
        }
    }

    #[test]
    fn served_html_loads_the_reload_script_its_policy_allows() {
        let page = r#"<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'self'; connect-src 'self'"><title>x</title></head><body><p>hi</p></body></html>"#;
        let served = with_reload(page, 42);
        assert_eq!(
            served,
            page.replace(
                "connect-src 'self'\"",
                "connect-src 'self'; script-src 'self'\""
            )
            .replace(
                "</head>",
                r#"<script src="/.pharos-serve/reload.js" data-version="42" defer></script></head>"#
            )
        );
        // No head: before </body>; neither: at the end.
        assert!(with_reload("<p>a</p></BODY>", 1).ends_with("defer></script></BODY>"));
        assert!(with_reload("<p>a</p>", 1).ends_with("defer></script>"));
        let reversed =
            r#"<meta content="default-src 'none'" http-equiv="content-security-policy">"#;
        assert!(with_reload(reversed, 1).starts_with(
            r#"<meta content="default-src 'none'; script-src 'self'; connect-src 'self'" "#
        ));
    }

    #[test]
    fn policies_are_widened_only_as_far_as_the_script_needs() {
        for (policy, widened) in [
            (
                "default-src 'none'; style-src 'self'",
                "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'",
            ),
            (
                "default-src 'self'; script-src 'none'; connect-src https://x",
                "default-src 'self'; script-src 'self'; connect-src https://x 'self'",
            ),
            ("script-src 'self' ;", "script-src 'self'"),
            // Nothing restricts scripts: adding a directive would.
            ("img-src 'self'", "img-src 'self'"),
        ] {
            assert_eq!(allow_self(policy), widened, "{policy}");
        }
    }
}
