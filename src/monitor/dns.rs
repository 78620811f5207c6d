//! DNS checks: one query over UDP to each configured resolver in turn (hickory-proto messages),
//! reporting the response code and the answers. Without conditions, NOERROR with at least one
//! answer is up.

use super::DnsSpec;
use super::Outcome;
use crate::condition::Observed;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// `1.1.1.1` or `9.9.9.9:53` or `[::1]:5353`.
pub fn resolver_addr(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| {
        s.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The system's resolvers, from /etc/resolv.conf.
fn system_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| resolver_addr(ip.trim()))
        .collect()
}

pub fn rcode_name(r: ResponseCode) -> String {
    match r {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("{other:?}").to_uppercase(),
    }
}

async fn ask(
    resolver: SocketAddr,
    query: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Message, String> {
    let bind: SocketAddr = if resolver.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    sock.connect(resolver)
        .await
        .map_err(|e| format!("{resolver}: {e}"))?;
    sock.send(query)
        .await
        .map_err(|e| format!("{resolver}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, sock.recv(&mut buf))
            .await
            .map_err(|_| format!("{resolver}: no answer within {} ms", timeout.as_millis()))?
            .map_err(|e| format!("{resolver}: {e}"))?;
        match Message::from_vec(&buf[..n]) {
            // Ignore stray datagrams that do not answer our question.
            Ok(m) if m.metadata.id == id => return Ok(m),
            _ => continue,
        }
    }
}

/// With `conditions`, any answer is up here and the conditions decide (they may expect NXDOMAIN).
pub async fn check(
    spec: &DnsSpec,
    timeout: Duration,
    conditions: bool,
) -> (Outcome, Observed, Option<String>) {
    let mut observed = Observed::default();
    let name = match Name::from_str_relaxed(&spec.name) {
        Ok(n) => n,
        Err(e) => return (Outcome::Down, observed, Some(format!("invalid name: {e}"))),
    };
    let rtype = RecordType::from_str(&spec.record_type).unwrap_or(RecordType::A);
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name, rtype));
    let id = msg.metadata.id;
    let bytes = match msg.to_vec() {
        Ok(b) => b,
        Err(e) => {
            return (
                Outcome::Down,
                observed,
                Some(format!("cannot encode the query: {e}")),
            );
        }
    };
    let resolvers = if spec.resolvers.is_empty() {
        system_resolvers()
    } else {
        spec.resolvers.clone()
    };
    let mut errors = Vec::new();
    for resolver in resolvers {
        let started = Instant::now();
        match ask(resolver, &bytes, id, timeout).await {
            Ok(answer) => {
                observed.response_time = Some(started.elapsed());
                let rcode = rcode_name(answer.metadata.response_code);
                observed.dns_answer = answer
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .map(|r| r.data.to_string().trim_end_matches('.').to_string())
                    .collect();
                let ok = conditions || (rcode == "NOERROR" && !observed.dns_answer.is_empty());
                let reason = (!ok).then(|| {
                    format!(
                        "{rcode} with {} answers from {resolver}",
                        observed.dns_answer.len()
                    )
                });
                observed.dns_rcode = Some(rcode);
                return (
                    if ok { Outcome::Up } else { Outcome::Down },
                    observed,
                    reason,
                );
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return (
            Outcome::Inconclusive,
            observed,
            Some("no resolver configured and none in /etc/resolv.conf".into()),
        );
    }
    // No resolver answered at all.
    observed.connected = Some(false);
    (Outcome::Down, observed, Some(errors.join("; ")))
}
