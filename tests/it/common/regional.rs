//! Peers for the several-regions tests (issue 19): an HTTP target that fails for chosen regions
//! only (told apart by the `region=<name>` in a check's User-Agent), and a TCP proxy in front of
//! the cluster store whose link the test cuts and restores. Plain threads on loopback; both stop
//! when dropped.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a peer may sit silent on a connection before the helper gives up on it (only so a
/// stuck client cannot pin a thread for the rest of the suite).
const IDLE: Duration = Duration::from_secs(30);

/// An HTTP server answering `200 ok` to every request but those whose User-Agent names a failing
/// region (`... region=eu-west)`): those get `503`. Counts requests by region.
pub struct RegionalHttp {
    addr: SocketAddr,
    state: Arc<RegionalState>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct RegionalState {
    failing: Mutex<HashSet<String>>,
    /// Requests by the region of their User-Agent ("" for none).
    hits: Mutex<HashMap<String, usize>>,
}

impl RegionalHttp {
    pub fn start() -> RegionalHttp {
        let state = Arc::new(RegionalState::default());
        let s = state.clone();
        let (addr, stop) = accept_loop(move |conn| {
            let s = s.clone();
            std::thread::spawn(move || answer_regional(conn, &s));
        });
        RegionalHttp { addr, state, stop }
    }

    /// `http://127.0.0.1:PORT/health`.
    pub fn url(&self) -> String {
        format!("http://{}/health", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, exactly these regions get `503` (`&[]`: none).
    pub fn fail(&self, regions: &[&str]) {
        *self.state.failing.lock().unwrap() = regions.iter().map(|r| r.to_string()).collect();
    }

    /// Requests received so far whose User-Agent names `region` (counted on arrival, before the
    /// answer is written).
    pub fn hits(&self, region: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(region)
            .copied()
            .unwrap_or(0)
    }

    /// Every request received so far, with or without a region.
    pub fn total(&self) -> usize {
        self.state.hits.lock().unwrap().values().sum()
    }
}

impl Drop for RegionalHttp {
    fn drop(&mut self) {
        stop_accepting(&self.stop, self.addr);
    }
}

/// The region a User-Agent names: the token after `region=`, up to `;`, `)` or a space.
pub fn region_of(user_agent: &str) -> Option<&str> {
    let rest = &user_agent[user_agent.find("region=")? + "region=".len()..];
    let end = rest
        .find(|c: char| c == ';' || c == ')' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn answer_regional(mut conn: TcpStream, state: &RegionalState) {
    let _ = conn.set_read_timeout(Some(IDLE));
    let _ = conn.set_write_timeout(Some(IDLE));
    let Some((head, body_start)) = read_head(&mut conn) else {
        return;
    };
    let text = String::from_utf8_lossy(&head[..body_start]).into_owned();
    let header = |name: &str| {
        text.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let region = header("user-agent")
        .and_then(region_of)
        .unwrap_or("")
        .to_string();
    // Read a request body, if any, before answering: closing a socket with unread input makes
    // the kernel send a reset, which can overtake the answer.
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut have = head.len() - body_start;
    let mut buf = [0u8; 4096];
    while have < length {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
    let head_only = text.starts_with("HEAD ");
    *state
        .hits
        .lock()
        .unwrap()
        .entry(region.clone())
        .or_default() += 1;
    let failing = !region.is_empty() && state.failing.lock().unwrap().contains(&region);
    let (status, body) = if failing {
        (
            "503 Service Unavailable",
            format!("region {region} is failing\n"),
        )
    } else {
        ("200 OK", "ok\n".to_string())
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        resp.push_str(&body);
    }
    let _ = conn.write_all(resp.as_bytes());
    let _ = conn.shutdown(Shutdown::Write);
}

/// The bytes read up to and past the end of the request head, and where the head ends.
fn read_head(conn: &mut TcpStream) -> Option<(Vec<u8>, usize)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).ok().filter(|&n| n > 0)?;
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some((head, i + 4));
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
}

/// A TCP proxy on loopback in front of `upstream` (the cluster store): carries keep-alive
/// connections both ways until either side closes. `cut()` plays the network between a region
/// and the store going away.
pub struct Proxy {
    addr: SocketAddr,
    links: Arc<Links>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Links {
    /// Held while deciding whether a new connection may open, so a connection accepted while
    /// `cut()` runs is either swept by it or refused, never missed.
    open: Mutex<Open>,
    next: AtomicU64,
}

#[derive(Default)]
struct Open {
    cut: bool,
    /// Both ends of each carried connection, by id.
    conns: HashMap<u64, (TcpStream, TcpStream)>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let links = Arc::new(Links::default());
        let l = links.clone();
        let (addr, stop) = accept_loop(move |client| {
            let l = l.clone();
            std::thread::spawn(move || carry(client, upstream, &l));
        });
        Proxy { addr, links, stop }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, an S3 endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fail every open connection now (both ends are reset) and reset new ones on accept, until
    /// `restore()`. A client waiting for an answer sees its connection end at once.
    pub fn cut(&self) {
        let mut open = self.links.open.lock().unwrap();
        open.cut = true;
        for (_, (client, server)) in open.conns.drain() {
            reset(&client);
            reset(&server);
        }
    }

    /// Carry new connections again.
    pub fn restore(&self) {
        self.links.open.lock().unwrap().cut = false;
    }

    /// Connections being carried right now.
    pub fn open_connections(&self) -> usize {
        self.links.open.lock().unwrap().conns.len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        stop_accepting(&self.stop, self.addr);
        self.cut();
    }
}

fn carry(client: TcpStream, upstream: SocketAddr, links: &Links) {
    // Refused while cut without touching the store (checked again below, under the lock).
    if links.open.lock().unwrap().cut {
        reset(&client);
        return;
    }
    let server = match TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(_) => {
            reset(&client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let id = links.next.fetch_add(1, Ordering::Relaxed);
    {
        let mut open = links.open.lock().unwrap();
        if open.cut {
            reset(&client);
            reset(&server);
            return;
        }
        open.conns.insert(id, (c2, s2));
    }
    let (Ok(c3), Ok(s3)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pump(c3, s3));
    pump(server, client);
    let _ = up.join();
    links.open.lock().unwrap().conns.remove(&id);
}

/// Copy `from` to `to` until `from` ends; pass an orderly end on as a half-close (an HTTP
/// client may close its sending side and still read the answer), an error as a reset of both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    reset(&from);
    reset(&to);
}

/// End a connection so its peer sees it fail: with a zero linger the last close sends a reset,
/// and the shutdown wakes every thread blocked on the socket (it is shared with the pumps).
fn reset(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setting a socket option on a socket we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = s.shutdown(Shutdown::Both);
}

/// A listener on a free loopback port whose connections go to `on_conn`, on its own thread, and
/// the flag that stops it (see [`stop_accepting`]).
fn accept_loop(on_conn: impl Fn(TcpStream) + Send + 'static) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if s.load(Ordering::SeqCst) {
                return;
            }
            if let Ok(conn) = conn {
                on_conn(conn);
            }
        }
    });
    (addr, stop)
}

/// Stop an [`accept_loop`]: raise the flag, then wake the blocked `accept` with a connection.
fn stop_accepting(stop: &AtomicBool, addr: SocketAddr) {
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}
