//! One member of a cluster: `pharos run --region NAME` (a standby that may lead) and
//! `pharos probe --region NAME` (checks only).
//!
//! Every member checks the config's network monitors and writes its results to the cluster
//! store ([`Reporter`]). The lease decides the one leader. While it leads, a member runs the
//! whole daemon ([`super::serve`]) with three additions: its own results are judged with the
//! other regions' before they count ([`judge_thread`]), the regions' reports are read and their
//! silences said ([`poll_regions`]), and what a successor needs is mirrored to the store
//! ([`mirror_task`]). A member that loses the lease (or cannot show it still holds it) stops
//! that machinery and stands by again; [`crate::fence`] keeps every publish batch and
//! notification behind the lease meanwhile.

use super::scheduler::MonitorTasks;
use super::{Msg, Options, Serve, serve, stop_signal};
use crate::cluster::envelope;
use crate::cluster::judge::{self, Regions};
use crate::cluster::lease::{Lease, Role};
use crate::cluster::mirror::{self, Mirror, Pushed};
use crate::cluster::remote::Remote;
use crate::cluster::report::{self, Reporter};
use crate::config::Config;
use crate::fence;
use crate::monitor::{self, CheckResult, Checker, Monitor};
use crate::store::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// How often the mirror is pushed when nothing urgent changed: counters and streaks move with
/// every check (a successor may count a streak again; it loses no incident, delivery or
/// publish, which push within a second). At 5 s this was 4,300 PUTs an hour for 1,000
/// monitors; at 30 s about 700.
const MIRROR_EVERY: Duration = Duration::from_secs(30);
/// How often a leader deletes mirror parts that no index names any more.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often the leader lists which regions report.
const LIST_EVERY: Duration = Duration::from_secs(30);

/// The shortest interval of the network monitors (what sets the report period).
fn shortest_interval(monitors: &[Monitor]) -> Duration {
    monitors
        .iter()
        .filter(|m| m.endpoint().is_some())
        .map(|m| m.interval)
        .min()
        .unwrap_or(Duration::from_secs(60))
}

fn network_only(monitors: &[Monitor]) -> Vec<Monitor> {
    monitors
        .iter()
        .filter(|m| m.endpoint().is_some())
        .cloned()
        .collect()
}

/// The region named on the command line, checked to be usable in a store path.
fn region_of(opts: &Options) -> Result<String> {
    let region = opts
        .region
        .clone()
        .context("the config has a `cluster:` section: name this machine's region with --region NAME (e.g. --region eu-west)")?;
    let ok = !region.is_empty()
        && region.len() <= 64
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    anyhow::ensure!(
        ok,
        "--region {region:?}: use letters, digits, '-' and '_' (at most 64), e.g. eu-west"
    );
    Ok(region)
}

/// What a member shares across its terms: who it is, what it reports, where it coordinates.
struct Member {
    config: Config,
    region: String,
    remote: Arc<Remote>,
    reporter: Arc<Reporter>,
    checker: Arc<Checker>,
    period: Duration,
    clock: fn() -> DateTime<Utc>,
}

impl Member {
    fn new(config: Config, opts: &Options, runtime: &tokio::runtime::Runtime) -> Result<Member> {
        let cluster = config.cluster().context("no cluster")?.clone();
        let region = region_of(opts)?;
        let clock: fn() -> DateTime<Utc> = opts.clock.unwrap_or(Utc::now);
        let remote = Arc::new(runtime.block_on(Remote::new(&cluster))?);
        let monitors = monitor::compile(&config);
        let period = report::period(shortest_interval(&monitors));
        let reporter = Reporter::new(&region);
        runtime.spawn(reporter.clone().write_forever(remote.clone(), period));
        Ok(Member {
            checker: Checker::in_region(clock(), Some(&region)),
            config,
            region,
            remote,
            reporter,
            period,
            clock,
        })
    }

    /// Check the network monitors and report, until `until` completes.
    async fn check_and_report(&self, until: impl Future<Output = ()>) {
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        let mut tasks = MonitorTasks::new(&self.config, self.checker.clone(), tx, self.clock);
        tasks.start(&network_only(&monitor::compile(&self.config)));
        let reporter = self.reporter.clone();
        std::thread::spawn(move || {
            for msg in rx {
                if let Msg::Result(r) = msg {
                    reporter.note(&r);
                }
            }
        });
        until.await;
        tasks.stop();
    }
}

