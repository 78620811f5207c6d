//! The pipeline thread: it owns the store (the one writer) and reads top to bottom. Collect
//! messages (check results, pings, content and config changes) -> record them (confirmation
//! decided in the write transaction) -> open, update or resolve automatic incidents -> when
//! something public changed and the debounce passed: import content, snapshot, render, write
//! the folder -> hand the site to the publisher thread -> record the maintenance events the
//! notification senders pick up. Time-driven changes (maintenance edges, the freshness stamp,
//! midnight, `schedules:`) come from its own wake-up time.

use super::Msg;
use super::publisher::Publishers;
use super::scheduler::Schedules;
use crate::build;
use crate::config::{Config, ScheduleAction};
use crate::monitor::state::Transition;
use crate::monitor::{self, CheckResult, Level, Monitor};
use crate::snapshot::Snapshot;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// How often rollups (percentiles) and pruning run.
const ROLLUP_EVERY: Duration = Duration::from_secs(300);
/// Results are written in batches of at most this many, or after this long.
const BATCH_MAX: usize = 2000;
const BATCH_WAIT: Duration = Duration::from_millis(50);

/// State that the pipeline thread keeps between iterations.
pub(super) struct Pipeline {
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
    schedules: Schedules,
    /// Rendered pages, imported content, in-place writes: what makes a change cost little.
    inc: build::Incremental,
    /// Each rendered site goes to every enabled target, each on its own thread.
    publishers: Publishers,
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
    /// The monitors of a reloaded config the store has not taken yet (it was busy).
    unsynced: Option<Vec<Monitor>>,
    /// Where to say the daemon cannot go on (the store file was deleted under it).
    fatal: tokio::sync::mpsc::UnboundedSender<anyhow::Error>,
    /// When the store file was last checked to still be there, and whether it is gone.
    store_checked: Instant,
    store_gone: bool,
    /// In a cluster: the regions whose checks last saw each monitor down.
    seen_down: HashMap<String, Vec<String>>,
}

/// How often the store file is checked to be still there.
const STORE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How many unrecorded check results are kept while the store is unavailable.
const UNRECORDED_MAX: usize = 100_000;

impl Pipeline {
    pub(super) fn new(
        config: Config,
        store: Store,
        out: Option<PathBuf>,
        monitors: &[Monitor],
        publishers: Publishers,
        fatal: tokio::sync::mpsc::UnboundedSender<anyhow::Error>,
        clock: fn() -> DateTime<Utc>,
    ) -> Pipeline {
        Pipeline {
            monitors: monitors.iter().map(|m| (m.id.clone(), m.clone())).collect(),
            store,
            out,
            maintenance: Vec::new(),
            dirty_since: None,
            wake_at: clock(),
            last_rollup: None,
            schedules: Schedules::new(&config, clock()),
            publishers,
            inc: build::Incremental::lenient(Some(config.daemon.settle.0)),
            network: network_judge(monitors),
            unrecorded: Vec::new(),
            pings: HashMap::new(),
            write_failures: 0,
            content_problems: BTreeMap::new(),
            unsynced: None,
            fatal,
            store_checked: Instant::now(),
            store_gone: false,
            seen_down: HashMap::new(),
            config,
        }
    }
}

