//! `pharos run`: the long-running loop.
//!
//! Monitor tasks (tokio) check on their schedules and send results; the pipeline thread owns the
//! store (the one writer) and reads top to bottom: record results (confirmation decided in the
//! write transaction) -> open/resolve automatic incidents -> when something public changed,
//! wait out the debounce, then import content, snapshot, render and write the site. Edits to
//! `content/` and the config arrive from the file watcher; time-driven changes (maintenance
//! windows, the freshness stamp, midnight) from the pipeline's own wake-up time.

use crate::build;
use crate::config::{Config, ScheduleAction};
use crate::monitor::state::Transition;
use crate::monitor::{self, CheckResult, Checker, Level, Monitor};
use crate::snapshot::Snapshot;
use crate::store::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

/// Messages to the pipeline thread.
pub enum Msg {
    Result(CheckResult),
    /// A heartbeat monitor was pinged (kept in the store, so a restart knows the last ping).
    Ping {
        monitor: String,
        at: DateTime<Utc>,
    },
    /// Something under `content/` changed.
    Content,
    /// A new, valid config.
    Config(Box<Config>),
    Stop,
}

/// How often rollups (percentiles) and pruning run.
const ROLLUP_EVERY: Duration = Duration::from_secs(300);
/// Results are written in batches of at most this many, or after this long.
const BATCH_MAX: usize = 2000;
const BATCH_WAIT: Duration = Duration::from_millis(50);

/// A `schedules:` entry: its action, cron schedule and next run.
struct Job {
    id: String,
    action: ScheduleAction,
    cron: cron::Schedule,
    next: Option<DateTime<Utc>>,
}

fn jobs(config: &Config, now: DateTime<Utc>) -> Vec<Job> {
    config
        .schedules
        .iter()
        .filter_map(|s| {
            let cron = crate::schedule::parse_cron(&s.cron).ok()?;
            let next = crate::schedule::occurrences_after(&cron, config.tz(), now).next();
            Some(Job {
                id: s.id.to_string(),
                action: s.action,
                cron,
                next,
            })
        })
        .collect()
}

/// State that the pipeline thread keeps between iterations.
struct Pipeline {
    config: Config,
    monitors: HashMap<String, Monitor>,
    store: Store,
    out: Option<PathBuf>,
    /// Maintenance windows of the last snapshot: (component, from, until).
    maintenance: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    dirty_since: Option<Instant>,
    wake_at: DateTime<Utc>,
    last_rollup: Option<Instant>,
    /// `schedules:` from the config with their next run.
    jobs: Vec<Job>,
    /// Rendered pages, imported content, in-place writes: what makes a change cost little.
    inc: build::Incremental,
    /// Each rendered site goes here, to the publisher thread (when targets are enabled).
    publish_tx: Option<Sender<ToPublisher>>,
    /// Whether our own network works (all targets unreachable at once: cannot judge).
    network: monitor::network::NetworkJudge,
    /// Check results the store could not take yet (locked by another process, disk full).
    unrecorded: Vec<CheckResult>,
    /// Heartbeat pings not yet in the store: the newest per monitor.
    pings: HashMap<String, DateTime<Utc>>,
    /// Failed writes of the output folder in a row (full disk, read-only): sets the retry.
    write_failures: u32,
    /// Content files with problems (their last good version is published), and the problems
    /// last reported for each.
    content_problems: BTreeMap<String, Vec<String>>,
}

/// How many unrecorded check results are kept while the store is unavailable.
const UNRECORDED_MAX: usize = 100_000;

/// The network judge for `monitors`.
fn network_judge<'a>(
    monitors: impl IntoIterator<Item = &'a Monitor>,
) -> monitor::network::NetworkJudge {
    monitor::network::NetworkJudge::new(
        monitors
            .into_iter()
            .filter_map(|m| Some((m.id.clone(), m.endpoint()?))),
    )
}

impl Pipeline {
    fn content_changed(&mut self) {
        self.inc.content_dirty = true;
        self.mark_dirty();
    }

    fn mark_dirty(&mut self) {
        self.dirty_since.get_or_insert_with(Instant::now);
    }

