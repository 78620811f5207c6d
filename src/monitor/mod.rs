//! Monitors: compiled from the config, checked one at a time by [`check`].
//!
//! A service being down is a value ([`CheckResult`] with [`Outcome::Down`] and a reason), never an
//! `Err`. The reason is private (it may contain URLs or server errors): it goes to the store and
//! the admin's terminal, never to the public site.

pub mod condition;
mod dns;
mod http;
pub mod network;
pub mod state;
mod tcp;
mod tls;

use crate::config::{self, MonitorKind};
use crate::model::ComponentStatus;
use chrono::{DateTime, Utc};
use condition::{Condition, Field, Observed};
pub use state::{Level, Outcome, Streak};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most bytes of a response body (or TCP answer) a check reads; the rest is not downloaded.
pub const MAX_BODY: usize = 1024 * 1024;
pub const DEFAULT_WARN_DAYS: u32 = 14;

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub monitor: String,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    pub latency: Option<Duration>,
    /// Private detail: why it is down or degraded.
    pub reason: Option<String>,
    /// Network checks: whether the target answered at all (`None` for heartbeats). All
    /// network targets unreachable at once means our own network is the likelier failure.
    pub reached: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub follow_redirects: bool,
    pub verify_tls: bool,
    pub ca_file: Option<PathBuf>,
    /// Inclusive ranges of accepted status codes.
    pub expected_status: Vec<(u16, u16)>,
}

#[derive(Debug, Clone)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
    pub send: Option<String>,
    pub expect: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DnsSpec {
    pub name: String,
    pub record_type: String,
    pub resolvers: Vec<std::net::SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct TlsSpec {
    pub host: String,
    pub port: u16,
    pub warn_days: u32,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct HeartbeatSpec {
    pub token: String,
    pub grace: Duration,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Http(HttpSpec),
    Tcp(TcpSpec),
    Dns(DnsSpec),
    Tls(TlsSpec),
    Heartbeat(HeartbeatSpec),
}

/// Words of the incident a monitor opens by itself.
#[derive(Debug, Clone)]
pub struct IncidentTemplate {
    pub open: bool,
    pub auto_resolve: config::AutoResolve,
    pub title: String,
    pub message: String,
    pub recovery: String,
    /// The `monitoring` update of a recovery that leaves resolving to an admin.
    pub monitoring: String,
}

/// A monitor ready to run: conditions parsed, secrets resolved.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub id: String,
    pub component: String,
    pub kind: Kind,
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub down_status: ComponentStatus,
    pub degraded_above: Option<Duration>,
    pub conditions: Vec<Condition>,
    pub incident: IncidentTemplate,
    /// Nothing public comes from this monitor (see `config::Monitor::private`).
    pub private: bool,
}

impl Monitor {
    /// Where a network check goes (host and port, or the resolvers), to tell targets apart;
    /// `None` for heartbeats.
    pub fn endpoint(&self) -> Option<String> {
        match &self.kind {
            Kind::Http(h) => reqwest::Url::parse(&h.url).ok().map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or(""),
                    u.port_or_known_default().unwrap_or(0)
                )
            }),
            Kind::Tcp(t) => Some(format!("{}:{}", t.host, t.port)),
            Kind::Tls(t) => Some(format!("{}:{}", t.host, t.port)),
            Kind::Dns(d) => Some(format!("dns {:?}", d.resolvers)),
            Kind::Heartbeat(_) => None,
        }
    }

    /// The component status a confirmed level means.
    pub fn component_status(&self, level: Level) -> ComponentStatus {
        match level {
            Level::Up => ComponentStatus::Operational,
            Level::Degraded => ComponentStatus::DegradedPerformance,
            Level::Down => self.down_status,
        }
    }
}

/// Which fields a monitor kind can give to conditions.
pub fn fields_for(kind: MonitorKind) -> &'static [Field] {
    match kind {
        MonitorKind::Http => &[
            Field::Status,
            Field::ResponseTime,
            Field::Body,
            Field::Connected,
        ],
        MonitorKind::Tcp => &[Field::ResponseTime, Field::Body, Field::Connected],
        MonitorKind::Dns => &[Field::ResponseTime, Field::DnsRcode, Field::DnsAnswer],
        MonitorKind::Tls => &[Field::ResponseTime, Field::CertExpiry, Field::Connected],
        MonitorKind::Heartbeat => &[],
    }
}

