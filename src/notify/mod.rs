//! Notifications: events from the outbox, delivered to each configured channel.
//!
//! The store writes an event in the same transaction as the change it reports (a confirmed
//! monitor transition, an imported incident update, a maintenance window's edge). Each channel
//! then works through the outbox in order on its own task, with its cursor in SQLite: a
//! delivery is marked done right after the receiver accepts it, a failure is retried with capped
//! exponential backoff (the channel waits, the others do not), and every message carries the
//! event's idempotency key, so a receiver can drop the one duplicate a crash between sending and
//! marking can cause.

pub mod channels;

use crate::config::{Config, Notification};
use crate::event::Event;
use crate::store::{OutboxEvent, Store};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The longest wait between two attempts of a failing channel.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How often an idle channel looks for new events.
const POLL: Duration = Duration::from_millis(250);

/// Whether `ch`'s filters let `e` through.
pub fn wants(ch: &Notification, e: &Event) -> bool {
    // What operators must fix goes to every operator channel (whatever its filters, which are
    // about the public's events) and never to another.
    if e.kind().is_operator() {
        return ch.operator;
    }
    if !ch.events.is_empty() && !ch.events.contains(&e.kind()) {
        return false;
    }
    if !ch.components.is_empty() {
        let named = e.components();
        // Events about no component (a maintenance of nothing) reach every channel.
        if !named.is_empty()
            && !named
                .iter()
                .any(|c| ch.components.iter().any(|x| x.as_str() == *c))
        {
            return false;
        }
    }
    ch.min_impact
        .is_none_or(|min| e.impact().is_none_or(|i| i >= min))
}

/// The wait before attempt `attempts + 1` of a failing channel: 1 s, 2 s, 4 s, ... up to
/// [`BACKOFF_MAX`].
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(16)).min(BACKOFF_MAX)
}

fn timeout(ch: &Notification) -> Duration {
    ch.timeout.map_or(Duration::from_secs(10), |d| d.0)
}

/// Test hook: `PHAROS_FAILPOINT=notify-after-send` stops the process right after a receiver
/// accepted a message and before it is marked sent (the crash the idempotency key is for).
pub fn failpoint(name: &str) {
    if std::env::var("PHAROS_FAILPOINT").as_deref() == Ok(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Handle what is due for one channel: deliver events after its cursor until one fails or none
/// is left. Returns whether it stopped on a failure.
pub async fn drain(store: &mut Store, config: &Config, ch: &Notification) -> anyhow::Result<bool> {
    let id = ch.id.as_str();
    loop {
        let state = store.channel_state(id)?;
        if state.next_at.is_some_and(|t| t > Utc::now()) {
            return Ok(true);
        }
        let events = store.events_after(state.cursor, 50)?;
        if events.is_empty() {
            return Ok(false);
        }
        for OutboxEvent {
            id: event_id,
            key,
            event,
        } in events
        {
            if !wants(ch, &event) {
                store.channel_done(id, event_id, None, Utc::now())?;
                continue;
            }
            if !crate::fence::allowed() {
                // Not the leader (any more): the successor delivers it.
                return Ok(false);
            }
            match channels::send(config, ch, &key, &event, timeout(ch)).await {
                Ok(answer) => {
                    failpoint("notify-after-send");
                    store.channel_done(id, event_id, Some(&answer), Utc::now())?;
                    crate::fence::changed();
                    info!(channel = id, event = event.kind().as_str(), delivery = %crate::ids::delivery_id(&key), "notified: {answer}");
                }
                Err(error) => {
                    let state = store.channel_state(id)?;
                    let attempts = state.attempts + 1;
                    let wait = backoff(attempts);
                    let next = Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(1));
                    store.channel_failed(id, &error, attempts, next)?;
                    warn!(
                        channel = id,
                        event = event.kind().as_str(),
                        attempts,
                        retry_in_s = wait.as_secs(),
                        "notification failed: {error}"
                    );
                    return Ok(true);
                }
            }
        }
    }
}

/// The daemon's sender: one task per enabled channel (on the current tokio runtime), each with
/// its own store connection, until aborted.
pub fn spawn(config: &Arc<Config>) -> Vec<tokio::task::JoinHandle<()>> {
    config
        .notifications
        .iter()
        .filter(|n| n.enabled)
        .map(|ch| tokio::spawn(channel_task(config.clone(), ch.clone())))
        .collect()
}

async fn channel_task(config: Arc<Config>, ch: Notification) {
    let mut store = match Store::connect(&config.database_path()) {
        Ok(s) => s,
        Err(e) => {
            return tracing::error!(channel = ch.id.as_str(), "cannot open the store: {e:#}");
        }
    };
    loop {
        if let Err(e) = drain(&mut store, &config, &ch).await {
            tracing::error!(channel = ch.id.as_str(), "notification outbox: {e:#}");
        }
        tokio::time::sleep(POLL).await;
    }
}
