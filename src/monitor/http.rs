//! HTTP(S) checks with reqwest: method, headers, body, redirects, TLS verification (optionally
//! against a private CA), expected status, a capped body read for conditions.

use super::{Checker, HttpSpec, MAX_BODY, Outcome};
use crate::condition::Observed;
use std::time::{Duration, Instant};

/// What every check says it is: Pharos, its version and, in a cluster, the region it checks
/// from, so operators can allow-list probes and tell them apart in their logs.
pub fn user_agent(region: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match region {
        Some(r) => format!("Pharos/{version} (status monitor; region={r})"),
        None => format!("Pharos/{version} (status monitor)"),
    }
}

pub fn build_client(spec: &HttpSpec, region: Option<&str>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .user_agent(user_agent(region))
        .redirect(if spec.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .tls_danger_accept_invalid_certs(!spec.verify_tls)
        .pool_max_idle_per_host(4);
    if let Some(ca) = &spec.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| format!("cannot read ca_file {}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("invalid ca_file {}: {e}", ca.display()))?;
        b = b.tls_certs_only(certs);
    }
    b.build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

pub async fn check(
    checker: &Checker,
    spec: &HttpSpec,
    timeout: Duration,
) -> (Outcome, Observed, Option<String>) {
    let mut observed = Observed::default();
    let client = match checker.http_client(spec) {
        Ok(c) => c,
        Err(e) => return (Outcome::Down, observed, Some(e)),
    };
    let method =
        reqwest::Method::from_bytes(spec.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = client.request(method, &spec.url).timeout(timeout);
    for (k, v) in &spec.headers {
        req = req.header(k, v);
    }
    if let Some(body) = &spec.body {
        req = req.body(body.clone());
    }
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, async {
        let mut resp = req.send().await?;
        let took = started.elapsed();
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            let room = MAX_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_BODY {
                break;
            }
        }
        Ok::<_, reqwest::Error>((status, took, body))
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
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            (
                Outcome::Down,
                observed,
                // Without the URL: it may hold credentials or tokens, and reasons reach logs.
                Some(format!("{what}: {}", crate::error_chain(&e.without_url()))),
            )
        }
        Ok(Ok((status, took, body))) => {
            observed.connected = Some(true);
            observed.status = Some(status);
            observed.response_time = Some(took);
            observed.body = Some(String::from_utf8_lossy(&body).into_owned());
            if spec
                .expected_status
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&status))
            {
                (Outcome::Up, observed, None)
            } else {
                let want: Vec<String> = spec
                    .expected_status
                    .iter()
                    .map(|(lo, hi)| {
                        if lo == hi {
                            lo.to_string()
                        } else {
                            format!("{lo}-{hi}")
                        }
                    })
                    .collect();
                (
                    Outcome::Down,
                    observed,
                    Some(format!("status {status} (expected {})", want.join(", "))),
                )
            }
        }
    }
}
