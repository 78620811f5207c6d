//! The daemon's subscription worker: poll the inbox, keep the capability pages on every target
//! in step with the store, forget what expired. (The mailer turns outbox events into emails.)

use super::inbox;
use super::pages::{CapabilityKind, Pages, capability_path};
use crate::config::Config;
use crate::publisher::s3::S3Target;
use crate::store::Store;
use crate::subscriber::PAGES_DIR;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// Capability pages are never cached: a used or expired page is gone at once.
pub const PAGE_CACHE: &str = "no-store";

/// The tasks of a config with subscriptions on: the worker and the mail sender.
pub fn spawn(config: &Arc<Config>) -> Vec<tokio::task::JoinHandle<()>> {
    if config.subscriptions().is_none() {
        return Vec::new();
    }
    vec![
        tokio::spawn(run(config.clone())),
        tokio::spawn(super::mail::run(config.clone())),
    ]
}

/// A capability page, rendered: path and bytes.
struct Page {
    path: String,
    bytes: Arc<[u8]>,
    sha: String,
}

/// Rendered capability pages by token, with what they were rendered from (the kind, the
/// components followed, the UTC day the forms are signed for): only a page whose inputs changed
/// is rendered again.
type Rendered = HashMap<String, ((bool, Vec<String>, chrono::NaiveDate), Arc<Page>)>;

fn render_pages(
    config: &Config,
    theme: &crate::render::Theme,
    store: &Store,
    cache: &mut Rendered,
    now: DateTime<Utc>,
) -> Result<Vec<Arc<Page>>> {
    let mut out = Vec::new();
    let mut fresh = Rendered::new();
    let mut pages: Option<Pages> = None;
    for w in store.wanted_pages(now)? {
        let inputs = (w.manage, w.components.clone(), now.date_naive());
        let page = match cache.remove(&w.token) {
            Some((was, page)) if was == inputs => page,
            _ => {
                let kind = if w.manage {
                    CapabilityKind::Manage
                } else {
                    CapabilityKind::Confirm
                };
                if pages.is_none() {
                    pages =
                        Some(Pages::new(config, theme, now).map_err(|e| {
                            anyhow::anyhow!("cannot render the capability pages: {e}")
                        })?);
                }
                let renderer = pages.as_ref().expect("made above");
                let bytes: Arc<[u8]> = renderer
                    .page(config, kind, &w.token, &w.components, now)
                    .map_err(|e| anyhow::anyhow!("cannot render a capability page: {e}"))?
                    .into();
                Arc::new(Page {
                    path: capability_path(&w.token),
                    sha: crate::ids::hex(&sha2::Sha256::digest(&bytes)),
                    bytes,
                })
            }
        };
        out.push(page.clone());
        fresh.insert(w.token, (inputs, page));
    }
    *cache = fresh;
    Ok(out)
}

/// Uploads or deletes in flight at once.
const PARALLEL: usize = 16;

