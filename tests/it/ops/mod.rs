//! Operations: a daemon that stops, reloads, limits, isolates and fails the way an operator
//! expects. `pharos run` as a child process (stopped with real signals), the CLI as a binary,
//! real loopback servers.

use crate::common;

use common::{Running, TestSite, pharos, start_daemon};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod content;
mod daemon;
mod store;

/// A site of one component (`api`) with `extra` appended to its config.
fn site(extra: &str) -> TestSite {
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: Ops\n  base_url: https://ops.test\ncomponents:\n  - id: api\n    name: API\n{extra}"
        ),
    );
    site
}

/// A heartbeat monitor on `api`, listened for on `port`.
fn heartbeat(port: u16) -> String {
    format!(
        "daemon:\n  listen: 127.0.0.1:{port}\nmonitors:\n  - id: beat\n    component: api\n    kind: heartbeat\n    token: {TOKEN}\n    interval: 1h\n"
    )
}

const TOKEN: &str = "ops-heartbeat-token-0123";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How many lines of the daemon's JSON log carry a message containing `what`.
fn logged(log: &Path, what: &str) -> usize {
    common::log_lines(log, what).len()
}

/// Wait until the log has `n` lines containing `what`.
fn wait_logged(log: &Path, what: &str, n: usize, secs: u64) {
    common::wait_until(secs, &format!("{n}× {what:?} in the log"), || {
        logged(log, what) >= n
    });
}

/// Wait up to `within` for the child to exit; its exit status, or `None` if it still runs.
fn exited(child: &mut Running, within: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One raw HTTP request to the heartbeat listener on `port`; the whole answer, or the error.
fn request(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    Ok(answer)
}

fn ping(port: u16) -> bool {
    request(port, "POST", &format!("/heartbeat/{TOKEN}"))
        .is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
}

/// Start the daemon and wait until its monitors run (the stop signal can be waited for).
fn running(site: &TestSite, log: &Path) -> Running {
    let before = logged(log, "monitors started");
    let d = start_daemon(site, log);
    wait_logged(log, "monitors started", before + 1, 60);
    d
}

fn sigterm(child: &Running) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}
