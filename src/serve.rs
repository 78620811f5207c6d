//! `pharos serve`: a local preview for admins. Builds the site, serves the output folder over
//! HTTP on loopback, and builds again whenever content, the config or the theme changes (like
//! `zola serve`). No monitors run and nothing is published: it shows what the content makes.

use crate::config::Config;
use crate::daemon::Changed;
use anyhow::{Context, Result};
use chrono::Utc;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Changes closer together than this become one build.
const SETTLE: Duration = Duration::from_millis(150);

/// Build once, then serve `out` on `addr` and rebuild on every change, until killed.
pub fn serve(config: Config, addr: SocketAddr, out: Option<PathBuf>) -> Result<()> {
    let out = out.unwrap_or_else(|| config.output_path());
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    // As in the daemon: a broken file keeps its last good version, the rest is shown.
    let mut state = Preview {
        inc: crate::build::Incremental::lenient(Some(config.daemon.settle.0)),
        problems: Vec::new(),
    };
    let mut again = state.rebuild(&config, &out);
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
    let root = out.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || respond(stream, &root));
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
        again = state.rebuild(&config, &out);
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
    /// Build into `out`; returns how long until files still settling should be read.
    fn rebuild(&mut self, config: &Config, out: &Path) -> Option<Duration> {
        let started = std::time::Instant::now();
        let built = crate::store::Store::open(&config.database_path()).and_then(|mut store| {
            crate::build::update(&mut store, config, Some(out), Utc::now(), &mut self.inc)?
                .written()
        });
        match built {
            Ok(b) => eprintln!(
                "built {} files in {} ms ({} changed)",
                b.report.write.files,
                started.elapsed().as_millis(),
                b.report.write.changed.len()
            ),
            // Problems come with file:line; the previous preview stays as it was.
            Err(e) => eprintln!("build failed, the preview shows the last good site:\n{e:#}"),
        }
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
        self.inc
            .settling
            .take()
            .map(|left| left + Duration::from_millis(20))
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

fn respond(mut stream: TcpStream, root: &Path) {
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
    let (status, ctype, body, location) = match (method, resolve(root, target)) {
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
    }
}
