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
                        }));
                    }
                    let _ = tx.send(Msg::Ping { monitor: id, at: now });
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
                }
                Some((monitor::Ping::Limited, _)) => b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nContent-Length: 18\r\nConnection: close\r\n\r\ntoo many requests\n",
                None => b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
            };
            let _ = stream.write_all(response).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Listen on `daemon.listen` and serve pings until the task is aborted.
pub(super) async fn start(
    config: &crate::config::Config,
    checker: Arc<Checker>,
    tokens: Tokens,
    tx: Sender<Msg>,
    clock: fn() -> DateTime<Utc>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use anyhow::Context;
    let addr = config.daemon.listen.as_str();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for heartbeats on {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "heartbeat listener ready");
    Ok(tokio::spawn(heartbeat_server(
        listener, checker, tokens, tx, clock,
    )))
}