/// Run `p` on its own thread until told to stop.
pub(super) fn start(
    p: Pipeline,
    rx: Receiver<Msg>,
    clock: fn() -> DateTime<Utc>,
) -> anyhow::Result<std::thread::JoinHandle<(Publishers, Option<PathBuf>)>> {
    Ok(std::thread::Builder::new()
        .name("pharos-pipeline".into())
        .spawn(move || pipeline_loop(p, rx, clock))?)
}

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

    /// Bring the store's monitors in line with a reloaded config, if that is still to do.
    fn sync_monitors(&mut self, now: DateTime<Utc>) {
        let Some(list) = &self.unsynced else { return };
        match self.store.sync_monitors(list, now) {
            Ok(()) => self.unsynced = None,
            Err(e) => error!(
                store = %self.config.database_path().display(),
                "cannot record the new monitors yet (will retry): {e:#}"
            ),
        }
    }

    fn record(&mut self, mut batch: Vec<CheckResult>, now: DateTime<Utc>) {
        self.sync_monitors(now);
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
        for r in batch.iter().filter(|r| !r.regions.is_empty()) {
            let down = r
                .regions
                .iter()
                .filter(|s| s.outcome == monitor::Outcome::Down)
                .map(|s| s.region.clone())
                .collect();
            self.seen_down.insert(r.monitor.clone(), down);
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
                if !transitions.is_empty() {
                    self.mirror_soon();
                }
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
        if !crate::fence::allowed() {
            // Fencing: only the leader writes automatic incidents (its successor judges again).
            warn!(monitor = %m.id, "not the leader any more: the automatic incident is left to the next leader");
            return false;
        }
        // The monitor's incident is read from the store now, not from when the batch started:
        // one batch may hold both the failure and the recovery (a store that was busy).
        let done = if t.to == Level::Down {
            if !m.incident.open || t.in_maintenance {
                return false;
            }
            let seen = self.seen_down.get(&m.id).cloned().unwrap_or_default();
            crate::auto::down(&self.config, &mut self.store, &m, t.at, &seen)
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

    /// Something a successor needs changed: the mirror pushes within a second.
    fn mirror_soon(&self) {
        crate::fence::changed();
    }

    /// Files written whole by us (a takeover's restored content): imported without waiting
    /// for them to settle.
    pub(super) fn trust(&mut self, paths: &[PathBuf]) {
        for p in paths {
            self.inc.scan.trust(p);
        }
    }

    /// The leader's view of the other regions: kept for `pharos status`, said in the log and
    /// to operator channels when one falls silent or comes back.
    fn regions(
        &mut self,
        rows: Vec<crate::store::RegionRow>,
        changes: Vec<crate::cluster::judge::Change>,
        now: DateTime<Utc>,
    ) {
        use crate::cluster::judge::Change;
        if let Err(e) = self.store.note_regions(&rows) {
            error!("cannot record the regions' state: {e:#}");
        }
        for c in changes {
            match c {
                Change::Silent { region, since } => {
                    let text = format!(
                        "probe {region} silent since {}: its checks do not count towards the quorum",
                        since.format("%Y-%m-%d %H:%M:%S UTC")
                    );
                    warn!("{text}");
                    if let Err(e) = self.store.note_content_problem(
                        crate::event::CLUSTER,
                        std::slice::from_ref(&text),
                        now,
                    ) {
                        error!("cannot record the silent region for notification: {e:#}");
                    }
                }
                Change::Back { region } => info!(region = %region, "probe reports again"),
            }
        }
    }

    fn render(&mut self, now: DateTime<Utc>) {
        self.dirty_since = None;
        self.mirror_soon();
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
                        let targets = if self.publishers.any() {
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
                self.publishers.site(built.clone());
                // After handing the site over: publishing does not wait for this.
                match self.store.mark_maintenances(&snap.maintenances, now) {
                    Ok(0) => {}
                    Ok(n) => info!(events = n, "maintenance events recorded"),
                    Err(e) => error!("cannot record maintenance events: {e:#}"),
                }
                if let Some(s) = self.config.subscriptions() {
                    match self
                        .store
                        .mark_reminders(&snap.maintenances, s.reminder.0, now)
                    {
                        Ok(0) => {}
                        Ok(n) => info!(emails = n, "maintenance reminders queued"),
                        Err(e) => error!("cannot queue maintenance reminders: {e:#}"),
                    }
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
        // With subscriptions: each window's reminder time, and UTC midnight (the forms'
        // policies are signed per UTC day).
        let subscriptions: Vec<DateTime<Utc>> = match self.config.subscriptions() {
            Some(s) => {
                let before =
                    chrono::Duration::from_std(s.reminder.0).unwrap_or(chrono::Duration::hours(24));
                let utc_midnight = (now.date_naive() + chrono::Duration::days(1))
                    .and_time(chrono::NaiveTime::MIN)
                    .and_utc();
                snap.maintenances
                    .iter()
                    .map(|m| m.from - before)
                    .filter(|t| *t > now)
                    .chain([utc_midnight])
                    .collect()
            }
            None => Vec::new(),
        };
        self.wake_at = boundaries
            .chain(subscriptions)
            .chain([next_stamp, midnight])
            .min()
            .unwrap_or(next_stamp);
    }

    /// Run `schedules:` entries whose time has come (cron in the site time zone).
    fn run_schedules(&mut self, now: DateTime<Utc>) {
        for (id, action) in self.schedules.due(now) {
            match action {
                ScheduleAction::Publish => self.mark_dirty(),
                ScheduleAction::Rollup => self.last_rollup = None,
                ScheduleAction::Verify if self.publishers.any() => self.publishers.verify(),
                ScheduleAction::Verify => {
                    info!(schedule = %id, "nothing to verify: no publish targets are enabled")
                }
            }
        }
    }

    /// The earliest of the next render-worthy moment and the next scheduled job.
    fn next_wake(&self) -> DateTime<Utc> {
        self.schedules
            .next()
            .map_or(self.wake_at, |t| t.min(self.wake_at))
    }

    fn reload(&mut self, config: Config, now: DateTime<Utc>) {
        let monitors = monitor::compile(&config);
        // The monitor tasks already run the new list: the store follows now, or with the next
        // results if it is busy (never half of a config applied).
        self.unsynced = Some(monitors.clone());
        self.sync_monitors(now);
        self.network = network_judge(&monitors);
        self.monitors = monitors.into_iter().map(|m| (m.id.clone(), m)).collect();
        self.schedules = Schedules::new(&config, now);
        if let Err(e) = self.publishers.apply(&config) {
            error!("cannot start the new publish targets: {e:#}");
        }
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

/// What one wait for messages brought.
struct Collected {
    /// Results to record now (the batch is full, its wait is over, or the daemon stops).
    ready: bool,
    stop: bool,
}

impl Pipeline {
    /// Collect: wait for messages until the next thing to do (a batch's wait, the debounce, a
    /// wake-up), adding results to the batch and taking the other messages as they come.
    fn collect(
        &mut self,
        rx: &Receiver<Msg>,
        batch: &mut Vec<CheckResult>,
        clock: fn() -> DateTime<Utc>,
    ) -> Collected {
        let now = clock();
        let until_wake = (self.next_wake() - now).to_std().unwrap_or(Duration::ZERO);
        let debounce = self.config.daemon.debounce.0;
        let until_render = self
            .dirty_since
            .map(|d| debounce.saturating_sub(d.elapsed()));
        // While a render is pending, a passed wake-up time changes nothing: wait for the debounce
        // (waiting for `until_wake`, which is zero then, would spin).
        let mut timeout = until_render.unwrap_or(until_wake);
        if !batch.is_empty() || !self.pings.is_empty() {
            timeout = timeout.min(BATCH_WAIT);
        }
        // Takes one message; true for the stop.
        let take = |p: &mut Pipeline, msg: Msg, batch: &mut Vec<CheckResult>| {
            match msg {
                Msg::Result(r) => batch.push(r),
                Msg::Ping { monitor, at } => p.ping(monitor, at),
                Msg::Content => p.content_changed(),
                Msg::Config(c) => p.reload(*c, clock()),
                Msg::Regions { rows, changes } => p.regions(rows, changes, clock()),
                Msg::Stop => return true,
            }
            false
        };
        let mut stop = false;
        // At least once a second: to see that the store file is still there.
        match rx.recv_timeout(timeout.min(STORE_CHECK_EVERY)) {
            Ok(first) => {
                // Whatever else is waiting joins this batch.
                stop = take(self, first, batch);
                while batch.len() < BATCH_MAX && !stop {
                    match rx.try_recv() {
                        Ok(msg) => stop = take(self, msg, batch),
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => stop = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let pending = !batch.is_empty() || !self.pings.is_empty();
        Collected {
            ready: pending && (batch.len() >= BATCH_MAX || stop || timeout <= BATCH_WAIT),
            stop,
        }
    }

    /// What time brings: a clock jump re-decides everything time-based; a passed wake-up time
    /// (a maintenance edge, the freshness stamp, midnight) makes a render due; `schedules:`
    /// run; rollups every [`ROLLUP_EVERY`].
    fn keep_time(&mut self, jumps: &mut ClockJumps, now: DateTime<Utc>) {
        if jumps.jumped(now) {
            // Every time-based decision (maintenance windows, schedules, the next wake-up) was
            // made on the old clock: make them again.
            warn!(to = %now.to_rfc3339(), "the wall clock jumped; re-rendering and rescheduling");
            self.schedules = Schedules::new(&self.config, now);
            self.wake_at = now;
        }
        if now >= self.wake_at {
            self.mark_dirty();
        }
        self.run_schedules(now);
        if self.last_rollup.is_none_or(|t| t.elapsed() >= ROLLUP_EVERY) {
            self.last_rollup = Some(Instant::now());
            let (raw, keep) = (
                self.config.store.raw_retention.0,
                self.config.store.rollup_retention.0,
            );
            if let Err(e) = self.store.rollup(now, self.config.tz(), raw, keep) {
                error!(store = %self.config.database_path().display(), "rollup failed (tried again at the next one): {e:#}");
            }
        }
    }

    /// A render is due: something public changed and the debounce has passed.
    fn render_due(&self) -> bool {
        self.dirty_since
            .is_some_and(|d| d.elapsed() >= self.config.daemon.debounce.0)
    }

    /// Whether the store file is still where it was opened (checked once a second). A store
    /// deleted under the daemon would take every write with it at the next start: the daemon
    /// stops, and what it held is written back (see [`Pipeline::finish`]).
    fn store_there(&mut self) -> bool {
        if self.store_gone || self.store_checked.elapsed() < STORE_CHECK_EVERY {
            return !self.store_gone;
        }
        self.store_checked = Instant::now();
        let path = self.config.database_path();
        if !self.store.still_at(&path) {
            self.store_gone = true;
            error!(store = %path.display(), "the store file was deleted or replaced while Pharos ran: stopping, and writing back what it held");
            let _ = self.fatal.send(anyhow::anyhow!(
                "the store {} was deleted or replaced while Pharos ran",
                path.display()
            ));
        }
        !self.store_gone
    }

    /// Before stopping: record and publish what is pending, and note when we stopped listening.
    /// Returns the publishers, to be stopped, and the copy of a store deleted under the daemon.
    fn finish(
        &mut self,
        batch: Vec<CheckResult>,
        now: DateTime<Utc>,
    ) -> (Publishers, Option<PathBuf>) {
        if !batch.is_empty() || !self.pings.is_empty() {
            self.record(batch, now);
        }
        if self.dirty_since.is_some() {
            self.render(now);
        }
        // Heartbeats' silence counted up to here (the next start goes on from it).
        if let Err(e) = self.store.note_alive(now) {
            warn!("cannot record the stop time: {e:#}");
        }
        let copy = self.store_gone.then(|| {
            let db = self.config.database_path();
            let mut name = db.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".saved-{}", now.format("%Y%m%dT%H%M%S")));
            db.with_file_name(name)
        });
        let copy = copy.filter(|c| match self.store.save_copy(c) {
            Ok(()) => true,
            Err(e) => {
                error!("{e:#}");
                false
            }
        });
        info!("stopped");
        (std::mem::take(&mut self.publishers), copy)
    }
}

/// The pipeline thread's loop, top to bottom; returns when told to stop (or when every sender
/// is gone).
fn pipeline_loop(
    mut p: Pipeline,
    rx: Receiver<Msg>,
    clock: fn() -> DateTime<Utc>,
) -> (Publishers, Option<PathBuf>) {
    let mut batch: Vec<CheckResult> = Vec::new();
    let mut jumps = ClockJumps::new(clock());
    p.render(clock());
    loop {
        let got = p.collect(&rx, &mut batch, clock);
        if got.ready {
            // Record -> automatic incidents (in `transition`).
            p.record(std::mem::take(&mut batch), clock());
        }
        p.keep_time(&mut jumps, clock());
        if got.stop {
            return p.finish(batch, clock());
        }
        let store_there = p.store_there();
        if p.render_due() && store_there {
            // Snapshot -> render -> write -> hand to the publishers -> maintenance events.
            p.render(clock());
        }
    }
}
