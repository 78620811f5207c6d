//! TCP checks: connect, optionally send bytes and wait for expected bytes in the answer.

use super::{MAX_BODY, Outcome, TcpSpec};
use crate::condition::Observed;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn check(spec: &TcpSpec, timeout: Duration) -> (Outcome, Observed, Option<String>) {
    let mut observed = Observed::default();
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect((spec.host.as_str(), spec.port)).await?;
        let connected = started.elapsed();
        let mut answer = Vec::new();
        if let Some(send) = &spec.send {
            stream.write_all(send.as_bytes()).await?;
        }
        if let Some(expect) = &spec.expect {
            let mut buf = [0u8; 4096];
            while !answer.windows(expect.len()).any(|w| w == expect.as_bytes())
                && answer.len() < MAX_BODY
            {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
            }
        }
        Ok::<_, std::io::Error>((connected, answer))
    })
    .await;
    match result {
        Err(_) => {
            observed.connected = Some(false);
            (
                Outcome::Down,
                observed,
                Some(format!("timed out after {} ms", timeout.as_millis())),
            )
        }
        Ok(Err(e)) => {
            observed.connected = Some(false);
            (
                Outcome::Down,
                observed,
                Some(format!("cannot connect: {e}")),
            )
        }
        Ok(Ok((took, answer))) => {
            observed.connected = Some(true);
            observed.response_time = Some(took);
            let text = String::from_utf8_lossy(&answer).into_owned();
            let missing = spec
                .expect
                .as_ref()
                .is_some_and(|e| !text.contains(e.as_str()));
            observed.body = Some(text);
            if missing {
                (
                    Outcome::Down,
                    observed,
                    Some("the answer does not contain the expected bytes".into()),
                )
            } else {
                (Outcome::Up, observed, None)
            }
        }
    }
}