    fn ping(&mut self, monitor: String, at: DateTime<Utc>) {
        let e = self.pings.entry(monitor).or_insert(at);
        *e = (*e).max(at);
    }

    fn record(&mut self, mut batch: Vec<CheckResult>, now: DateTime<Utc>) {
        match self.store.record_pings(&self.pings, now) {
            Ok(()) => self.pings.clear(),
            Err(e) => error!(
                store = %self.config.database_path().display(),
                "cannot record {} heartbeat pings (kept, will retry): {e:#}",
                self.pings.len()
            ),
        }
        if batch.is_empty() && self.unrecorded.is_empty() {
            return;
        }
        let impaired = self.network.impaired_since();
        self.network.judge(&mut batch);
        if self.network.impaired_since().is_some() != impaired.is_some() {
            match self.network.impaired_since() {
                Some(_) => warn!("{}", monitor::network::CANNOT_JUDGE),
                None => info!("a monitored target answers again: checks count again"),
            }
            self.inc.monitoring_impaired_since = self.network.impaired_since();
            self.mark_dirty();
        }
        // Results the store could not take last time (locked, full) go first, in order.
        if !self.unrecorded.is_empty() {
            let mut all = std::mem::take(&mut self.unrecorded);
            all.append(&mut batch);
            batch = all;
        }
        let batch = &batch[..];
        let maint = std::mem::take(&mut self.maintenance);
        let in_maintenance = |c: &str, at: DateTime<Utc>| {
            maint
                .iter()
                .any(|(mc, f, u)| mc == c && *f <= at && at < *u)
        };
        let tz = self.config.tz();
        let result = self
            .store
            .record(batch, &self.monitors, tz, &in_maintenance);
        self.maintenance = maint;
        match result {
            Ok(transitions) => {
                for t in transitions {
                    if self.transition(&t) {
                        // An automatic incident file was written or updated.
                        self.content_changed();
                    }
                    self.mark_dirty();
                }
            }
            Err(e) => {
                // Kept and tried again with the next results; a store that stays unavailable
                // costs memory only up to a bound (the oldest are dropped, and it says so).
                error!(
                    store = %self.config.database_path().display(),
                    "cannot record {} check results (kept, will retry): {e:#}",
                    batch.len()
                );
                self.unrecorded = batch.to_vec();
                if self.unrecorded.len() > UNRECORDED_MAX {
                    let drop = self.unrecorded.len() - UNRECORDED_MAX;
                    error!("dropping the {drop} oldest check results: the store is unavailable");
                    self.unrecorded.drain(..drop);
                }
            }
        }
    }

    /// A confirmed change: log it, open, update or resolve the automatic incident. Returns
    /// whether a content file was written.
    fn transition(&mut self, t: &Transition) -> bool {
        info!(monitor = %t.monitor, component = %t.component, from = t.from.as_str(), to = t.to.as_str(), "confirmed");
        let Some(m) = self.monitors.get(&t.monitor).cloned() else {
            return false;
        };
        if m.private {
            // Logged above; nothing public (no incident) comes from a private monitor.
            return false;
        }
        // The monitor's incident is read from the store now, not from when the batch started:
        // one batch may hold both the failure and the recovery (a store that was busy).
        let done = if t.to == Level::Down {
            if !m.incident.open || t.in_maintenance {
                return false;
            }
            crate::auto::down(&self.config, &mut self.store, &m, t.at)
        } else if t.from == Level::Down {
            crate::auto::recovered(&self.config, &mut self.store, &m, t.at)
        } else {
            return false;
        };
        if let Ok(
            crate::auto::Done::Opened(id)
            | crate::auto::Done::Updated(id, _)
            | crate::auto::Done::Resolved(id),
        ) = &done
        {
            // Written whole by us: published without waiting for it to settle.
            let path = self
                .config
                .content_path()
                .join(crate::content::INCIDENTS_DIR)
                .join(format!("{id}.md"));
            self.inc.scan.trust(&path);
        }
        match done {
            Ok(crate::auto::Done::Opened(id)) => {
                info!(monitor = %m.id, incident = %id, "opened incident")
            }
            Ok(crate::auto::Done::Updated(id, status)) => {
                info!(monitor = %m.id, incident = %id, status = status.as_str(), "updated incident (an admin resolves it)")
            }
            Ok(crate::auto::Done::Resolved(id)) => {
                info!(monitor = %m.id, incident = %id, "resolved incident")
            }
            Ok(crate::auto::Done::Released(id)) => {
                info!(monitor = %m.id, incident = %id, "the incident was resolved or removed by hand; nothing to do")
            }
            Ok(crate::auto::Done::Nothing) => return false,
            // Edited by hand meanwhile (the admin's edit wins), or the folder is not writable.
            Err(e) => {
                warn!(monitor = %m.id, "did not write the automatic incident: {e:#}");
                return false;
            }
        }
        true
    }

