//! Notification receivers on loopback: an HTTP server that records every request (and can
//! fail or hang on demand) and an SMTP sink that records every message.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Behaviour {
    /// Answer 500 to this many requests first.
    fail: usize,
    /// Wait this long before answering.
    hang: Duration,
    /// Answer 404 with a body that echoes the URL asked for (as some receivers do).
    echo_not_found: bool,
}

/// An HTTP/1.1 server recording requests; one thread per connection.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl HttpReceiver {
    pub fn start() -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let behaviour: Arc<Mutex<Behaviour>> = Arc::default();
        let (r, b) = (requests.clone(), behaviour.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (r, b) = (r.clone(), b.clone());
                std::thread::spawn(move || serve(stream, &r, &b));
            }
        });
        HttpReceiver {
            addr,
            requests,
            behaviour,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far (including those answered with an error).
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn fail_next(&self, n: usize) {
        self.behaviour.lock().unwrap().fail = n;
    }

    /// Answer every request with 404 and a body that quotes the URL it was sent to.
    pub fn echo_not_found(&self) {
        self.behaviour.lock().unwrap().echo_not_found = true;
    }

    pub fn hang(&self, d: Duration) {
        self.behaviour.lock().unwrap().hang = d;
    }
}

fn serve(stream: std::net::TcpStream, requests: &Mutex<Vec<Request>>, b: &Mutex<Behaviour>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    requests.lock().unwrap().push(Request {
        method,
        path,
        headers,
        body,
    });
    let (fail, hang, echo) = {
        let mut b = b.lock().unwrap();
        let fail = b.fail > 0;
        if fail {
            b.fail -= 1;
        }
        (fail, b.hang, b.echo_not_found)
    };
    std::thread::sleep(hang);
    let (host, path) = {
        let r = requests.lock().unwrap();
        let last = r.last().unwrap();
        (
            last.headers.get("host").cloned().unwrap_or_default(),
            last.path.clone(),
        )
    };
    let echoed = format!("no hook at http://{host}{path} (path {path})");
    let (status, text) = if echo {
        ("404 Not Found", echoed.as_str())
    } else if fail {
        ("500 Internal Server Error", "try again")
    } else {
        ("200 OK", "ok")
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// One message the SMTP sink accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A plain SMTP server (no TLS, no auth) that accepts every message.
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let m = mails.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let m = m.clone();
                std::thread::spawn(move || smtp_session(stream, &m));
            }
        });
        SmtpSink { addr, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn smtp_session(stream: std::net::TcpStream, mails: &Mutex<Vec<Mail>>) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut say = |s: &str| {
        let _ = out.write_all(format!("{s}\r\n").as_bytes());
    };
    say("220 sink.test ESMTP");
    let mut mail = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            say("250-sink.test\r\n250 8BITMIME");
        } else if upper.starts_with("HELO") {
            say("250 sink.test");
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_string();
            say("250 ok");
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_string());
            say("250 ok");
        } else if upper.starts_with("DATA") {
            say("354 go ahead");
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                mail.data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            mails.lock().unwrap().push(std::mem::replace(
                &mut mail,
                Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                },
            ));
            say("250 queued as 1");
        } else if upper.starts_with("QUIT") {
            say("221 bye");
            return;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            say("250 ok");
        } else {
            say("502 not implemented");
        }
    }
}
