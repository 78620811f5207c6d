//! Monitors: compiled from the config, checked one at a time by [`check`].
//!
//! A service being down is a value ([`CheckResult`] with [`Outcome::Down`] and a reason), never an
//! `Err`. The reason is private (it may contain URLs or server errors): it goes to the store and
//! the admin's terminal, never to the public site.

mod dns;
mod http;
pub use http::user_agent;
pub mod network;
pub mod state;
mod tcp;
mod tls;

use crate::condition::{self, Condition, Observed};
use crate::config;
use crate::model::ComponentStatus;
use crate::model::MonitorKind;
use chrono::{DateTime, Utc};
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
    /// In a cluster: what each region saw, when the leader judged this result with theirs
    /// (empty otherwise).
    pub regions: Vec<RegionResult>,
}

/// What one region saw of a monitor's check.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionResult {
    pub region: String,
    pub outcome: Outcome,
    pub latency: Option<Duration>,
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
    /// Its private strings, taken out of what comes back from the target (see [`Monitor::secrets`]).
    pub redactor: crate::redact::Redactor,
}

impl Monitor {
    /// The monitor's private strings (URL, headers, body, host, what it sends and expects, the
    /// name it asks, the token), to take out of what comes back.
    pub fn secrets(kind: &Kind) -> crate::redact::Redactor {
        let secrets: Vec<&str> = match kind {
            Kind::Http(h) => std::iter::once(h.url.as_str())
                .chain(h.headers.iter().map(|(_, v)| v.as_str()))
                .chain(h.body.as_deref())
                .collect(),
            Kind::Tcp(t) => std::iter::once(t.host.as_str())
                .chain(t.send.as_deref())
                .chain(t.expect.as_deref())
                .collect(),
            Kind::Dns(d) => vec![d.name.as_str()],
            Kind::Tls(t) => vec![t.host.as_str()],
            Kind::Heartbeat(h) => vec![h.token.as_str()],
        };
        crate::redact::Redactor::new(secrets)
    }

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
        redactor: Monitor::secrets(&kind),
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
    /// Heartbeats by monitor id. One lock orders a ping against the sample of its monitor, so
    /// a "down" decided before a ping never arrives after the ping's "up".
    pub heartbeats: Mutex<HashMap<String, Beat>>,
    /// When this checker started (the daemon listens for pings from then on); `None` for a
    /// one-shot `pharos check`, which only reads the recorded pings.
    pub started: Option<DateTime<Utc>>,
    /// The region this process checks from (`--region`), named in every check's User-Agent.
    pub region: Option<String>,
}

/// What the daemon knows of one heartbeat monitor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Beat {
    pub last_ping: Option<DateTime<Utc>>,
    /// Silence a daemon listened to before this checker started (since the last ping, or
    /// since the monitor was configured): restarts neither reset nor stretch the count.
    pub listened: chrono::Duration,
    /// Since when this checker listens for the monitor, if later than its start (a monitor
    /// added by a config reload).
    pub from: Option<DateTime<Utc>>,
    /// The outcome last sent for it (a ping sends "up" at once only when that was not "up").
    pub sent: Option<Outcome>,
    /// Token bucket of accepted pings: tokens left and when it was last filled.
    tokens: f64,
    filled: Option<Instant>,
}

/// What the store knows of each heartbeat, by monitor id: (last ping, silence a daemon listened
/// to since then).
pub type Silences = HashMap<String, (Option<DateTime<Utc>>, chrono::Duration)>;

/// Accepted pings per heartbeat token: a burst of this many, then this many per second.
pub const PING_BURST: f64 = 5.0;
pub const PINGS_PER_SEC: f64 = 1.0;

impl Beat {
    /// Take one ping from the bucket; false when the token pings faster than allowed.
    fn admit(&mut self, at: Instant) -> bool {
        let tokens = match self.filled {
            None => PING_BURST,
            Some(t) => (self.tokens
                + at.saturating_duration_since(t).as_secs_f64() * PINGS_PER_SEC)
                .min(PING_BURST),
        };
        self.filled = Some(at);
        if tokens >= 1.0 {
            self.tokens = tokens - 1.0;
            true
        } else {
            self.tokens = tokens;
            false
        }
    }
}

