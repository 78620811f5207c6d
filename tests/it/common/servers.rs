//! Real servers on loopback for monitor and daemon tests: an HTTP target whose answer the test
//! changes, a TLS server with certificates made here, a DNS responder.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the HTTP target answers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
    /// Close the connection without answering.
    pub drop: bool,
    pub location: Option<String>,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            status: 200,
            body: "{\"status\":\"ok\"}".into(),
            delay: Duration::ZERO,
            drop: false,
            location: None,
        }
    }
}

/// An HTTP/1.1 server on its own thread and runtime; change its answer with `set`.
pub struct HttpTarget {
    pub addr: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    pub hits: Arc<Mutex<u64>>,
}

impl HttpTarget {
    pub fn start() -> HttpTarget {
        let answer = Arc::new(Mutex::new(Answer::default()));
        let hits = Arc::new(Mutex::new(0));
        let (a, h) = (answer.clone(), hits.clone());
        let addr = serve_loopback(move |mut s| {
            let (a, h) = (a.clone(), h.clone());
            async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                *h.lock().unwrap() += 1;
                let ans = a.lock().unwrap().clone();
                tokio::time::sleep(ans.delay).await;
                if ans.drop {
                    return;
                }
                let location = ans
                    .location
                    .map(|l| format!("Location: {l}\r\n"))
                    .unwrap_or_default();
                let resp = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                    ans.status,
                    ans.body.len(),
                    ans.body
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        HttpTarget { addr, answer, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, f: impl FnOnce(&mut Answer)) {
        f(&mut self.answer.lock().unwrap());
    }
}

/// A CA and certificates signed by it, made for the test.
pub struct TestPki {
    pub ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestPki {
    pub fn new() -> TestPki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Pharos Test CA");
        let ca = params.self_signed(&key).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf for `host`, valid from a day ago until `days` from now (negative: expired).
    pub fn leaf(&self, host: &str, days: i64) -> (Vec<u8>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
        let ymd = |t: chrono::DateTime<chrono::Utc>| {
            use chrono::Datelike;
            rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
        };
        let now = chrono::Utc::now();
        params.not_before = ymd(now - chrono::Duration::days(30));
        params.not_after = ymd(now + chrono::Duration::days(days));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

/// A TCP server on a free loopback port, on its own thread and runtime: `handle` answers each
/// connection (concurrently).
fn serve_loopback<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(handle(s));
            }
        });
    });
    addr
}

/// A TLS server presenting `cert` (DER) on loopback; answers an HTTP request with 200 `ok`.
pub fn tls_server(cert: Vec<u8>, key: Vec<u8>) -> SocketAddr {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    pharos::tls_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    serve_loopback(move |s| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(mut tls) = acceptor.accept(s).await {
                // Answer an HTTP request if one comes (HTTPS monitors); TLS monitors just close.
                let mut buf = [0u8; 4096];
                if let Ok(n) = tls.read(&mut buf).await
                    && n > 0
                {
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                }
                let _ = tls.shutdown().await;
            }
        }
    })
}

/// A DNS server on loopback UDP: `ok.test.` has A 10.0.0.1 and 10.0.0.2; everything else NXDOMAIN.
pub fn dns_server() -> SocketAddr {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{Name, RData, Record, rdata::A};
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.metadata.message_type = MessageType::Response;
            r.metadata.recursion_desired = q.metadata.recursion_desired;
            r.metadata.recursion_available = true;
            for query in &q.queries {
                r.add_query(query.clone());
                if query.name() == &Name::from_ascii("ok.test.").unwrap() {
                    for ip in [[10, 0, 0, 1], [10, 0, 0, 2]] {
                        r.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
                        ));
                    }
                } else {
                    r.metadata.response_code = ResponseCode::NXDomain;
                }
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), peer);
        }
    });
    addr
}
