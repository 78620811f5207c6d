//! The heartbeat listener: `GET|POST|HEAD /heartbeat/<token>` on `daemon.listen`, nothing else.

use super::Msg;
use crate::monitor::{self, CheckResult, Checker};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Heartbeat monitors by the hash of their token (see [`monitor::heartbeat_tokens`]).
pub(super) type Tokens = Arc<RwLock<HashMap<[u8; 32], String>>>;

/// Serve heartbeat pings: `GET|POST|HEAD /heartbeat/<token>`. Nothing else is served. A token
/// that pings faster than [`monitor::PINGS_PER_SEC`] (after a small burst) gets 429.
async fn heartbeat_server(
    listener: tokio::net::TcpListener,
    checker: Arc<Checker>,
    tokens: Tokens,
    tx: Sender<Msg>,
    clock: fn() -> DateTime<Utc>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (checker, tokens, tx) = (checker.clone(), tokens.clone(), tx.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    let got = stream.read(&mut buf[n..]).await.unwrap_or(0);
                    if got == 0 {
                        break;
                    }
                    n += got;
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n")
                        || buf[..n].windows(2).any(|w| w == b"\n\n")
                    {
                        break;
                    }
                }
            })
            .await;
            let line = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let token = path
                .strip_prefix("/heartbeat/")
                .unwrap_or("")
                .split(['?', '#'])
                .next()
                .unwrap_or("");
            let now = clock();
            let matched =
                if read.is_ok() && matches!(method, "GET" | "POST" | "HEAD") && !token.is_empty() {
                    let key = monitor::token_key(token);
                    tokens.read().unwrap().get(&key).cloned()
                } else {
                    None
                };
            let ping = matched.map(|id| (checker.ping(&id, now), id));
            let response: &[u8] = match ping {
                Some((monitor::Ping::Accepted { recovered }, id)) => {
                    if recovered {
                        // Proof of life: the heartbeat is up now, not at its next sample.
                        let _ = tx.send(Msg::Result(CheckResult {
                            monitor: id.clone(),
                            at: now,
                            outcome: monitor::Outcome::Up,
                            latency: None,
                            reason: None,
                            reached: None,
                            regions: Vec::new(),
                        }));
                    }
                    let _ = tx.send(Msg::Ping { monitor: id, at: now });
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
                }
                Some((monitor::Ping::Limited, _)) => b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nContent-Length: 18\r\nConnection: close\r\n\r\ntoo many requests\n",
                None => b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
            };
            // A HEAD answer has the headers of the GET answer and no body.
            let response = match response.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(end) if method == "HEAD" => &response[..end + 4],
                _ => response,
            };
            let _ = stream.write_all(response).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// The heartbeat listener, when the config has heartbeat monitors: with none, no port is taken.
#[derive(Default)]
pub(super) struct Listener {
    /// The address bound (as configured) and the server's task.
    running: Option<(String, tokio::task::JoinHandle<()>)>,
}

impl Listener {
    /// Serve pings on `config.daemon.listen` if `wanted`; stop serving otherwise. A new address
    /// is bound before the old one is let go, so a failed bind keeps the old listener (the
    /// error names `daemon.listen`).
    pub(super) async fn apply(
        &mut self,
        config: &crate::config::Config,
        wanted: bool,
        ping: &Ping,
    ) -> anyhow::Result<()> {
        let addr = config.daemon.listen.as_str();
        if !wanted {
            if let Some((old, task)) = self.running.take() {
                task.abort();
                tracing::info!(addr = %old, "no heartbeat monitors: the heartbeat listener stops");
            }
            return Ok(());
        }
        if self.running.as_ref().is_some_and(|(a, _)| a == addr) {
            return Ok(());
        }
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            // The same port on another address of this host (we hold it): let the old one go
            // first. A port another process holds is an error, and the old listener stays.
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && self
                        .running
                        .as_ref()
                        .is_some_and(|(old, _)| port_of(old) == port_of(addr)) =>
            {
                let (old, task) = self.running.take().expect("checked");
                task.abort();
                let _ = task.await;
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => {
                        // Back to the old address, if it is still free.
                        match tokio::net::TcpListener::bind(&old).await {
                            Ok(l) => self.running = Some((old.clone(), ping.serve(l))),
                            Err(again) => tracing::error!(
                                addr = %old,
                                "the heartbeat listener is down: cannot listen on the old address again either: {again}"
                            ),
                        }
                        return Err(bind_error(config, e));
                    }
                }
            }
            Err(e) => return Err(bind_error(config, e)),
        };
        tracing::info!(addr = %listener.local_addr()?, "heartbeat listener ready");
        if let Some((_, task)) = self.running.take() {
            task.abort();
        }
        self.running = Some((addr.to_string(), ping.serve(listener)));
        Ok(())
    }

    pub(super) fn stop(&mut self) {
        if let Some((_, task)) = self.running.take() {
            task.abort();
        }
    }
}

/// The port of `host:port`.
fn port_of(addr: &str) -> Option<&str> {
    addr.rsplit_once(':').map(|(_, port)| port)
}

fn bind_error(config: &crate::config::Config, e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot listen for heartbeats on {} (daemon.listen in {}): {e}",
        config.daemon.listen.as_str(),
        config.file.display()
    )
}

/// What a ping reaches: the monitors' timing, their tokens, the pipeline.
#[derive(Clone)]
pub(super) struct Ping {
    pub checker: Arc<Checker>,
    pub tokens: Tokens,
    pub tx: Sender<Msg>,
    pub clock: fn() -> DateTime<Utc>,
}

impl Ping {
    fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let p = self.clone();
        tokio::spawn(heartbeat_server(
            listener, p.checker, p.tokens, p.tx, p.clock,
        ))
    }
}
