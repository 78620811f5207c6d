//! The publishers: one thread per enabled target, so a target that hangs or fails delays no
//! other. Each rendered site goes to every target; a `verify` schedule repairs what was deleted
//! or edited in a bucket.

use crate::build;
use crate::config::{Config, Target};
use crate::store::Store;
use chrono::Utc;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Longest wait between publish attempts to a failing target.
const PUBLISH_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What a target's thread is told.
enum ToTarget {
    /// A new site to publish.
    Site(Arc<build::Built>),
    /// A `verify` schedule: compare the target with what was recorded, and upload again what is
    /// missing or different (`pharos publish --verify`).
    Verify,
    /// The target's settings changed (a config reload): used from the next attempt on.
    Settings(Box<Target>),
}

/// One thread per enabled target, by target name.
#[derive(Default)]
pub(super) struct Publishers {
    store: PathBuf,
    newest: Option<Arc<build::Built>>,
    targets: BTreeMap<String, Worker>,
    /// Threads of removed targets that may still be finishing an object: a target added back
    /// under the same name waits for its old thread, so no two ever publish to it at once.
    retired: Vec<(String, std::thread::JoinHandle<()>)>,
}

struct Worker {
    settings: Target,
    tx: Sender<ToTarget>,
    thread: std::thread::JoinHandle<()>,
}

impl Publishers {
    /// The enabled targets of `config`, each on its own thread.
    pub(super) fn start(config: &Config) -> anyhow::Result<Publishers> {
        let mut p = Publishers {
            store: config.database_path(),
            ..Publishers::default()
        };
        p.apply(config)?;
        Ok(p)
    }

