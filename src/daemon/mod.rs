//! `pharos run`, by job: monitor tasks (tokio, `scheduler`) check on their schedules and send
//! results; heartbeat pings arrive through `listener`; edits to `content/` and the config
//! through `watcher`; the `pipeline` thread owns the store's writes of state and turns all of it
//! into the published site, which the `publisher` threads (one per target) push out;
//! notification senders (`crate::notify`) deliver what the pipeline put in the outbox. One daemon
//! per site: `run` holds the store's lock file while it runs.

mod cluster;
mod listener;
mod pipeline;
mod publisher;
mod scheduler;
mod watcher;

pub use cluster::probe;
pub use watcher::{Changed, watch_site};

use crate::config::Config;
use crate::monitor::{self, CheckResult, Checker};
use crate::store::Store;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tracing::{error, info};

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
    /// In a cluster, the leader's view of the other regions: each one's state, and which fell
    /// silent or came back.
    Regions {
        rows: Vec<crate::store::RegionRow>,
        changes: Vec<crate::cluster::judge::Change>,
    },
    Stop,
}

#[derive(Default)]
pub struct Options {
    pub out: Option<PathBuf>,
    /// Stop when this future completes (tests); by default SIGINT/SIGTERM.
    pub stop: Option<tokio::sync::oneshot::Receiver<()>>,
    /// The wall clock (tests move it to check clock jumps); by default the system's.
    pub clock: Option<fn() -> DateTime<Utc>>,
    /// In a cluster: the region this machine checks from (`--region`).
    pub region: Option<String>,
}

/// How long a stop waits for publishes under way (a hung target does not hold the exit up).
const STOP_PUBLISH_WAIT: Duration = Duration::from_millis(500);
/// Editors save in bursts: a config edit is read once the file has been quiet this long.
const CONFIG_SETTLE: Duration = Duration::from_millis(200);

/// `pharos run`: until SIGINT/SIGTERM (or `opts.stop`). With `cluster:`, as one member of
/// the cluster (see [`cluster`]).
pub fn run(config: Config, opts: Options) -> Result<()> {
    crate::tls_provider();
    if config.cluster().is_some() {
        return cluster::run(config, opts);
    }
    if opts.region.is_some() {
        anyhow::bail!(
            "--region names this machine's region in a cluster, but the config has no (enabled) `cluster:` section"
        );
    }
    let clock: fn() -> DateTime<Utc> = opts.clock.unwrap_or(Utc::now);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // From here on a stop signal is never lost: it is waited for whatever else is under way.
    let stop = runtime.block_on(async { stop_signal(opts.stop) })?;
    let db = config.database_path();
    // The store first: a file that cannot be written is named as such.
    drop(Store::open(&db)?);
    let _lock = crate::store::lock(&db)?;
    let result = serve(
        config,
        &runtime,
        Serve {
            out: opts.out,
            clock,
            stop,
            leader: None,
        },
    );
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

/// What one run of the daemon's machinery needs (a whole `pharos run`, or one term of a
/// cluster's leader).
pub(super) struct Serve {
    out: Option<PathBuf>,
    clock: fn() -> DateTime<Utc>,
    stop: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    leader: Option<cluster::Leading>,
}

/// The store, the pipeline, the publishers and the async side, until `s.stop` (or a fatal
/// problem). The caller holds the store's lock.
fn serve(config: Config, runtime: &tokio::runtime::Runtime, s: Serve) -> Result<()> {
    let clock = s.clock;
    let db = config.database_path();
    let mut store = Store::open(&db)?;
    let monitors = monitor::compile(&config);
    store.sync_monitors(&monitors, clock())?;
    // A restart is not a ping: heartbeats go on from what the store knows of them.
    let region = s.leader.as_ref().map(|l| l.region.clone());
    let checker = Checker::in_region(clock(), region.as_deref());
    checker.remember(store.heartbeat_silences()?);
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let (fatal_tx, fatal_rx) = tokio::sync::mpsc::unbounded_channel();
    let publishers = publisher::Publishers::start(&config)?;
    let mut p = pipeline::Pipeline::new(
        config.clone(),
        store,
        s.out,
        &monitors,
        publishers,
        fatal_tx,
        clock,
    );
    // In a cluster, our own checks are judged with the other regions' before they count.
    let results = match s.leader {
        Some(leading) => {
            p.trust(&leading.restored);
            let _guard = runtime.enter();
            leading.start(&monitors, tx.clone())?
        }
        None => tx.clone(),
    };
    let pipeline = pipeline::start(p, rx, clock)?;
    let result = runtime.block_on(supervise(
        config,
        monitors,
        checker,
        Senders {
            pipeline: tx.clone(),
            results,
        },
        Stops {
            stop: s.stop,
            fatal_rx,
        },
        clock,
    ));
    let _ = tx.send(Msg::Stop);
    drop(tx);
    let restored = match pipeline.join() {
        Ok((publishers, restored)) => {
            // Publishes under way finish their current object, or are left to the next start.
            publishers.stop(STOP_PUBLISH_WAIT);
            restored
        }
        Err(_) => None,
    };
    if let Some(copy) = restored {
        put_back(&db, &copy)?;
    }
    result
}

/// After the store was deleted while the daemon ran: its copy goes where it was.
fn put_back(db: &std::path::Path, copy: &std::path::Path) -> Result<()> {
    if db.exists() {
        // Something new is there (an admin restored a backup): keep it, and say where ours is.
        anyhow::bail!(
            "the store {} was replaced while Pharos ran; the state Pharos had is kept in {}",
            db.display(),
            copy.display()
        );
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(side));
    }
    std::fs::rename(copy, db)?;
    error!(store = %db.display(), "the store was written back from what Pharos held; start Pharos again");
    Ok(())
}

