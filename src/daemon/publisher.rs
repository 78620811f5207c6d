//! The publisher thread: each rendered site goes to every enabled target, and a `verify`
//! schedule repairs what was deleted or edited in a bucket.

use crate::build;
use crate::config::Config;
use crate::store::Store;
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Longest wait between publish attempts to a failing target.
const PUBLISH_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What the publisher thread is told.
pub(super) enum ToPublisher {
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

/// The publisher thread, when the config enables a target: where to send it sites, and its
/// handle (it stops when the sender is dropped).
pub(super) fn start(
    config: &Config,
) -> anyhow::Result<Option<(Sender<ToPublisher>, std::thread::JoinHandle<()>)>> {
    if !config.publish.targets.iter().any(|t| t.enabled) {
        return Ok(None);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let config = config.clone();
    let handle = std::thread::Builder::new()
        .name("pharos-publisher".into())
        .spawn(move || publisher_loop(config, rx))?;
    Ok(Some((tx, handle)))
}
