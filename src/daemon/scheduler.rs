//! When things run: each monitor on its own schedule (a phase within its interval, so thousands
//! spread evenly; heartbeats sampled and judged at their deadline), the engine's figures, and
//! the config's `schedules:` (cron in the site time zone).

use super::Msg;
use crate::config::{Config, ScheduleAction};
use crate::monitor::{self, Checker, Monitor};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::info;

/// A `schedules:` entry: its action, cron schedule and next run.
struct Job {
    id: String,
    action: ScheduleAction,
    cron: cron::Schedule,
    next: Option<DateTime<Utc>>,
}

/// The config's `schedules:`, each with its next run.
pub(super) struct Schedules {
    jobs: Vec<Job>,
    tz: chrono_tz::Tz,
}

impl Schedules {
    /// Every schedule's next run after `now` (again after a clock jump or a new config).
    pub(super) fn new(config: &Config, now: DateTime<Utc>) -> Schedules {
        let tz = config.tz();
        let jobs = config
            .schedules
            .iter()
            .filter_map(|s| {
                let cron = crate::schedule::parse_cron(&s.cron).ok()?;
                let next = crate::schedule::occurrences_after(&cron, tz, now).next();
                Some(Job {
                    id: s.id.to_string(),
                    action: s.action,
                    cron,
                    next,
                })
            })
            .collect();
        Schedules { jobs, tz }
    }

    /// The schedules whose time has come at `now`, as (id, action); each moves to its next run.
    pub(super) fn due(&mut self, now: DateTime<Utc>) -> Vec<(String, ScheduleAction)> {
        let mut due = Vec::new();
        for job in &mut self.jobs {
            if job.next.is_none_or(|t| t > now) {
                continue;
            }
            info!(schedule = %job.id, action = ?job.action, "scheduled run");
            due.push((job.id.clone(), job.action));
            job.next = crate::schedule::occurrences_after(&job.cron, self.tz, now).next();
        }
        due
    }

    /// The next moment a schedule is due.
    pub(super) fn next(&self) -> Option<DateTime<Utc>> {
        self.jobs.iter().filter_map(|j| j.next).min()
    }
}

/// What the monitor tasks did since the last report: checks run, and how late each started
/// against its schedule (microseconds).
#[derive(Default)]
struct EngineStats {
    checks: std::sync::atomic::AtomicU64,
    lateness_us: std::sync::Mutex<Vec<u64>>,
}