/// What a ping did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// Recorded; `recovered` when an "up" must be sent now (the last outcome sent was not up).
    Accepted { recovered: bool },
    /// The token pings faster than [`PINGS_PER_SEC`] allows: ignored.
    Limited,
}

impl Checker {
    pub fn new(now: DateTime<Utc>) -> Arc<Checker> {
        Checker::in_region(now, None)
    }

    /// A checker whose checks name `region` in their User-Agent.
    pub fn in_region(now: DateTime<Utc>, region: Option<&str>) -> Arc<Checker> {
        crate::tls_provider();
        Arc::new(Checker {
            started: Some(now),
            region: region.map(str::to_string),
            ..Default::default()
        })
    }

    /// A checker for one-shot checks: heartbeats are judged by the pings recorded in `pings`.
    pub fn one_shot(pings: HashMap<String, DateTime<Utc>>) -> Arc<Checker> {
        crate::tls_provider();
        let checker = Checker::default();
        checker.remember(
            pings
                .into_iter()
                .map(|(id, at)| (id, (Some(at), chrono::Duration::zero())))
                .collect(),
        );
        Arc::new(checker)
    }

    /// Load what the store knows of heartbeats (after a restart: a restart is not a ping, and
    /// the silence listened to before it still counts): monitor id -> (last ping, listened).
    pub fn remember(&self, known: Silences) {
        let mut beats = self.heartbeats.lock().unwrap();
        for (id, (ping, listened)) in known {
            let beat = beats.entry(id).or_default();
            beat.last_ping = ping;
            beat.listened = listened;
        }
    }

    /// Listen for heartbeat `id` from `now` on, unless it is known already (a monitor added
    /// by a config reload: its silence counts from now, not from the daemon's start).
    pub fn listen_from(&self, id: &str, now: DateTime<Utc>) {
        self.heartbeats
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_insert_with(|| Beat {
                from: Some(now),
                ..Default::default()
            });
    }

    /// Run one check of `m` at `now` (wall clock; used for heartbeats and the result's time).
    pub async fn check(&self, m: &Monitor, now: DateTime<Utc>) -> CheckResult {
        let started = Instant::now();
        let (mut outcome, observed, mut reason) = match &m.kind {
            Kind::Http(spec) => http::check(self, spec, m.timeout).await,
            Kind::Tcp(spec) => tcp::check(spec, m.timeout).await,
            Kind::Dns(spec) => dns::check(spec, m.timeout, !m.conditions.is_empty()).await,
            Kind::Tls(spec) => tls::check(spec, m.timeout).await,
            Kind::Heartbeat(spec) => {
                let beat = self.heartbeats.lock().unwrap().get(&m.id).copied();
                let (o, r) = self.heartbeat(m, spec, &beat.unwrap_or_default(), now);
                (o, Observed::default(), r)
            }
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
        // What came back from the target may echo what it was sent.
        let reason = reason.map(|r| m.redactor.apply(&r));
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
            regions: Vec::new(),
        }
    }

    /// How long a heartbeat may stay silent.
    fn allowed(m: &Monitor, spec: &HeartbeatSpec) -> chrono::Duration {
        chrono::Duration::from_std(m.interval + spec.grace)
            .unwrap_or_else(|_| chrono::Duration::days(1))
    }

    /// The silence a daemon has listened to at `now`: since the last ping if it came after this
    /// checker started; else what was listened to before the start plus the time since. `None`
    /// for a one-shot check of a monitor never pinged.
    fn silence(&self, beat: &Beat, now: DateTime<Utc>) -> Option<chrono::Duration> {
        match (beat.from.or(self.started), beat.last_ping) {
            (Some(s), Some(p)) if p >= s => Some(now - p),
            (Some(s), _) => Some(beat.listened + (now - s)),
            (None, Some(p)) => Some(now - p),
            (None, None) => None,
        }
    }