    fn render(&mut self, now: DateTime<Utc>) {
        self.dirty_since = None;
        match build::update(
            &mut self.store,
            &self.config,
            self.out.as_deref(),
            now,
            &mut self.inc,
        ) {
            Ok(mut built) => {
                let write_error = built.write_error.take();
                let built = Arc::new(built);
                let (report, snap) = (&built.report, &built.snapshot);
                // A folder that cannot be written (full disk, read-only) keeps its last site and
                // is tried again soon; the targets get the new site all the same.
                let retry = match write_error {
                    Some(e) => {
                        self.write_failures += 1;
                        let retry = (5i64 << self.write_failures.min(4).saturating_sub(1)).min(30);
                        let targets = if self.publish_tx.is_some() {
                            "; publish targets still get the new one"
                        } else {
                            ""
                        };
                        error!(
                            failures = self.write_failures,
                            retry_in_s = retry,
                            "the output folder keeps its previous site{targets}:\n{e:#}"
                        );
                        Some(retry)
                    }
                    None => {
                        if self.write_failures > 0 {
                            info!(
                                after = self.write_failures,
                                "the output folder is written again"
                            );
                            self.write_failures = 0;
                        }
                        info!(
                            files = report.write.files,
                            changed = report.write.changed.len(),
                            cached_pages = self.inc.cache.hits,
                            snapshot_ms = report.phases[0].1.as_millis() as u64,
                            render_ms = report.phases[1].1.as_millis() as u64,
                            write_ms = report.phases[2].1.as_millis() as u64,
                            ms = report.phases.iter().map(|p| p.1.as_millis()).sum::<u128>(),
                            "site written"
                        );
                        None
                    }
                };
                self.after_snapshot(snap, now);
                if let Some(retry) = retry {
                    self.wake_at = self.wake_at.min(now + chrono::Duration::seconds(retry));
                }
                self.report_content(now);
                if let Some(tx) = &self.publish_tx {
                    let _ = tx.send(ToPublisher::Site(built.clone()));
                }
                // After handing the site over: publishing does not wait for this.
                match self.store.mark_maintenances(&snap.maintenances, now) {
                    Ok(0) => {}
                    Ok(n) => info!(events = n, "maintenance events recorded"),
                    Err(e) => error!("cannot record maintenance events: {e:#}"),
                }
            }
            Err(e) => {
                // The last good site stays published; the next change or tick tries again.
                error!("build failed, the previous site stays published:\n{e:#}");
                self.wake_at = now + chrono::Duration::seconds(60);
            }
        }
    }

