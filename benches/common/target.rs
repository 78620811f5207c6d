//! A loopback HTTP target for the benchmarks.

use std::io::{Read, Write};

/// A loopback HTTP target: always `200 {"status":"ok"}`, or 500 once `fail` is set.
pub fn target(fail: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for _ in 0..2 {
        let listener = listener.try_clone().unwrap();
        let fail = fail.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let status = if fail.load(std::sync::atomic::Ordering::Relaxed) {
                    "500 Oops"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{{\"status\":\"ok\"}}"
                );
            }
        });
    }
    addr
}