/// Bring one S3 target in step: upload what changed, delete what is no longer wanted (at most
/// [`PARALLEL`] requests at once; each is recorded as it succeeds).
async fn sync_bucket(store: &mut Store, target: &S3Target, pages: &[Arc<Page>]) -> Result<usize> {
    let name = format!("capability:{}", target.name);
    let have = store.capability_pages(&name)?;
    let wanted: HashSet<&str> = pages.iter().map(|p| p.path.as_str()).collect();
    let mut work: Vec<(String, Option<Arc<Page>>)> = pages
        .iter()
        .filter(|p| have.get(&p.path) != Some(&p.sha))
        .map(|p| (p.path.clone(), Some(p.clone())))
        .collect();
    work.extend(
        have.keys()
            .filter(|p| !wanted.contains(p.as_str()))
            .map(|p| (p.clone(), None)),
    );
    let changes = work.len();
    let mut running = tokio::task::JoinSet::new();
    let mut failed = None;
    let mut record = |store: &mut Store, done: (String, Option<String>, Result<()>)| {
        let (path, sha, r) = done;
        match r {
            Ok(()) => store.capability_page(&name, &path, sha.as_deref()),
            Err(e) => {
                failed.get_or_insert(e);
                Ok(())
            }
        }
    };
    for (path, page) in work {
        if running.len() >= PARALLEL
            && let Some(Ok(done)) = running.join_next().await
        {
            record(store, done)?;
        }
        let target = target.clone();
        running.spawn(async move {
            match page {
                Some(p) => {
                    let r = target
                        .put(
                            &path,
                            p.bytes.clone(),
                            "text/html; charset=utf-8",
                            PAGE_CACHE,
                        )
                        .await
                        .context("cannot upload a capability page");
                    (path, Some(p.sha.clone()), r)
                }
                None => {
                    let r = target
                        .delete(&path)
                        .await
                        .context("cannot delete a capability page");
                    (path, None, r)
                }
            }
        });
    }
    while let Some(done) = running.join_next().await {
        if let Ok(done) = done {
            record(store, done)?;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(changes),
    }
}

/// Bring the output folder in step (compared with what is on disk: a full write of the site
/// carries the folder over, and this restores anything else).
fn sync_folder(out: &Path, pages: &[Arc<Page>]) -> Result<usize> {
    let dir = out.join(PAGES_DIR);
    let mut changes = 0;
    let wanted: HashSet<&str> = pages.iter().map(|p| p.path.as_str()).collect();
    for p in pages {
        let file = out.join(&p.path);
        if std::fs::read(&file).ok().as_deref() != Some(&p.bytes[..]) {
            let parent = file.parent().expect("pages are in a folder");
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
            let tmp = parent.join(".index.html.tmp");
            std::fs::write(&tmp, &p.bytes)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            changes += 1;
        }
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !wanted.contains(format!("{PAGES_DIR}/{name}/index.html").as_str()) {
                std::fs::remove_dir_all(e.path())
                    .with_context(|| format!("cannot remove {}", e.path().display()))?;
                changes += 1;
            }
        }
    }
    Ok(changes)
}