/// What ends `supervise`: a stop signal, or the pipeline finding it cannot go on.
struct Stops {
    stop: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    fatal_rx: tokio::sync::mpsc::UnboundedReceiver<anyhow::Error>,
}

/// The tasks that send: one per notification channel, and the subscription worker and mailer.
fn senders_for(config: &Config) -> Vec<tokio::task::JoinHandle<()>> {
    let config = Arc::new(config.clone());
    let mut tasks = crate::notify::spawn(&config);
    tasks.extend(crate::subscribe::worker::spawn(&config));
    tasks
}

/// Where messages go: the pipeline, and (in a cluster, through the judge) check results.
struct Senders {
    pipeline: Sender<Msg>,
    results: Sender<Msg>,
}

/// The daemon's async side until told to stop: the monitor tasks, the notification senders,
/// the heartbeat listener and the file watcher. A config edit is read once it settled; a valid
/// new config is applied whole (monitors, senders, listener, watched folders, targets) or not
/// at all, and goes to the pipeline.
async fn supervise(
    config: Config,
    monitors: Vec<monitor::Monitor>,
    checker: Arc<Checker>,
    senders: Senders,
    mut stops: Stops,
    clock: fn() -> DateTime<Utc>,
) -> Result<()> {
    let Senders {
        pipeline: tx,
        results,
    } = senders;
    let mut tasks = scheduler::MonitorTasks::new(&config, checker.clone(), results, clock);
    tasks.start(&monitors);
    info!(monitors = monitors.len(), "monitors started");
    let mut senders = senders_for(&config);
    let ping = listener::Ping {
        checker: checker.clone(),
        tokens: Arc::new(RwLock::new(monitor::heartbeat_tokens(&monitors))),
        tx: tx.clone(),
        clock,
    };
    let mut server = listener::Listener::default();
    server
        .apply(&config, has_heartbeats(&monitors), &ping)
        .await?;
    let (config_tx, mut config_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = watcher::watch(&config, tx.clone(), config_tx.clone())?;
    let mut current = config;
    let mut reload_at: Option<tokio::time::Instant> = None;
    let result = loop {
        tokio::select! {
            biased;
            _ = &mut stops.stop => break Ok(()),
            e = stops.fatal_rx.recv() => {
                break Err(e.unwrap_or_else(|| anyhow::anyhow!("the pipeline thread stopped: nothing is recorded or published any more")));
            }
            Some(()) = config_rx.recv() => {
                reload_at = Some(tokio::time::Instant::now() + CONFIG_SETTLE);
            }
            _ = tokio::time::sleep_until(reload_at.unwrap_or_else(tokio::time::Instant::now)), if reload_at.is_some() => {
                reload_at = None;
                let new = match Config::load(&current.file) {
                    Ok(new) => new,
                    Err(e) => {
                        error!("config not reloaded, the running config stays:\n{e:#}");
                        continue;
                    }
                };
                let restart = needs_restart(&current, &new);
                if !restart.is_empty() {
                    error!(
                        "config not reloaded, the running config stays: {} changed, which takes a restart of `pharos run`",
                        restart.join(", ")
                    );
                    continue;
                }
                let list = monitor::compile(&new);
                // Everything that can fail first; then nothing of the old config stays.
                let new_watcher = if new.content_path() != current.content_path() {
                    match watcher::watch(&new, tx.clone(), config_tx.clone()) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            error!("config not reloaded, the running config stays: cannot watch {} (content_dir): {e:#}", new.content_path().display());
                            continue;
                        }
                    }
                } else {
                    None
                };
                if let Err(e) = server.apply(&new, has_heartbeats(&list), &ping).await {
                    error!("config not reloaded, the running config stays: {e:#}");
                    continue;
                }
                if let Some(w) = new_watcher {
                    watcher = w;
                }
                for m in list.iter().filter(|m| matches!(m.kind, monitor::Kind::Heartbeat(_))) {
                    checker.listen_from(&m.id, clock());
                }
                *ping.tokens.write().unwrap() = monitor::heartbeat_tokens(&list);
                tasks.limit(new.daemon.max_concurrent_checks);
                tasks.start(&list);
                // A channel stopped mid-send sends again with the same key.
                for t in senders.drain(..) {
                    t.abort();
                }
                senders = senders_for(&new);
                let _ = tx.send(Msg::Config(Box::new(new.clone())));
                current = new;
            }
        }
    };
    drop(watcher);
    tasks.stop();
    for t in senders {
        t.abort();
    }
    server.stop();
    result
}

fn has_heartbeats(monitors: &[monitor::Monitor]) -> bool {
    monitors
        .iter()
        .any(|m| matches!(m.kind, monitor::Kind::Heartbeat(_)))
}

/// The config fields a running daemon cannot take on: the store it writes (and holds the lock
/// of), and the cluster it belongs to. Every other field is applied on reload.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if old.database_path() != new.database_path() {
        fields.push("store.path");
    }
    let cluster = |c: &Config| {
        c.cluster().map(|k| {
            (
                format!("{:?} {:?} {:?}", k.store, k.quorum, k.lease),
                k.secret.expose().to_string(),
            )
        })
    };
    if cluster(old) != cluster(new) {
        fields.push("cluster");
    }
    fields
}

/// The stop signal, registered now (a signal that arrives while anything else is under way
/// is kept): `stop` when given (tests), otherwise SIGINT or SIGTERM.
fn stop_signal(
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
    if let Some(rx) = stop {
        return Ok(Box::pin(async move {
            let _ = rx.await;
        }));
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(Box::pin(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        info!("stopping");
    }))
}