/// How often the engine logs its figures: once a minute, or every PHAROS_STATS_SECS seconds
/// (the engine bench uses a shorter period to finish sooner).
fn stats_every() -> Duration {
    std::env::var("PHAROS_STATS_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

impl EngineStats {
    fn note(&self, late: Duration) {
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut v = self.lateness_us.lock().unwrap();
        if v.len() < 1_000_000 {
            v.push(late.as_micros() as u64);
        }
    }

    /// Log checks per second and lateness percentiles, then start a new period.
    async fn report_forever(self: Arc<Self>) {
        let mut last = Instant::now();
        let every = stats_every();
        loop {
            tokio::time::sleep(every).await;
            let checks = self.checks.swap(0, std::sync::atomic::Ordering::Relaxed);
            let mut v = std::mem::take(&mut *self.lateness_us.lock().unwrap());
            v.sort_unstable();
            let pct = |p: f64| {
                v.get(((p * v.len() as f64) as usize).min(v.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0)
            };
            let secs = last.elapsed().as_secs_f64();
            last = Instant::now();
            info!(
                checks,
                checks_per_sec = format!("{:.1}", checks as f64 / secs),
                lateness_p50_ms = format!("{:.1}", pct(0.50) as f64 / 1000.0),
                lateness_p99_ms = format!("{:.1}", pct(0.99) as f64 / 1000.0),
                lateness_max_ms = format!("{:.1}", v.last().copied().unwrap_or(0) as f64 / 1000.0),
                "engine"
            );
        }
    }
}

/// Run `m` on its schedule until the task is aborted.
async fn monitor_task(
    m: Monitor,
    checker: Arc<Checker>,
    limit: Arc<Semaphore>,
    tx: Sender<Msg>,
    clock: fn() -> DateTime<Utc>,
    stats: Arc<EngineStats>,
) {
    // Each monitor keeps a phase within its interval; the first check comes within 5 s of start.
    let phase = phase_of(&m.id, m.interval);
    let start = tokio::time::Instant::now();
    let mut next = start + phase.min(Duration::from_secs(5));
    let mut first = true;
    loop {
        tokio::time::sleep_until(next).await;
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        stats.note(tokio::time::Instant::now().saturating_duration_since(next));
        let result = checker.check(&m, clock()).await;
        drop(permit);
        if tx.send(Msg::Result(result)).is_err() {
            return;
        }
        next = if std::mem::take(&mut first) {
            start + phase
        } else {
            next + m.interval
        };
        let now = tokio::time::Instant::now();
        while next <= now {
            // Fell behind (the machine was busy or asleep): skip missed runs rather than burst.
            next += m.interval;
        }
    }
}

/// A heartbeat monitor's state, sampled on its schedule (every `interval`, at most a minute
/// apart, so uptime measures time and not pings), and "down" the moment its silence passes
/// `interval + grace`.
async fn heartbeat_task(
    m: Monitor,
    checker: Arc<Checker>,
    tx: Sender<Msg>,
    clock: fn() -> DateTime<Utc>,
    stats: Arc<EngineStats>,
) {
    let monitor::Kind::Heartbeat(spec) = &m.kind else {
        return;
    };
    let period = m.interval.min(Duration::from_secs(60));
    let phase = phase_of(&m.id, period);
    let start = tokio::time::Instant::now();
    let mut next = start + phase.min(Duration::from_secs(5));
    loop {
        let mut wake = next;
        if let Some(deadline) = checker.heartbeat_deadline(&m, spec) {
            let left = (deadline - clock()).to_std().unwrap_or(Duration::ZERO);
            wake = wake.min(tokio::time::Instant::now() + left);
        }
        tokio::time::sleep_until(wake).await;
        let sample = tokio::time::Instant::now() >= next;
        if sample {
            stats.note(tokio::time::Instant::now().saturating_duration_since(next));
        }
        let mut gone = false;
        checker.heartbeat_tick(&m, spec, clock(), sample, |r| {
            gone = tx.send(Msg::Result(r)).is_err();
        });
        if gone {
            return;
        }
        if sample {
            let now = tokio::time::Instant::now();
            while next <= now {
                next += period;
            }
        }
    }
}

/// A monitor's phase within its interval (from its id), so thousands of monitors spread evenly
/// instead of firing together.
fn phase_of(id: &str, interval: Duration) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    Duration::from_millis(h.finish() % (interval.as_millis().max(1) as u64))
}

/// The running monitor tasks (one per monitor) and the engine's figures.
pub(super) struct MonitorTasks {
    checker: Arc<Checker>,
    limit: Arc<Semaphore>,
    tx: Sender<Msg>,
    clock: fn() -> DateTime<Utc>,
    stats: Arc<EngineStats>,
    reporter: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl MonitorTasks {
    /// On the current tokio runtime.
    pub(super) fn new(
        config: &Config,
        checker: Arc<Checker>,
        tx: Sender<Msg>,
        clock: fn() -> DateTime<Utc>,
    ) -> MonitorTasks {
        let stats = Arc::new(EngineStats::default());
        MonitorTasks {
            checker,
            limit: Arc::new(Semaphore::new(config.daemon.max_concurrent_checks)),
            tx,
            clock,
            reporter: tokio::spawn(stats.clone().report_forever()),
            stats,
            tasks: Vec::new(),
        }
    }

    /// At most `n` checks at once, from the next start on.
    pub(super) fn limit(&mut self, n: usize) {
        self.limit = Arc::new(Semaphore::new(n));
    }

    /// Run `monitors` (instead of the ones running).
    pub(super) fn start(&mut self, monitors: &[Monitor]) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        for m in monitors {
            let task = match m.kind {
                monitor::Kind::Heartbeat(_) => tokio::spawn(heartbeat_task(
                    m.clone(),
                    self.checker.clone(),
                    self.tx.clone(),
                    self.clock,
                    self.stats.clone(),
                )),
                _ => tokio::spawn(monitor_task(
                    m.clone(),
                    self.checker.clone(),
                    self.limit.clone(),
                    self.tx.clone(),
                    self.clock,
                    self.stats.clone(),
                )),
            };
            self.tasks.push(task);
        }
    }

    pub(super) fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
        self.reporter.abort();
    }
}