/// Runs until aborted.
async fn run(config: Arc<Config>) {
    let Some(s) = config.subscriptions().cloned() else {
        return;
    };
    let mut store = match Store::connect(&config.database_path()) {
        Ok(st) => st,
        Err(e) => return error!("subscriptions: cannot open the store: {e:#}"),
    };
    let theme = match crate::theme::load(&config) {
        Ok(t) => t,
        Err(e) => return error!("subscriptions: {e:#}"),
    };
    let inbox = match S3Target::new(&s.inbox.target("inbox")).await {
        Ok(t) => t,
        Err(e) => return error!("subscriptions: the inbox: {e:#}"),
    };
    let targets = match crate::publisher::targets(&config).await {
        Ok(t) => t,
        Err(e) => return error!("subscriptions: {e:#}"),
    };
    let out = config.output_path();
    info!(
        inbox = s.inbox.bucket.as_str(),
        poll_s = s.poll.0.as_secs_f64(),
        smtp = %format!("{}:{}", s.smtp_host.as_str(), super::mail::smtp(&s).port()),
        "subscriptions on"
    );
    // The inbox's trouble is said once, then every few minutes while it lasts, and its end.
    let mut failing_since: Option<DateTime<Utc>> = None;
    let mut said_at: Option<DateTime<Utc>> = None;
    let mut next_poll = tokio::time::Instant::now();
    // What the pages were last made from: the store's subscriber version and the day (the
    // forms' policies are signed per day). `None`: not in step (start, or a failed sync).
    let mut synced: Option<(i64, chrono::NaiveDate)> = None;
    let mut last_tidy = None;
    let mut rendered = Rendered::new();
    let mut retry_sync_at: Option<DateTime<Utc>> = None;
    // Where the inbox's listing goes on at the next poll.
    let mut cursor: Option<String> = None;
    loop {
        let now = Utc::now();
        if !crate::fence::allowed() {
            // Not the leader (any more): the inbox and the pages are the leader's.
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        if tokio::time::Instant::now() >= next_poll {
            next_poll = tokio::time::Instant::now() + s.poll.0;
            match inbox::poll(&inbox, &mut store, &config, &mut cursor, now).await {
                Ok(r) => {
                    if r.listed > 0 {
                        info!(
                            listed = r.listed,
                            changed = r.changed,
                            malformed = r.malformed,
                            refused = r.refused,
                            limited = r.limited,
                            "inbox read"
                        );
                    }
                    let _ = store.note_poll(now, Some(r.listed));
                    if let Some(since) = failing_since.take() {
                        info!(inbox = s.inbox.bucket.as_str(), since = %since, "subscriptions: the inbox can be read again");
                    }
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert(now);
                    if said_at.is_none_or(|t| now - t >= chrono::Duration::minutes(5))
                        || since == now
                    {
                        warn!(
                            inbox = s.inbox.bucket.as_str(),
                            since = %since,
                            "subscriptions: cannot read the inbox bucket {:?} (subscriptions.inbox in the config; the daemon needs ListBucket, GetObject and DeleteObject there): {e:#}",
                            s.inbox.bucket.as_str()
                        );
                        said_at = Some(now);
                    }
                    let _ = store.note_poll(now, None);
                }
            }
            if last_tidy.is_none_or(|t: DateTime<Utc>| now - t > chrono::Duration::minutes(1)) {
                match store.subscriptions_tidy(now) {
                    Ok(0) => {}
                    Ok(n) => info!(requests = n, "unconfirmed subscriptions expired"),
                    Err(e) => warn!("subscriptions: {e:#}"),
                }
                last_tidy = Some(now);
            }
        }
        let version = store.subscribers_version().unwrap_or(-1);
        let want = (version, now.date_naive());
        if synced != Some(want) && retry_sync_at.is_none_or(|t| now >= t) {
            let (n, errors) = sync(
                &config,
                &theme,
                &mut store,
                &mut rendered,
                &targets,
                &out,
                now,
            )
            .await;
            if n > 0 {
                info!(changes = n, "capability pages updated");
            }
            if errors.is_empty() {
                synced = Some(want);
                retry_sync_at = None;
            } else {
                for e in &errors {
                    warn!("subscriptions: capability pages (tried again in 30 s): {e}");
                }
                retry_sync_at = Some(now + chrono::Duration::seconds(30));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A message with every capability token in it shortened to its first 6 characters.
pub fn hide_tokens(text: &str) -> String {
    let marker = format!("{PAGES_DIR}/");
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(&marker) {
        let after = i + marker.len();
        out.push_str(&rest[..after]);
        let hex = rest[after..]
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        if hex >= 8 {
            out.push_str(&rest[after..after + 6]);
            out.push('…');
        } else {
            out.push_str(&rest[after..after + hex]);
        }
        rest = &rest[after + hex..];
    }
    out.push_str(rest);
    out
}

/// Bring every destination in step, each on its own: one that fails (a full disk, a target
/// that is down) holds up no other. Returns the changes made and each failure (tokens hidden).
async fn sync(
    config: &Config,
    theme: &crate::render::Theme,
    store: &mut Store,
    rendered: &mut Rendered,
    targets: &[S3Target],
    out: &Path,
    now: DateTime<Utc>,
) -> (usize, Vec<String>) {
    let mut errors = Vec::new();
    // Rendering many pages (the daily re-signing) and writing the folder are CPU and disk
    // work: done off the runtime's async workers, so no monitor check waits for them.
    let rendered = tokio::task::block_in_place(|| {
        let pages = render_pages(config, theme, store, rendered, now)?;
        let changes = match sync_folder(out, &pages) {
            Ok(n) => n,
            Err(e) => {
                errors.push(format!(
                    "{}: {}",
                    out.display(),
                    hide_tokens(&format!("{e:#}"))
                ));
                0
            }
        };
        Ok::<_, anyhow::Error>((pages, changes))
    });
    let (pages, mut changes) = match rendered {
        Ok(r) => r,
        Err(e) => {
            errors.push(hide_tokens(&format!("{e:#}")));
            return (0, errors);
        }
    };
    for t in targets {
        match sync_bucket(store, t, &pages).await {
            Ok(n) => changes += n,
            Err(e) => errors.push(format!(
                "target {}: {}",
                t.name,
                hide_tokens(&format!("{e:#}"))
            )),
        }
    }
    (changes, errors)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_shortened_in_messages() {
        let t = crate::subscriber::new_token();
        let msg = format!("cannot write /srv/publish/subscribe/t/{t}/index.html: disk full");
        let shown = super::hide_tokens(&msg);
        assert!(!shown.contains(&t), "{shown}");
        assert!(
            shown.contains(&format!("subscribe/t/{}…/index.html", &t[..6])),
            "{shown}"
        );
    }
}