    /// A heartbeat's state at `now`: up within `interval + grace` of the last ping; down once a
    /// daemon has listened to that much silence (pings cannot arrive while none listens, and a
    /// restart is no ping); unknown (inconclusive) in between, and for a one-shot check of a
    /// monitor never pinged.
    pub fn heartbeat(
        &self,
        m: &Monitor,
        spec: &HeartbeatSpec,
        beat: &Beat,
        now: DateTime<Utc>,
    ) -> (Outcome, Option<String>) {
        let allowed = Self::allowed(m, spec);
        if beat.last_ping.is_some_and(|p| now - p <= allowed) {
            return (Outcome::Up, None);
        }
        match self.silence(beat, now) {
            Some(silence) if silence > allowed => {
                let what = match beat.last_ping {
                    Some(p) => format!("no ping since {}", crate::time::iso(p)),
                    None => "never pinged".to_string(),
                };
                (Outcome::Down, Some(what))
            }
            _ => (
                Outcome::Inconclusive,
                Some(match beat.last_ping {
                    Some(p) => format!(
                        "no ping since {}, but a daemon has listened for less than interval + grace",
                        crate::time::iso(p)
                    ),
                    None => "never pinged (the daemon records pings)".to_string(),
                }),
            ),
        }
    }

    /// When `m` goes down unless a ping comes: once a daemon has listened to `interval + grace`
    /// of silence. `None` once "down" was sent (until the next ping).
    pub fn heartbeat_deadline(&self, m: &Monitor, spec: &HeartbeatSpec) -> Option<DateTime<Utc>> {
        let beats = self.heartbeats.lock().unwrap();
        let beat = beats.get(&m.id).copied().unwrap_or_default();
        if beat.sent == Some(Outcome::Down) {
            return None;
        }
        let allowed = Self::allowed(m, spec);
        match (beat.from.or(self.started), beat.last_ping) {
            (Some(s), Some(p)) if p >= s => Some(p + allowed),
            (Some(s), _) => Some(s + allowed - beat.listened),
            (None, p) => Some(p? + allowed),
        }
    }

    /// Judge heartbeat `m` at `now` and hand the result to `send` while holding the lock that
    /// pings take: a sample (on the monitor's schedule) unless the state is unknown, or, off
    /// schedule, the silence that just passed its deadline.
    pub fn heartbeat_tick(
        &self,
        m: &Monitor,
        spec: &HeartbeatSpec,
        now: DateTime<Utc>,
        sample: bool,
        send: impl FnOnce(CheckResult),
    ) {
        let mut beats = self.heartbeats.lock().unwrap();
        let beat = beats.entry(m.id.clone()).or_default();
        let (outcome, reason) = self.heartbeat(m, spec, beat, now);
        let due = outcome == Outcome::Down && beat.sent != Some(Outcome::Down);
        if (sample && outcome != Outcome::Inconclusive) || due {
            beat.sent = Some(outcome);
            send(CheckResult {
                monitor: m.id.clone(),
                at: now,
                outcome,
                latency: None,
                reason,
                reached: None,
                regions: Vec::new(),
            });
        }
    }

    /// Record a ping of heartbeat monitor `id` at `now`.
    pub fn ping(&self, id: &str, now: DateTime<Utc>) -> Ping {
        let mut beats = self.heartbeats.lock().unwrap();
        let beat = beats.entry(id.to_string()).or_default();
        if !beat.admit(Instant::now()) {
            return Ping::Limited;
        }
        beat.last_ping = Some(now);
        let recovered = beat.sent != Some(Outcome::Up);
        beat.sent = Some(Outcome::Up);
        Ping::Accepted { recovered }
    }

    fn http_client(&self, spec: &HttpSpec) -> Result<reqwest::Client, String> {
        let key = (spec.follow_redirects, spec.verify_tls, spec.ca_file.clone());
        if let Some(c) = self.http_clients.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let client = http::build_client(spec, self.region.as_deref())?;
        self.http_clients
            .lock()
            .unwrap()
            .insert(key, client.clone());
        Ok(client)
    }
}

/// Heartbeat monitors by the SHA-256 of their token: a ping's token is hashed and looked up,
/// so the lookup's timing says nothing about how much of a token was right.
pub fn heartbeat_tokens(monitors: &[Monitor]) -> HashMap<[u8; 32], String> {
    monitors
        .iter()
        .filter_map(|m| match &m.kind {
            Kind::Heartbeat(h) => Some((token_key(&h.token), m.id.clone())),
            _ => None,
        })
        .collect()
}

/// The map key of a heartbeat token.
pub fn token_key(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}