/// `pharos probe --region NAME`: run the config's network monitors and write signed results to
/// the cluster store; render, publish and notify nothing. Until SIGINT/SIGTERM.
pub fn probe(config: Config, mut opts: Options) -> Result<()> {
    crate::tls_provider();
    anyhow::ensure!(
        config.cluster().is_some(),
        "`pharos probe` reports to a cluster: the config needs an enabled `cluster:` section"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = runtime.block_on(async { stop_signal(opts.stop.take()) })?;
    let member = Member::new(config, &opts, &runtime)?;
    info!(region = %member.region, report_every_ms = member.period.as_millis() as u64, "probe started");
    runtime.block_on(member.check_and_report(stop));
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// `pharos run --region NAME` with `cluster:`: stand by, lead while the lease is ours, stand by
/// again when it is not. Until SIGINT/SIGTERM.
pub fn run(config: Config, mut opts: Options) -> Result<()> {
    let cluster = config.cluster().context("no cluster")?.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = runtime.block_on(async { stop_signal(opts.stop.take()) })?;
    let (stopping_tx, stopping) = watch::channel(false);
    runtime.spawn(async move {
        stop.await;
        let _ = stopping_tx.send(true);
    });
    let db = config.database_path();
    drop(Store::open(&db)?);
    let _lock = crate::store::lock(&db)?;
    fence::join();
    let member = Member::new(config, &opts, &runtime)?;
    let me = format!("{}/{}", member.region, &crate::subscriber::new_token()[..8]);
    let (role_tx, role) = watch::channel(Role::Standby { holder: None });
    let deposed = Arc::new(AtomicBool::new(false));
    runtime.spawn(lease_task(
        Lease::new(member.remote.clone(), &me, cluster.lease.0),
        role_tx,
        deposed.clone(),
    ));
    info!(region = %member.region, member = %me, lease_ms = cluster.lease.0.as_millis() as u64, "cluster member started: standing by");
    let mut result = Ok(());
    loop {
        // Standby: check and report until the lease is ours (and usable), or the stop.
        let mut r = role.clone();
        let mut s = stopping.clone();
        runtime.block_on(member.check_and_report(async move {
            tokio::select! {
                _ = r.wait_for(|r| matches!(r, Role::Leader { .. }) && fence::allowed()) => {}
                _ = s.wait_for(|s| *s) => {}
            }
        }));
        if *stopping.borrow() {
            break;
        }
        let Role::Leader { term } = role.borrow().clone() else {
            continue;
        };
        // The config as it is now (a term may begin long after the process started).
        let config = match Config::load(&member.config.file) {
            Ok(c) if c.cluster().is_some() => c,
            Ok(_) => member.config.clone(),
            Err(e) => {
                error!(
                    "the config does not load; leading with the one this process started with:\n{e:#}"
                );
                member.config.clone()
            }
        };
        let (mirror, restored) = match runtime.block_on(take_over(&member, &config, &me, term)) {
            Ok(m) => m,
            Err(e) => {
                error!(
                    term,
                    "cannot take over the mirrored state (trying again): {e:#}"
                );
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        info!(term, "leading: publishing and notifying");
        let mirror_job = runtime.spawn(mirror_task(
            mirror,
            config.database_path(),
            config.content_path(),
            config.tz(),
            config.site.history_days,
            deposed.clone(),
        ));
        let mut r = role.clone();
        let mut s = stopping.clone();
        let end = async move {
            let lost = async {
                loop {
                    if !fence::allowed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                _ = r.wait_for(|r| !matches!(r, Role::Leader { .. })) => {}
                _ = lost => {}
                _ = s.wait_for(|s| *s) => {}
            }
        };
        let leading = Leading {
            region: member.region.clone(),
            remote: member.remote.clone(),
            reporter: member.reporter.clone(),
            quorum: cluster.quorum,
            period: member.period,
            silent_after: cluster.lease.0.max(member.period * 3),
            restored,
            jobs: Arc::new(Mutex::new(Vec::new())),
        };
        let jobs = leading.jobs.clone();
        let served = serve(
            config,
            &runtime,
            Serve {
                out: opts.out.clone(),
                clock: member.clock,
                stop: Box::pin(end),
                leader: Some(leading),
            },
        );
        for j in jobs.lock().unwrap().drain(..) {
            j.abort();
        }
        mirror_job.abort();
        if let Err(e) = served {
            error!("the leader's machinery stopped: {e:#}");
            result = Err(e);
            break;
        }
        if *stopping.borrow() {
            break;
        }
        warn!(
            term,
            "stepped down: not the leader any more (or cannot show it is); standing by"
        );
    }
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

/// Renew or watch the lease every third of it, and keep the fence in step.
async fn lease_task(mut lease: Lease, role: watch::Sender<Role>, deposed: Arc<AtomicBool>) {
    let mut failing = false;
    loop {
        if deposed.swap(false, Ordering::SeqCst) {
            lease.drop_lease();
        }
        let stepped = lease.step().await;
        // Deposed meanwhile (the mirror found another leader's index): that stands.
        if deposed.swap(false, Ordering::SeqCst) {
            lease.drop_lease();
        }
        // The fence before the role: whoever waits for "leader" finds it usable.
        fence::hold_until(lease.valid_until());
        match stepped {
            Ok(r) => {
                if failing {
                    info!("the cluster store answers again");
                    failing = false;
                }
                let held = lease.valid_until().is_some();
                role.send_replace(match r {
                    Role::Leader { .. } if !held => Role::Standby { holder: None },
                    r => r,
                });
            }
            Err(e) => {
                if !failing {
                    warn!(
                        "cannot reach the cluster store for the lease (a leader stops acting when its lease runs out): {e:#}"
                    );
                    failing = true;
                }
            }
        }
        tokio::time::sleep(lease.interval()).await;
    }
}

/// Take the mirrored state over at the start of a term: the store's mirrored tables and the
/// content files, unless the mirror is our own from this very process (it holds nothing newer).
async fn take_over(
    member: &Member,
    config: &Config,
    me: &str,
    term: u64,
) -> Result<(Mirror, Vec<PathBuf>)> {
    let fetched = mirror::fetch(&member.remote).await?;
    let mut m = Mirror::new(member.remote.clone(), me, term);
    let mut written = Vec::new();
    if let Some(f) = fetched {
        if f.index.holder != me {
            let started = Instant::now();
            let (files, rest): (Vec<_>, Vec<_>) = f
                .parts
                .iter()
                .cloned()
                .partition(|p| p.name.starts_with(mirror::CONTENT));
            let (tables, unknown): (Vec<_>, Vec<_>) =
                rest.into_iter().partition(|p| p.name.starts_with("table/"));
            for p in &unknown {
                warn!(part = %p.name, "the mirror holds a part this version does not know (a newer leader's?); left out");
            }
            let db = config.database_path();
            let content = config.content_path();
            let restored = tokio::task::block_in_place(|| -> Result<mirror::Restored> {
                let mut store = Store::open(&db)?;
                store.mirror_restore(&tables)?;
                store.forget_raw()?;
                mirror::restore_content(&content, &files)
            })?;
            for path in &restored.kept_local {
                warn!(file = %path.display(), "this machine's copy differs from the leader's; kept (edit it, or copy the leader's)");
            }
            info!(
                from = %f.index.holder,
                term = f.index.term,
                parts = f.parts.len(),
                files_written = restored.written.len(),
                ms = started.elapsed().as_millis() as u64,
                "took over the mirrored state"
            );
            written = restored.written;
        }
        m.adopt(&f);
    }
    Ok((m, written))
}

/// Push the mirror when something changed (within a second) and every [`MIRROR_EVERY`]; stop
/// leading at once when another leader wrote it.
async fn mirror_task(
    mut m: Mirror,
    db: PathBuf,
    content: PathBuf,
    tz: chrono_tz::Tz,
    history_days: u32,
    deposed: Arc<AtomicBool>,
) {
    let store = match Store::open(&db) {
        Ok(s) => s,
        Err(e) => return error!("the mirror cannot open the store: {e:#}"),
    };
    let mut last = Instant::now() - MIRROR_EVERY;
    let mut failing = false;
    // Closed days' rollups are read again only after a rollup pass (see MirrorCache).
    let mut cache = crate::store::MirrorCache::default();
    // Parts of older leaders' indexes nobody names any more: swept once a term, after the
    // first push, and then every SWEEP_EVERY.
    let mut swept: Option<Instant> = None;
    loop {
        if fence::take_changed() || last.elapsed() >= MIRROR_EVERY {
            last = Instant::now();
            let parts = tokio::task::block_in_place(|| -> Result<Vec<crate::store::Part>> {
                let today = crate::time::local_day(Utc::now(), tz);
                let mut parts = store.mirror_parts_cached(today, history_days, &mut cache)?;
                parts.extend(mirror::content_parts(&content)?);
                Ok(parts)
            });
            let pushed = match parts {
                Ok(parts) => m.push(&parts).await,
                Err(e) => Err(e),
            };
            match pushed {
                Ok(Pushed::Deposed) => {
                    // Another leader wrote the state: it holds the lease. Act no more, now.
                    fence::hold_until(None);
                    deposed.store(true, Ordering::SeqCst);
                    return warn!("another leader wrote the mirrored state: stepping down");
                }
                Ok(_) => {
                    if failing {
                        failing = false;
                        info!("the mirrored state reaches the cluster store again");
                    }
                    if swept.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                        swept = Some(Instant::now());
                        match m.sweep().await {
                            Ok(0) => {}
                            Ok(n) => info!(parts = n, "swept mirror parts no index names"),
                            Err(e) => {
                                warn!("cannot sweep old mirror parts (tried again later): {e:#}")
                            }
                        }
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    warn!(
                        "cannot mirror the state to the cluster store (a successor would start from the last mirror): {e:#}"
                    );
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the daemon's machinery needs for a term as the leader.
pub(super) struct Leading {
    pub(super) region: String,
    remote: Arc<Remote>,
    reporter: Arc<Reporter>,
    quorum: Option<u32>,
    period: Duration,
    silent_after: Duration,
    /// Content files the takeover wrote (imported at once).
    pub(super) restored: Vec<PathBuf>,
    jobs: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Leading {
    /// Start judging (our results, through the judge, to `pipeline`) and reading the regions'
    /// reports. Returns where our check results go. On the current runtime.
    pub(super) fn start(self, monitors: &[Monitor], pipeline: Sender<Msg>) -> Result<Sender<Msg>> {
        let regions = Arc::new(Mutex::new(Regions::new(&self.region, self.silent_after)));
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        // Our result waits until the other regions' results of the same round can be here:
        // they check at the same phase, report within a period, and are read every half one;
        // a busy probe's check, write and our read take their time too (at 1.5 periods and a
        // second, a bench of 1,000 monitors saw some rounds judged with the previous round's
        // votes).
        let delay = self.period * 2 + Duration::from_secs(2);
        let intervals: HashMap<String, Duration> = monitors
            .iter()
            .map(|m| (m.id.clone(), m.interval))
            .collect();
        let judge = Judge {
            regions: regions.clone(),
            reporter: self.reporter.clone(),
            quorum: self.quorum,
            delay,
            period: self.period,
            intervals,
            short: false,
        };
        std::thread::Builder::new()
            .name("pharos-judge".into())
            .spawn(move || judge_thread(judge, rx, pipeline.clone()))?;
        // The poller's messages for the pipeline go through the judge, which passes them on.
        let poller = tokio::spawn(poll_regions(
            self.remote.clone(),
            regions,
            self.period / 2,
            tx.clone(),
        ));
        self.jobs.lock().unwrap().push(poller);
        Ok(tx)
    }
}

struct Judge {
    regions: Arc<Mutex<Regions>>,
    reporter: Arc<Reporter>,
    quorum: Option<u32>,
    delay: Duration,
    period: Duration,
    intervals: HashMap<String, Duration>,
    /// Whether the last judgement had fewer votes than the quorum (said once per change).
    short: bool,
}

impl Judge {
    fn judge(&mut self, own: CheckResult) -> CheckResult {
        let now = Instant::now();
        let interval = self
            .intervals
            .get(&own.monitor)
            .copied()
            .unwrap_or(Duration::from_secs(60));
        // A vote is fresh when it moved within about one round.
        let fresh = interval + self.delay + self.period;
        let (votes, live, me) = {
            let regions = self.regions.lock().unwrap();
            (
                regions.votes(&own.monitor, fresh, now),
                regions.live(now),
                regions.me().to_string(),
            )
        };
        let (judged, short) = judge::combine(own, &me, votes, self.quorum, live);
        match (short, self.short) {
            (Some(s), false) => {
                warn!(
                    votes = s.votes,
                    quorum = s.quorum,
                    "fewer regions report than the quorum asks: judging with those that do"
                );
                self.short = true;
            }
            (None, true) => {
                info!("enough regions report for the quorum again");
                self.short = false;
            }
            _ => {}
        }
        judged
    }
}

/// Our own results: reported, held for the judge's delay, judged with the other regions', and
/// passed to the pipeline. Heartbeats (the leader's alone) and other messages pass at once.
fn judge_thread(mut j: Judge, rx: Receiver<Msg>, pipeline: Sender<Msg>) {
    let mut waiting: VecDeque<(Instant, CheckResult)> = VecDeque::new();
    loop {
        let timeout = waiting
            .front()
            .map_or(Duration::from_secs(3600), |(due, _)| {
                due.saturating_duration_since(Instant::now())
            });
        match rx.recv_timeout(timeout) {
            Ok(Msg::Result(r)) if r.reached.is_some() => {
                j.reporter.note(&r);
                waiting.push_back((Instant::now() + j.delay, r));
            }
            Ok(msg) => {
                if pipeline.send(msg).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while waiting
            .front()
            .is_some_and(|(due, _)| *due <= Instant::now())
        {
            let (_, r) = waiting.pop_front().expect("checked");
            if pipeline.send(Msg::Result(j.judge(r))).is_err() {
                return;
            }
        }
    }
}

/// Read every region's report every `every`; list which regions report every
/// [`LIST_EVERY`]. A refused object (planted, altered, another secret) is logged once per
/// version and ignored. The regions' state goes to the pipeline when it changes, and every few
/// seconds for `pharos status`.
async fn poll_regions(
    remote: Arc<Remote>,
    regions: Arc<Mutex<Regions>>,
    every: Duration,
    pipeline: Sender<Msg>,
) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut listed: Option<Instant> = None;
    let mut refused: HashMap<String, String> = HashMap::new();
    let mut told: Option<Instant> = None;
    let me = regions.lock().unwrap().me().to_string();
    loop {
        if listed.is_none_or(|t| t.elapsed() >= LIST_EVERY) {
            match remote.list(report::DIR).await {
                Ok(paths) => {
                    listed = Some(Instant::now());
                    known = paths
                        .into_iter()
                        .filter(|p| p.ends_with(".json") && *p != report::path(&me))
                        .collect();
                }
                Err(e) => warn!("cannot list the regions' reports: {e:#}"),
            }
        }
        let mut reads = tokio::task::JoinSet::new();
        for p in &known {
            let (remote, p) = (remote.clone(), p.clone());
            reads.spawn(async move {
                let read = remote.get_raw(&p).await;
                (p, read)
            });
        }
        while let Some(Ok((path, read))) = reads.join_next().await {
            let Ok(Some((bytes, etag))) = read else {
                continue;
            };
            let why = match envelope::open::<report::Report>(remote.secret(), report::KIND, &bytes)
            {
                Ok(r) if report::path(&r.region) == path => {
                    refused.remove(&path);
                    regions.lock().unwrap().take(r, Instant::now(), Utc::now());
                    continue;
                }
                Ok(r) => format!("it says it is region {:?}", r.region),
                Err(why) => why.to_string(),
            };
            if refused.get(&path) != Some(&etag) {
                error!(object = %path, "refused a results object from the cluster store: {why}");
                refused.insert(path, etag);
            }
        }
        let (changes, rows) = {
            let mut r = regions.lock().unwrap();
            let now = Instant::now();
            let changes = r.changes(now);
            let rows: Vec<crate::store::RegionRow> = r
                .states(now)
                .into_iter()
                .map(|s| crate::store::RegionRow {
                    region: s.region,
                    heard: s.heard,
                    silent: !s.live,
                })
                .collect();
            (changes, rows)
        };
        if !changes.is_empty() || told.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            told = Some(Instant::now());
            if pipeline.send(Msg::Regions { rows, changes }).is_err() {
                return;
            }
        }
        tokio::time::sleep(every).await;
    }
}