    /// Say what the last import found: each content file whose problems are new or changed
    /// (an error in the log with file:line:col, and an operator notification), each fixed one,
    /// each renamed incident; and import again once changes still settling have settled.
    fn report_content(&mut self, now: DateTime<Utc>) {
        let mut by_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &self.inc.problems {
            by_file
                .entry(p.file.display().to_string())
                .or_default()
                .push(p.to_string());
        }
        for (file, problems) in &by_file {
            if self.content_problems.get(file) == Some(problems) {
                continue;
            }
            error!(
                file = %file,
                "content problem: the site keeps the last good version of this file (or leaves it out) and publishes everything else:\n{}",
                problems.join("\n")
            );
            if let Err(e) = self.store.note_content_problem(file, problems, now) {
                error!("cannot record the content problem for notification: {e:#}");
            }
        }
        for file in self.content_problems.keys() {
            if !by_file.contains_key(file) {
                info!(file = %file, "content problem fixed");
            }
        }
        self.content_problems = by_file;
        for (old, new) in std::mem::take(&mut self.inc.moved) {
            info!(from = %old, to = %new, "incident file renamed: the old address redirects to the new one");
        }
        if let Some(left) = self.inc.settling.take() {
            // A file changed moments ago (an editor may still be writing it): read it again
            // once it has stood still for `daemon.settle`.
            self.inc.content_dirty = true;
            let left = chrono::Duration::from_std(left + Duration::from_millis(20))
                .unwrap_or(chrono::Duration::seconds(1));
            self.wake_at = self.wake_at.min(now + left);
        }
    }

    /// Remember maintenance windows and compute the next moment the site changes by itself.
    fn after_snapshot(&mut self, snap: &Snapshot, now: DateTime<Utc>) {
        self.maintenance = snap
            .maintenances
            .iter()
            .flat_map(|m| {
                m.components
                    .iter()
                    .map(move |c| (c.clone(), m.from, m.until))
            })
            .collect();
        let freshness = snap.site.freshness;
        let next_stamp = crate::time::floor_to(snap.now, freshness)
            + chrono::Duration::from_std(freshness).unwrap_or(chrono::Duration::minutes(5));
        let tz = snap.site.tz;
        let tomorrow = crate::time::local_day(now, tz) + chrono::Duration::days(1);
        let midnight = crate::time::day_start(tomorrow, tz);
        let boundaries = snap
            .maintenances
            .iter()
            .flat_map(|m| [m.from, m.until])
            .filter(|t| *t > now);
        self.wake_at = boundaries
            .chain([next_stamp, midnight])
            .min()
            .unwrap_or(next_stamp);
    }

    /// Run `schedules:` entries whose time has come (cron in the site time zone).
    fn run_due_jobs(&mut self, now: DateTime<Utc>) {
        let tz = self.config.tz();
        let mut rollup = false;
        for job in &mut self.jobs {
            if job.next.is_none_or(|t| t > now) {
                continue;
            }
            info!(schedule = %job.id, action = ?job.action, "scheduled run");
            match job.action {
                ScheduleAction::Publish => {
                    self.dirty_since.get_or_insert_with(Instant::now);
                }
                ScheduleAction::Rollup => rollup = true,
                ScheduleAction::Verify => match &self.publish_tx {
                    Some(tx) => {
                        let _ = tx.send(ToPublisher::Verify);
                    }
                    None => {
                        info!(schedule = %job.id, "nothing to verify: no publish targets are enabled")
                    }
                },
            }
            job.next = crate::schedule::occurrences_after(&job.cron, tz, now).next();
        }
        if rollup {
            self.last_rollup = None;
        }
    }

    /// The earliest of the next render-worthy moment and the next scheduled job.
    fn next_wake(&self) -> DateTime<Utc> {
        self.jobs
            .iter()
            .filter_map(|j| j.next)
            .chain([self.wake_at])
            .min()
            .unwrap_or(self.wake_at)
    }

    fn reload(&mut self, config: Config, now: DateTime<Utc>) {
        let monitors = monitor::compile(&config);
        if let Err(e) = self.store.sync_monitors(&monitors, now) {
            error!("cannot apply the new monitors: {e:#}");
            return;
        }
        self.network = network_judge(&monitors);
        self.monitors = monitors.into_iter().map(|m| (m.id.clone(), m)).collect();
        self.jobs = jobs(&config, now);
        self.inc.mode = build::Strictness::Lenient {
            settle: Some(config.daemon.settle.0),
        };
        self.config = config;
        self.inc.content_dirty = true;
        info!("config reloaded");
        self.mark_dirty();
    }
}

/// Notices when the wall clock moves differently from the monotonic one (NTP steps, a VM
/// resumed, an admin setting the date): by more than [`ClockJumps::TOLERANCE`] either way.
struct ClockJumps {
    wall: DateTime<Utc>,
    mono: Instant,
}