/// Compile the config's monitors (the config was validated, so this does not fail on them).
pub fn compile(c: &config::Config) -> Vec<Monitor> {
    c.monitors.iter().map(|m| compile_one(c, m)).collect()
}

fn compile_one(c: &config::Config, m: &config::Monitor) -> Monitor {
    let secret = |s: &Option<config::Secret>| s.as_ref().map(|s| s.expose().to_string());
    let ca_file = m
        .ca_file
        .as_ref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| c.resolve(p));
    let kind = match m.kind {
        MonitorKind::Http => Kind::Http(HttpSpec {
            url: secret(&m.url).unwrap_or_default(),
            method: m.method.as_deref().unwrap_or("GET").to_string(),
            headers: m
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_string()))
                .collect(),
            body: secret(&m.body),
            follow_redirects: m.follow_redirects.unwrap_or(true),
            verify_tls: m.verify_tls.unwrap_or(true),
            ca_file,
            expected_status: if m.expected_status.is_empty() {
                vec![(200, 299)]
            } else {
                m.expected_status
                    .iter()
                    .filter_map(|s| config::parse_status_spec(s).ok())
                    .collect()
            },
        }),
        MonitorKind::Tcp => Kind::Tcp(TcpSpec {
            host: secret(&m.host).unwrap_or_default(),
            port: m.port.unwrap_or(0),
            send: secret(&m.send).filter(|s| !s.is_empty()),
            expect: secret(&m.expect).filter(|s| !s.is_empty()),
        }),
        MonitorKind::Dns => Kind::Dns(DnsSpec {
            name: secret(&m.name).unwrap_or_default(),
            record_type: m.record_type.as_deref().unwrap_or("A").to_string(),
            resolvers: m
                .resolvers
                .iter()
                .filter_map(|r| dns::resolver_addr(r))
                .collect(),
        }),
        MonitorKind::Tls => {
            let (host, port) = match (&m.host, &m.url) {
                (Some(h), _) => (h.expose().to_string(), m.port.unwrap_or(443)),
                (None, Some(u)) => tls::host_port_of_url(u.expose()),
                (None, None) => (String::new(), 443),
            };
            Kind::Tls(TlsSpec {
                host,
                port,
                warn_days: m.warn_days.unwrap_or(DEFAULT_WARN_DAYS),
                ca_file,
            })
        }
        MonitorKind::Heartbeat => Kind::Heartbeat(HeartbeatSpec {
            token: secret(&m.token).unwrap_or_default(),
            grace: m.grace.map(|g| g.0).unwrap_or(m.timeout.0),
        }),
    };
    let component_name = c
        .components
        .iter()
        .find(|x| x.id.as_str() == m.component.as_str())
        .map(|x| x.name.to_string())
        .unwrap_or_else(|| m.component.to_string());
    Monitor {
        private: m.private,
        id: m.id.to_string(),
        component: m.component.to_string(),
        kind,
        interval: m.interval.0,
        timeout: m.timeout.0,
        // A heartbeat's silence past interval + grace is itself the confirmed failure, and one
        // ping the recovery: its thresholds are 1.
        failure_threshold: match m.kind {
            MonitorKind::Heartbeat => 1,
            _ => m.failure_threshold.unwrap_or(config::DEFAULT_FAILURE_THRESHOLD),
        },
        success_threshold: match m.kind {
            MonitorKind::Heartbeat => 1,
            _ => m.success_threshold.unwrap_or(config::DEFAULT_SUCCESS_THRESHOLD),
        },
        down_status: m.down_status,
        degraded_above: m.degraded_above.map(|d| d.0),
        conditions: m.conditions.iter().filter_map(|s| condition::parse(s).ok()).collect(),
        incident: IncidentTemplate {
            open: m.open_incident,
            auto_resolve: m.auto_resolve,
            title: m
                .incident_title
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| format!("{component_name} is not responding")),
            message: m
                .incident_message
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| format!("Our monitoring detected a problem with {component_name}. We are investigating.")),
            recovery: m
                .recovery_message
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| format!("{component_name} is working normally again.")),
            monitoring: format!("Our monitoring sees {component_name} working again. The incident stays open until the team resolves it."),
        },
    }
}