    /// Whether any target is enabled.
    pub(super) fn any(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Follow a new config: start threads for new targets, give changed ones their settings,
    /// stop removed or disabled ones (after their current object).
    pub(super) fn apply(&mut self, config: &Config) -> anyhow::Result<()> {
        let wanted: BTreeMap<&str, &Target> = config
            .publish
            .targets
            .iter()
            .filter(|t| t.enabled)
            .map(|t| (t.name.as_str(), t))
            .collect();
        let gone: Vec<String> = self
            .targets
            .keys()
            .filter(|name| !wanted.contains_key(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(w) = self.targets.remove(&name) {
                // Dropping its sender stops it after its current object.
                self.retired.push((name, w.thread));
            }
        }
        self.retired.retain(|(_, t)| !t.is_finished());
        for (name, t) in wanted {
            match self.targets.get_mut(name) {
                Some(w) if w.settings == *t => {}
                Some(w) => {
                    w.settings = t.clone();
                    let _ = w.tx.send(ToTarget::Settings(Box::new(t.clone())));
                }
                None => {
                    let (tx, rx) = std::sync::mpsc::channel();
                    let (settings, store) = (t.clone(), self.store.clone());
                    let (before, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retired)
                        .into_iter()
                        .partition(|(n, _)| n == name);
                    self.retired = kept;
                    let thread = std::thread::Builder::new()
                        .name(format!("pharos-publish-{name}"))
                        .spawn(move || {
                            for (_, old) in before {
                                let _ = old.join();
                            }
                            target_loop(settings, store, rx)
                        })?;
                    if let Some(site) = &self.newest {
                        let _ = tx.send(ToTarget::Site(site.clone()));
                    }
                    self.targets.insert(
                        name.to_string(),
                        Worker {
                            settings: t.clone(),
                            tx,
                            thread,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Hand `site` to every target; none waits for another.
    pub(super) fn site(&mut self, site: Arc<build::Built>) {
        for w in self.targets.values() {
            let _ = w.tx.send(ToTarget::Site(site.clone()));
        }
        self.newest = Some(site);
    }

    /// Verify every target.
    pub(super) fn verify(&self) {
        for w in self.targets.values() {
            let _ = w.tx.send(ToTarget::Verify);
        }
    }

    /// Tell every thread to stop after its current object, and wait for them up to `wait`: a
    /// target that hangs does not hold up the daemon's exit.
    pub(super) fn stop(self, wait: Duration) {
        let threads: Vec<_> = self
            .targets
            .into_iter()
            .map(|(name, w)| {
                drop(w.tx);
                (name, w.thread)
            })
            .chain(self.retired)
            .collect();
        let until = Instant::now() + wait;
        for (name, thread) in threads {
            while !thread.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                warn!(target = %name, "stopping while a publish is still under way; the next start publishes again");
            }
        }
    }
}

/// One target's thread: publish the newest site it was given. Only the newest matters: a burst
/// of renders while a publish runs becomes one more publish. A failure is retried with capped
/// exponential backoff.
/// How soon a fenced publish looks at the lease again.
const FENCED_RETRY: Duration = Duration::from_millis(250);

fn target_loop(mut settings: Target, store: PathBuf, rx: Receiver<ToTarget>) {
    let name = settings.name.as_str().to_string();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return error!(target = %name, "cannot start the publisher: {e}"),
    };
    let store = match Store::connect(&store) {
        Ok(s) => s,
        Err(e) => return error!(target = %name, "publisher cannot open the store: {e:#}"),
    };
    let mut target = None;
    let mut published = 0;
    let mut retry: Option<(u32, Instant)> = None;
    let mut remote = crate::publisher::RemoteCache::default();
    let mut latest: Option<(usize, Arc<build::Built>)> = None;
    let mut generation = 0;
    // Asked for and not yet done (a target in backoff verifies once it is tried again).
    let mut verify = false;
    loop {
        let next = match retry {
            Some((_, at)) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(first) => {
                for msg in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                    match msg {
                        ToTarget::Site(b) => {
                            generation += 1;
                            latest = Some((generation, b));
                        }
                        ToTarget::Verify => verify = true,
                        ToTarget::Settings(s) => {
                            info!(target = %name, "new settings for this target");
                            settings = *s;
                            target = None;
                            remote = Default::default();
                            published = 0;
                            retry = None;
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if retry.is_some_and(|(_, at)| at > Instant::now()) {
            continue;
        }
        if target.is_none() {
            match runtime.block_on(crate::publisher::s3::S3Target::new(&settings)) {
                Ok(t) => target = Some(t),
                Err(e) => {
                    error!(target = %name, "cannot set up this publish target: {e:#}");
                    retry = Some(backoff(retry));
                    continue;
                }
            }
        }
        let Some(t) = &target else { continue };
        if !crate::fence::allowed() {
            // Fencing: each publish batch asks the lease first; a leader that cannot show it
            // still holds it publishes nothing (its successor does).
            retry = Some((retry.map_or(0, |r| r.0), Instant::now() + FENCED_RETRY));
            continue;
        }
        if verify {
            match runtime.block_on(crate::publisher::verify(&store, t)) {
                Ok(drifted) => {
                    info!(target = %name, drifted = drifted.len(), "verified");
                    for path in &drifted {
                        warn!(target = %name, path = %path, "missing or different in the bucket; uploading it again");
                    }
                    if !drifted.is_empty() {
                        // What the target holds is what the store now says: publish again.
                        remote = Default::default();
                        published = 0;
                    }
                }
                Err(e) => warn!(target = %name, "cannot verify: {e:#}"),
            }
            verify = false;
        }
        let Some((gen_now, built)) = latest.clone() else {
            continue;
        };
        if published == gen_now {
            continue;
        }
        let started = Instant::now();
        let result = runtime.block_on(crate::publisher::publish(
            &store,
            t,
            &built.site,
            &built.report.write.manifest,
            Utc::now(),
            None,
            &mut remote,
        ));
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        let _ = store.publish_attempt(&name, Utc::now(), error.as_deref());
        match result {
            Ok(r) => {
                info!(target = %r.target, uploaded = r.uploaded.len(), deleted = r.deleted.len(), ms = started.elapsed().as_millis() as u64, "published");
                published = gen_now;
                retry = None;
                crate::fence::changed();
            }
            Err(_) => {
                let next = backoff(retry);
                let e = error.unwrap_or_default();
                warn!(target = %name, failures = next.0, retry_in_s = next.1.saturating_duration_since(Instant::now()).as_secs(), "publish failed, the site stays pending: {e}");
                retry = Some(next);
            }
        }
    }
}

/// The next (failures, retry time) after one more failure.
fn backoff(retry: Option<(u32, Instant)>) -> (u32, Instant) {
    let failures = retry.map_or(1, |(n, _)| n + 1);
    let wait = Duration::from_secs(1u64 << failures.min(9)).min(PUBLISH_BACKOFF_MAX);
    (failures, Instant::now() + wait)
}
