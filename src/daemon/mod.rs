//! `pharos run`, by job: monitor tasks (tokio, `scheduler`) check on their schedules and send
//! results; heartbeat pings arrive through `listener`; edits to `content/` and the config
//! through `watcher`; the `pipeline` thread owns the store (the one writer) and turns all of it
//! into the published site, which the `publisher` thread pushes to every target; notification
//! senders (`crate::notify`) deliver what the pipeline put in the outbox.

mod listener;
mod pipeline;
mod publisher;
mod scheduler;
mod watcher;

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
    Stop,
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
    // A restart is not a ping: heartbeats go on from what the store knows of them.
    let checker = Checker::new(clock());
    checker.remember(store.heartbeat_silences()?);
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let (publish_tx, publisher) = publisher::start(&config)?.unzip();
    let pipeline = pipeline::start(
        pipeline::Pipeline::new(
            config.clone(),
            store,
            opts.out,
            &monitors,
            publish_tx,
            clock,
        ),
        rx,
        clock,
    )?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(supervise(
            config,
            monitors,
            checker,
            tx.clone(),
            opts.stop,
            clock,
        ));
    let _ = tx.send(Msg::Stop);
    drop(tx);
    let _ = pipeline.join();
    // The pipeline dropped its sender: the publisher finishes its current object and stops.
    if let Some(p) = publisher {
        let _ = p.join();
    }
    result
}

/// The daemon's async side until told to stop: the monitor tasks, the notification senders,
/// the heartbeat listener and the file watcher; a valid new config restarts the monitors and
/// senders and goes to the pipeline.
async fn supervise(
    config: Config,
    monitors: Vec<monitor::Monitor>,
    checker: Arc<Checker>,
    tx: Sender<Msg>,
    mut stop: Option<tokio::sync::oneshot::Receiver<()>>,
    clock: fn() -> DateTime<Utc>,
) -> Result<()> {
    let mut tasks = scheduler::MonitorTasks::new(&config, checker.clone(), tx.clone(), clock);
    tasks.start(&monitors);
    info!(monitors = monitors.len(), "monitors started");
    let mut senders = crate::notify::spawn(&Arc::new(config.clone()));
    let tokens: listener::Tokens = Arc::new(RwLock::new(monitor::heartbeat_tokens(&monitors)));
    let server =
        listener::start(&config, checker.clone(), tokens.clone(), tx.clone(), clock).await?;
    let (config_tx, mut config_rx) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = watcher::watch(&config, tx.clone(), config_tx)?;
    let mut current = config;
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
                        let list = monitor::compile(&new);
                        for m in list.iter().filter(|m| matches!(m.kind, monitor::Kind::Heartbeat(_))) {
                            checker.listen_from(&m.id, clock());
                        }
                        *tokens.write().unwrap() = monitor::heartbeat_tokens(&list);
                        tasks.start(&list);
                        // A channel stopped mid-send sends again with the same key.
                        for t in senders.drain(..) {
                            t.abort();
                        }
                        senders = crate::notify::spawn(&Arc::new(new.clone()));
                        let _ = tx.send(Msg::Config(Box::new(new.clone())));
                        current = new;
                    }
                }
            }
        }
    }
    tasks.stop();
    for t in senders {
        t.abort();
    }
    server.abort();
    Ok(())
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