/// HTTP clients differ by (follow redirects, verify TLS, private CA).
type ClientKey = (bool, bool, Option<PathBuf>);

/// Shared, reusable state for checks: HTTP clients by TLS settings, heartbeat pings.
#[derive(Default)]
pub struct Checker {
    http_clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
    /// Last ping per heartbeat token.
    pub heartbeats: Mutex<HashMap<String, DateTime<Utc>>>,
    /// When this checker started (a heartbeat monitor gets one period of grace from here).
    pub started: Option<DateTime<Utc>>,
}

impl Checker {
    pub fn new(now: DateTime<Utc>) -> Arc<Checker> {
        crate::tls_provider();
        Arc::new(Checker {
            started: Some(now),
            ..Default::default()
        })
    }

    /// Run one check of `m` at `now` (wall clock; used for heartbeats and the result's time).
    pub async fn check(&self, m: &Monitor, now: DateTime<Utc>) -> CheckResult {
        let started = Instant::now();
        let (mut outcome, observed, mut reason) = match &m.kind {
            Kind::Http(spec) => http::check(self, spec, m.timeout).await,
            Kind::Tcp(spec) => tcp::check(spec, m.timeout).await,
            Kind::Dns(spec) => dns::check(spec, m.timeout, !m.conditions.is_empty()).await,
            Kind::Tls(spec) => tls::check(spec, m.timeout).await,
            Kind::Heartbeat(spec) => self.heartbeat(m, spec, now),
        };
        let latency = observed.response_time.or_else(|| Some(started.elapsed()));
        if outcome != Outcome::Down && outcome != Outcome::Inconclusive {
            if let Some(failed) = m.conditions.iter().find_map(|c| c.eval(&observed).err()) {
                outcome = Outcome::Down;
                reason = Some(failed);
            } else if let (Some(limit), Some(took)) = (m.degraded_above, observed.response_time)
                && took > limit
                && outcome == Outcome::Up
            {
                outcome = Outcome::Degraded;
                reason = Some(format!(
                    "slow: {} ms (degraded above {} ms)",
                    took.as_millis(),
                    limit.as_millis()
                ));
            }
        }
        CheckResult {
            monitor: m.id.clone(),
            at: now,
            outcome,
            latency: if matches!(m.kind, Kind::Heartbeat(_)) {
                None
            } else {
                latency
            },
            reason,
            reached: match m.kind {
                Kind::Heartbeat(_) => None,
                _ => Some(observed.connected != Some(false)),
            },
        }
    }

    fn heartbeat(
        &self,
        m: &Monitor,
        spec: &HeartbeatSpec,
        now: DateTime<Utc>,
    ) -> (Outcome, Observed, Option<String>) {
        let last = self.heartbeats.lock().unwrap().get(&spec.token).copied();
        let since = last.or(self.started).unwrap_or(now);
        let allowed = chrono::Duration::from_std(m.interval + spec.grace)
            .unwrap_or_else(|_| chrono::Duration::days(1));
        if now - since <= allowed {
            (Outcome::Up, Observed::default(), None)
        } else {
            let what = if last.is_some() {
                "no ping since"
            } else {
                "no ping yet; waiting since"
            };
            (
                Outcome::Down,
                Observed::default(),
                Some(format!("{what} {}", crate::time::iso(since))),
            )
        }
    }

    /// Record a heartbeat ping; returns the monitor id it belongs to, if any.
    pub fn ping(&self, monitors: &[Monitor], token: &str, now: DateTime<Utc>) -> Option<String> {
        let m = monitors
            .iter()
            .find(|m| matches!(&m.kind, Kind::Heartbeat(h) if constant_time_eq(h.token.as_bytes(), token.as_bytes())))?;
        self.heartbeats
            .lock()
            .unwrap()
            .insert(token.to_string(), now);
        Some(m.id.clone())
    }

    fn http_client(&self, spec: &HttpSpec) -> Result<reqwest::Client, String> {
        let key = (spec.follow_redirects, spec.verify_tls, spec.ca_file.clone());
        if let Some(c) = self.http_clients.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let client = http::build_client(spec)?;
        self.http_clients
            .lock()
            .unwrap()
            .insert(key, client.clone());
        Ok(client)
    }
}

/// Compare secrets without leaking their length of common prefix through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