impl ClockJumps {
    const TOLERANCE: Duration = Duration::from_secs(2);

    fn new(wall: DateTime<Utc>) -> ClockJumps {
        ClockJumps {
            wall,
            mono: Instant::now(),
        }
    }

    /// Whether the clock jumped since the last call.
    fn jumped(&mut self, wall: DateTime<Utc>) -> bool {
        let mono = Instant::now();
        let expected = self.wall
            + chrono::Duration::from_std(mono - self.mono).unwrap_or(chrono::Duration::zero());
        let drift = (wall - expected).abs();
        (self.wall, self.mono) = (wall, mono);
        drift > chrono::Duration::from_std(Self::TOLERANCE).unwrap_or(chrono::Duration::zero())
    }
}

/// The pipeline thread's loop; returns when told to stop (or when every sender is gone).
fn pipeline_loop(mut p: Pipeline, rx: Receiver<Msg>, clock: fn() -> DateTime<Utc>) {
    let debounce = |p: &Pipeline| p.config.daemon.debounce.0;
    let mut batch: Vec<CheckResult> = Vec::new();
    let mut jumps = ClockJumps::new(clock());
    p.render(clock());
    loop {
        let now = clock();
        let until_wake = (p.next_wake() - now).to_std().unwrap_or(Duration::ZERO);
        let until_render = p
            .dirty_since
            .map(|d| debounce(&p).saturating_sub(d.elapsed()));
        // While a render is pending, a passed wake-up time changes nothing: wait for the debounce
        // (waiting for `until_wake`, which is zero then, would spin).
        let mut timeout = until_render.unwrap_or(until_wake);
        if !batch.is_empty() || !p.pings.is_empty() {
            timeout = timeout.min(BATCH_WAIT);
        }
        let mut stop = false;
        match rx.recv_timeout(timeout.min(Duration::from_secs(60))) {
            Ok(Msg::Result(r)) => {
                batch.push(r);
                while batch.len() < BATCH_MAX {
                    match rx.try_recv() {
                        Ok(Msg::Result(r)) => batch.push(r),
                        Ok(Msg::Ping { monitor, at }) => p.ping(monitor, at),
                        Ok(Msg::Content) => p.content_changed(),
                        Ok(Msg::Config(c)) => p.reload(*c, clock()),
                        Ok(Msg::Stop) => {
                            stop = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            Ok(Msg::Ping { monitor, at }) => p.ping(monitor, at),
            Ok(Msg::Content) => p.content_changed(),
            Ok(Msg::Config(c)) => p.reload(*c, clock()),
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => stop = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let pending = !batch.is_empty() || !p.pings.is_empty();
        if pending && (batch.len() >= BATCH_MAX || stop || timeout <= BATCH_WAIT) {
            p.record(std::mem::take(&mut batch), clock());
        }
        let now = clock();
        if jumps.jumped(now) {
            // Every time-based decision (maintenance windows, schedules, the next wake-up) was
            // made on the old clock: make them again.
            warn!(to = %now.to_rfc3339(), "the wall clock jumped; re-rendering and rescheduling");
            p.jobs = jobs(&p.config, now);
            p.wake_at = now;
        }
        if now >= p.wake_at {
            p.mark_dirty();
        }
        p.run_due_jobs(now);
        if p.last_rollup.is_none_or(|t| t.elapsed() >= ROLLUP_EVERY) {
            p.last_rollup = Some(Instant::now());
            let (raw, keep) = (
                p.config.store.raw_retention.0,
                p.config.store.rollup_retention.0,
            );
            if let Err(e) = p.store.rollup(now, p.config.tz(), raw, keep) {
                error!(store = %p.config.database_path().display(), "rollup failed (tried again at the next one): {e:#}");
            }
        }
        if stop {
            if !batch.is_empty() || !p.pings.is_empty() {
                p.record(std::mem::take(&mut batch), clock());
            }
            if p.dirty_since.is_some() {
                p.render(clock());
            }
            // Heartbeats' silence counted up to here (the next start goes on from it).
            if let Err(e) = p.store.note_alive(clock()) {
                warn!("cannot record the stop time: {e:#}");
            }
            info!("stopped");
            return;
        }
        if p.dirty_since.is_some_and(|d| d.elapsed() >= debounce(&p)) {
            p.render(now);
        }
    }
}

/// Longest wait between publish attempts to a failing target.
const PUBLISH_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What the publisher thread is told.
enum ToPublisher {
    /// A new site to publish.
    Site(Arc<build::Built>),
    /// A `verify` schedule: compare every target with what was recorded, and upload again what
    /// is missing or different (`pharos publish --verify`).
    Verify,
}

/// Publish each rendered site to the enabled targets. Only the newest site matters: a burst of
/// renders while a publish runs becomes one more publish. A failing target is retried with
/// capped exponential backoff; the others, and the checks and renders, go on.
fn publisher_loop(config: Config, rx: Receiver<ToPublisher>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return error!("cannot start the publisher: {e}"),
    };
    let store = match Store::open(&config.database_path()) {
        Ok(s) => s,
        Err(e) => return error!("publisher cannot open the store: {e:#}"),
    };
    let targets = match runtime.block_on(crate::publisher::targets(&config)) {
        Ok(t) => t,
        Err(e) => return error!("cannot set up publish targets: {e:#}"),
    };
    // Per target: the site it has, and when to try again after a failure.
    let mut published: HashMap<String, usize> = HashMap::new();
    let mut retry_at: HashMap<String, (u32, Instant)> = HashMap::new();
    let mut remote: HashMap<String, crate::publisher::RemoteCache> = HashMap::new();
    let mut latest: Option<(usize, Arc<build::Built>)> = None;
    let mut generation = 0;
    loop {
        let wait = retry_at
            .values()
            .map(|(_, t)| t.saturating_duration_since(Instant::now()))
            .min();
        let next = match wait {
            Some(w) => rx.recv_timeout(w),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let mut verify = false;
        match next {
            Ok(first) => {
                for msg in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                    match msg {
                        ToPublisher::Site(b) => {
                            generation += 1;
                            latest = Some((generation, b));
                        }
                        ToPublisher::Verify => verify = true,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if verify {
            for target in &targets {
                match runtime.block_on(crate::publisher::verify(&store, target)) {
                    Ok(drifted) => {
                        info!(target = %target.name, drifted = drifted.len(), "verified");
                        for path in &drifted {
                            warn!(target = %target.name, path = %path, "missing or different in the bucket; uploading it again");
                        }
                        if !drifted.is_empty() {
                            // What the target holds is what the store now says: publish again.
                            remote.remove(&target.name);
                            published.remove(&target.name);
                        }
                    }
                    Err(e) => warn!(target = %target.name, "cannot verify: {e:#}"),
                }
            }
        }
        let Some((gen_now, built)) = latest.clone() else {
            continue;
        };
        for target in &targets {
            if published.get(&target.name) == Some(&gen_now) {
                continue;
            }
            if retry_at
                .get(&target.name)
                .is_some_and(|(_, t)| *t > Instant::now())
            {
                continue;
            }
            let started = Instant::now();
            let now = Utc::now();
            let result = runtime.block_on(crate::publisher::publish(
                &store,
                target,
                &built.site,
                &built.report.write.manifest,
                now,
                None,
                remote.entry(target.name.clone()).or_default(),
            ));
            let error = result.as_ref().err().map(|e| format!("{e:#}"));
            let _ = store.publish_attempt(&target.name, Utc::now(), error.as_deref());
            match result {
                Ok(r) => {
                    info!(target = %r.target, uploaded = r.uploaded.len(), deleted = r.deleted.len(), ms = started.elapsed().as_millis() as u64, "published");
                    published.insert(target.name.clone(), gen_now);
                    retry_at.remove(&target.name);
                }
                Err(e) => {
                    let failures = retry_at.get(&target.name).map_or(1, |(n, _)| n + 1);
                    let backoff =
                        Duration::from_secs(1u64 << failures.min(9)).min(PUBLISH_BACKOFF_MAX);
                    warn!(target = %target.name, failures, retry_in_s = backoff.as_secs(), "publish failed, the site stays pending: {e:#}");
                    retry_at.insert(target.name.clone(), (failures, Instant::now() + backoff));
                }
            }
        }
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

/// Heartbeat monitors by the hash of their token (see [`monitor::heartbeat_tokens`]).
type Tokens = Arc<RwLock<HashMap<[u8; 32], String>>>;

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

/// What a site watcher saw change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// A file under `content/`.
    Content,
    /// The config file.
    Config,
    /// A file of the theme folder (`themes/<name>/`).
    Theme,
}

/// Watch `content/`, the config file and the theme folder, calling `on` for every change
/// (reads are ignored). Shared by the daemon and `pharos serve`.
pub fn watch_site(
    config: &Config,
    on: impl Fn(Changed) + Send + 'static,
) -> Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let content = config.content_path();
    std::fs::create_dir_all(&content)
        .with_context(|| format!("cannot create {}", content.display()))?;
    // Events carry canonical paths; a folder that does not exist yet is named through its parent.
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| match (p.parent(), p.file_name()) {
                (Some(dir), Some(name)) => {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    std::fs::canonicalize(dir).map(|d| d.join(name))
                }
                _ => std::path::absolute(p),
            })
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let config_file = abs(&config.file);
    let content_abs = abs(&content);
    let themes = config.resolve("themes");
    let themes_abs = abs(&themes);
    let config_name = config_file.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        for path in &event.paths {
            if path.starts_with(&content_abs) {
                on(Changed::Content);
            } else if path.starts_with(&themes_abs) {
                on(Changed::Theme);
            } else if path.file_name().map(|n| n.to_os_string()) == config_name {
                on(Changed::Config);
            }
        }
    })?;
    watcher.watch(&content, RecursiveMode::Recursive)?;
    if themes.is_dir() {
        watcher.watch(&themes, RecursiveMode::Recursive)?;
    }
    if let Some(dir) = config_file.parent() {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

/// The daemon's watcher: content and theme edits go straight to the pipeline, config edits come
/// back on `config_tx` to be validated (and monitors restarted) on the async side.
fn watch(
    config: &Config,
    tx: Sender<Msg>,
    config_tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher> {
    watch_site(config, move |changed| match changed {
        Changed::Content | Changed::Theme => {
            let _ = tx.send(Msg::Content);
        }
        Changed::Config => {
            let _ = config_tx.send(());
        }
    })
}

#[derive(Default)]
pub struct Options {
    pub out: Option<PathBuf>,
    /// Stop when this future completes (tests); by default SIGINT/SIGTERM.
    pub stop: Option<tokio::sync::oneshot::Receiver<()>>,
    /// The wall clock (tests move it to check clock jumps); by default the system's.
    pub clock: Option<fn() -> DateTime<Utc>>,
}

/// `pharos run`: until SIGINT/SIGTERM (or `opts.stop`).
pub fn run(config: Config, opts: Options) -> Result<()> {
    crate::tls_provider();
    let clock: fn() -> DateTime<Utc> = opts.clock.unwrap_or(Utc::now);
    let monitors = monitor::compile(&config);
    let mut store = Store::open(&config.database_path())?;
    store.sync_monitors(&monitors, clock())?;
    // A restart is not a ping: heartbeats go on from the pings recorded before it.
    let checker = Checker::new(clock());
    checker.remember(store.heartbeat_silences()?);
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let (publish_tx, publisher) = if config.publish.targets.iter().any(|t| t.enabled) {
        let (ptx, prx) = std::sync::mpsc::channel();
        let cfg = config.clone();
        let handle = std::thread::Builder::new()
            .name("pharos-publisher".into())
            .spawn(move || publisher_loop(cfg, prx))?;
        (Some(ptx), Some(handle))
    } else {
        (None, None)
    };
    let pipeline = Pipeline {
        monitors: monitors.iter().map(|m| (m.id.clone(), m.clone())).collect(),
        config: config.clone(),
        store,
        out: opts.out,
        maintenance: Vec::new(),
        dirty_since: None,
        wake_at: clock(),
        last_rollup: None,
        jobs: jobs(&config, clock()),
        publish_tx,
        inc: build::Incremental::lenient(Some(config.daemon.settle.0)),
        network: network_judge(&monitors),
        unrecorded: Vec::new(),
        pings: HashMap::new(),
        write_failures: 0,
        content_problems: BTreeMap::new(),
    };
    let thread = std::thread::Builder::new()
        .name("pharos-pipeline".into())
        .spawn(move || pipeline_loop(pipeline, rx, clock))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let tokens: Tokens = Arc::new(RwLock::new(monitor::heartbeat_tokens(&monitors)));
        let limit = Arc::new(Semaphore::new(config.daemon.max_concurrent_checks));
        let stats = Arc::new(EngineStats::default());
        let reporter = tokio::spawn(stats.clone().report_forever());
        let spawn_all = |list: &[Monitor]| -> Vec<tokio::task::JoinHandle<()>> {
            list.iter()
                .map(|m| match m.kind {
                    monitor::Kind::Heartbeat(_) => tokio::spawn(heartbeat_task(
                        m.clone(),
                        checker.clone(),
                        tx.clone(),
                        clock,
                        stats.clone(),
                    )),
                    _ => tokio::spawn(monitor_task(
                        m.clone(),
                        checker.clone(),
                        limit.clone(),
                        tx.clone(),
                        clock,
                        stats.clone(),
                    )),
                })
                .collect()
        };
        let mut tasks = spawn_all(&monitors);
        info!(monitors = monitors.len(), "monitors started");
        let mut senders = crate::notify::spawn(&Arc::new(config.clone()));

        let listener = tokio::net::TcpListener::bind(config.daemon.listen.as_str())
            .await
            .with_context(|| {
                format!(
                    "cannot listen for heartbeats on {}",
                    config.daemon.listen.as_str()
                )
            })?;
        info!(addr = %listener.local_addr()?, "heartbeat listener ready");
        let server = tokio::spawn(heartbeat_server(
            listener,
            checker.clone(),
            tokens.clone(),
            tx.clone(),
            clock,
        ));

        let (config_tx, mut config_rx) = tokio::sync::mpsc::unbounded_channel();
        let _watcher = watch(&config, tx.clone(), config_tx)?;
        let mut stop = opts.stop;
        let mut current = config.clone();
        loop {
            tokio::select! {
                _ = wait_for_stop(&mut stop) => break,
                Some(()) = config_rx.recv() => {
                    // Editors save in bursts; settle first.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    while config_rx.try_recv().is_ok() {}
                    match Config::load(&current.file) {
                        Err(e) => error!("config not reloaded, the running config stays:\n{e:#}"),
                        Ok(new) => {
                            for t in tasks.drain(..) { t.abort(); }
                            let list = monitor::compile(&new);
                            for m in list.iter().filter(|m| matches!(m.kind, monitor::Kind::Heartbeat(_))) {
                                checker.listen_from(&m.id, clock());
                            }
                            *tokens.write().unwrap() = monitor::heartbeat_tokens(&list);
                            tasks = spawn_all(&list);
                            // A channel stopped mid-send sends again with the same key.
                            for t in senders.drain(..) { t.abort(); }
                            senders = crate::notify::spawn(&Arc::new(new.clone()));
                            let _ = tx.send(Msg::Config(Box::new(new.clone())));
                            current = new;
                        }
                    }
                }
            }
        }
        for t in tasks.into_iter().chain(senders) {
            t.abort();
        }
        server.abort();
        reporter.abort();
        Ok::<(), anyhow::Error>(())
    });
    let _ = tx.send(Msg::Stop);
    drop(tx);
    let _ = thread.join();
    // The pipeline dropped its sender: the publisher finishes its current object and stops.
    if let Some(p) = publisher {
        let _ = p.join();
    }
    result
}

async fn wait_for_stop(stop: &mut Option<tokio::sync::oneshot::Receiver<()>>) {
    match stop {
        Some(rx) => {
            let _ = rx.await;
        }
        None => {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
            info!("stopping");
        }
    }
}
