//! Publishing the rendered site to S3-compatible targets: only what changed, in a safe order.
//!
//! [`plan`] is pure: from the site's manifest and what the target holds (recorded in SQLite) it
//! decides the uploads (new hashed assets first, then JSON/feeds/badges/widget, then HTML) and
//! the deletions (after every upload; hashed assets only after `asset_grace`). [`publish`]
//! carries a plan out, recording each stored object as it goes, so a failure or a restart
//! resumes with what is left.

pub mod s3;

use crate::output::{Manifest, ManifestEntry};
use crate::render::Site;
use crate::store::{RemoteObject, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use md5::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Why an object is uploaded or deleted (for `--dry-run` and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    New,
    Changed,
    /// `--verify` found it missing or different in the bucket.
    Drifted,
    NoLongerRendered,
    /// A hashed asset no page has used for longer than `asset_grace`.
    GraceOver,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::New => "new",
            Why::Changed => "changed",
            Why::Drifted => "missing or edited in the bucket",
            Why::NoLongerRendered => "no longer rendered",
            Why::GraceOver => "unused hashed asset, grace period over",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Paths to upload, in order: hashed assets, then other non-HTML files, then HTML.
    pub puts: Vec<(String, Why)>,
    /// Hashed assets that just stopped being used: kept, with the time they were orphaned.
    pub orphan: Vec<String>,
    /// Paths to delete after every upload.
    pub deletes: Vec<(String, Why)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.orphan.is_empty() && self.deletes.is_empty()
    }
}

use crate::output::rank;

/// Decide what to upload and delete so the target matches `manifest`. With `outside` (the
/// target is known to hold the manifest's history layer as it is, and these are its other
/// objects) only the live layer and `outside` are looked at.
pub fn plan(
    manifest: &Manifest,
    remote: &HashMap<String, RemoteObject>,
    outside: Option<&BTreeSet<String>>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Plan {
    let mut p = Plan::default();
    let entries: Box<dyn Iterator<Item = (&String, &ManifestEntry)>> = match outside {
        Some(_) => Box::new(manifest.files.live.iter()),
        None => Box::new(manifest.files.iter()),
    };
    for (path, entry) in entries {
        match remote.get(path) {
            None => p.puts.push((path.clone(), Why::New)),
            Some(r) if r.sha256 != entry.sha256 => p.puts.push((path.clone(), Why::Changed)),
            Some(r) if r.orphaned_at.is_some() => {
                // Used again: no longer an orphan (same bytes, so a re-put is cheap and clears it).
                p.puts.push((path.clone(), Why::Changed));
            }
            Some(_) => {}
        }
    }
    p.puts.sort_by(|a, b| {
        let ra = rank(&a.0, manifest.files[&a.0].cache_class);
        let rb = rank(&b.0, manifest.files[&b.0].cache_class);
        (ra, &a.0).cmp(&(rb, &b.0))
    });
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::days(7));
    let mut gone: Vec<(&String, &RemoteObject)> = match outside {
        Some(paths) => paths
            .iter()
            .filter(|path| !manifest.files.live.contains_key(*path))
            .filter_map(|path| remote.get_key_value(path))
            .collect(),
        None => remote
            .iter()
            .filter(|(path, _)| !manifest.files.contains_key(path))
            .collect(),
    };
    gone.sort_by(|a, b| a.0.cmp(b.0));
    for (path, r) in gone {
        let hashed = path.starts_with("assets/");
        match (hashed, r.orphaned_at) {
            (false, _) => p.deletes.push((path.clone(), Why::NoLongerRendered)),
            (true, None) => p.orphan.push(path.clone()),
            (true, Some(at)) if now - at >= grace => p.deletes.push((path.clone(), Why::GraceOver)),
            (true, Some(_)) => {}
        }
    }
    p
}

/// What a publish did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub target: String,
    pub uploaded: Vec<String>,
    pub deleted: Vec<String>,
    pub requests: usize,
}

/// Progress: (objects uploaded so far, objects to upload).
pub type Progress<'a> = &'a dyn Fn(usize, usize);

/// What a target holds as recorded in the store, kept between publishes by a long-running
/// publisher (the daemon) so that a publish does not read every row of a long history again,
/// nor compare a history layer the target already holds. Emptied after a failure.
#[derive(Default)]
pub struct RemoteCache {
    /// `None`: read it from the store.
    objects: Option<HashMap<String, RemoteObject>>,
    /// A history layer the target holds exactly (published in full), and the target's other
    /// objects.
    synced: Option<(HistoryLayer, BTreeSet<String>)>,
}

/// A manifest's history layer.
type HistoryLayer = Arc<BTreeMap<String, ManifestEntry>>;

/// Publish `site` to one target, following `plan`. Every stored object is recorded at once, so
/// a failure part-way keeps what was done; the next attempt does the rest.
/// `cache` is what the target holds, reused and kept up to date between publishes.
pub async fn publish(
    store: &Store,
    target: &s3::S3Target,
    site: &Site,
    manifest: &Manifest,
    now: DateTime<Utc>,
    progress: Option<Progress<'_>>,
    cache: &mut RemoteCache,
) -> Result<Report> {
    let mut remote = match cache.objects.take() {
        Some(r) => r,
        None => store.remote_objects(&target.name)?,
    };
    let synced = cache
        .synced
        .take()
        .filter(|(layer, _)| Arc::ptr_eq(layer, &manifest.files.history));
    let outside = synced.as_ref().map(|(_, paths)| paths);
    let p = plan(manifest, &remote, outside, now, target.asset_grace);
    let result = publish_plan(
        store,
        target,
        site,
        manifest,
        &p,
        now,
        progress,
        &mut remote,
    )
    .await;
    if let Ok(report) = &result {
        let outside = match synced {
            Some((_, mut paths)) => {
                // Only live paths were uploaded or deleted.
                paths.extend(report.uploaded.iter().cloned());
                for path in &report.deleted {
                    paths.remove(path);
                }
                paths
            }
            None => remote
                .keys()
                .filter(|path| !manifest.files.history.contains_key(*path))
                .cloned()
                .collect(),
        };
        cache.synced = Some((manifest.files.history.clone(), outside));
        cache.objects = Some(remote);
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn publish_plan(
    store: &Store,
    target: &s3::S3Target,
    site: &Site,
    manifest: &Manifest,
    p: &Plan,
    now: DateTime<Utc>,
    progress: Option<Progress<'_>>,
    remote: &mut HashMap<String, RemoteObject>,
) -> Result<Report> {
    let name = target.name.clone();
    let mut report = Report {
        target: name.clone(),
        ..Default::default()
    };
    // Upload rank by rank: a page goes up only after everything it can reference.
    let mut i = 0;
    while i < p.puts.len() {
        let r = rank(
            &p.puts[i].0,
            manifest.files[p.puts[i].0.as_str()].cache_class,
        );
        let mut j = i;
        while j < p.puts.len()
            && rank(
                &p.puts[j].0,
                manifest.files[p.puts[j].0.as_str()].cache_class,
            ) == r
        {
            j += 1;
        }
        let mut set = tokio::task::JoinSet::new();
        let limit = Arc::new(tokio::sync::Semaphore::new(target.concurrency));
        for (path, _) in &p.puts[i..j] {
            let file = &site.files[path.as_str()];
            let entry = &manifest.files[path.as_str()];
            let (t, path, bytes, ct, cc, sha) = (
                target.clone(),
                path.clone(),
                file.bytes.clone(),
                entry.content_type.clone(),
                entry.cache_control.clone(),
                entry.sha256.clone(),
            );
            let permit = limit.clone();
            set.spawn(async move {
                let _permit = permit.acquire_owned().await;
                let md5 = crate::ids::hex(&md5::Md5::digest(&bytes));
                let result = t.put(&path, bytes, &ct, &cc).await;
                (path, sha, md5, result)
            });
        }
        let mut first_error = None;
        while let Some(done) = set.join_next().await {
            let (path, sha, md5, result) = done.context("an upload task failed")?;
            report.requests += 1;
            match result {
                Ok(()) => {
                    store.put_remote(&name, &path, &sha, &md5)?;
                    remote.insert(
                        path.clone(),
                        RemoteObject {
                            sha256: sha,
                            md5,
                            orphaned_at: None,
                        },
                    );
                    report.uploaded.push(path);
                    if let Some(f) = progress {
                        f(report.uploaded.len(), p.puts.len());
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(
                        e.context(format!("cannot upload {path} to target {name:?}")),
                    );
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        i = j;
    }
    for path in &p.orphan {
        store.orphan_remote(&name, path, now)?;
        if let Some(r) = remote.get_mut(path) {
            r.orphaned_at.get_or_insert(now);
        }
    }
    for (path, _) in &p.deletes {
        report.requests += 1;
        target
            .delete(path)
            .await
            .with_context(|| format!("cannot delete {path} from target {name:?}"))?;
        store.delete_remote(&name, path)?;
        remote.remove(path);
        report.deleted.push(path.clone());
    }
    report.uploaded.sort();
    Ok(report)
}

/// `--verify`: compare what the store recorded with the bucket; forget objects that are missing
/// or different there, so the next publish uploads them again. Returns the drifted paths.
pub async fn verify(store: &Store, target: &s3::S3Target) -> Result<Vec<String>> {
    let listed = target.list().await?;
    let remote = store.remote_objects(&target.name)?;
    let mut drifted = Vec::new();
    for (path, r) in &remote {
        let ok = listed
            .get(path)
            .is_some_and(|etag| etag.trim_matches('"') == r.md5);
        if !ok {
            store.delete_remote(&target.name, path)?;
            drifted.push(path.clone());
        }
    }
    drifted.sort();
    Ok(drifted)
}

/// Build the S3 clients for the config's enabled targets.
pub async fn targets(config: &crate::config::Config) -> Result<Vec<s3::S3Target>> {
    let mut out = Vec::new();
    for t in config.publish.targets.iter().filter(|t| t.enabled) {
        out.push(s3::S3Target::new(t).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::CacheClassName;

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        Manifest {
            files: crate::layered::Layered {
                live: files
                    .iter()
                    .map(|(p, h)| {
                        let class = if p.starts_with("assets/") {
                            CacheClassName::Immutable
                        } else {
                            CacheClassName::Short
                        };
                        (
                            p.to_string(),
                            ManifestEntry {
                                sha256: h.to_string(),
                                size: 1,
                                content_type: "x".into(),
                                cache_class: class,
                                cache_control: "y".into(),
                            },
                        )
                    })
                    .collect(),
                history: Default::default(),
            },
        }
    }

    fn remote(files: &[(&str, &str, Option<i64>)]) -> HashMap<String, RemoteObject> {
        files
            .iter()
            .map(|(p, h, o)| {
                (
                    p.to_string(),
                    RemoteObject {
                        sha256: h.to_string(),
                        md5: String::new(),
                        orphaned_at: o.map(|s| DateTime::from_timestamp(s, 0).unwrap()),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn uploads_assets_then_data_then_pages_and_deletes_last() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let m = manifest(&[
            ("index.html", "h2"),
            ("assets/style.b.css", "b"),
            ("api/v2/summary.json", "s2"),
            ("badge.svg", "x"),
        ]);
        let r = remote(&[
            ("index.html", "h1", None),
            ("assets/style.a.css", "a", None),
            ("api/v2/summary.json", "s1", None),
            ("badge.svg", "x", None),
            ("incidents/gone/index.html", "g", None),
            ("assets/logo.old.svg", "o", Some(1_000_000 - 8 * 86_400)),
            ("assets/logo.recent.svg", "o", Some(1_000_000 - 86_400)),
        ]);
        let p = plan(&m, &r, None, now, Duration::from_secs(7 * 86_400));
        let puts: Vec<&str> = p.puts.iter().map(|(x, _)| x.as_str()).collect();
        assert_eq!(
            puts,
            ["assets/style.b.css", "api/v2/summary.json", "index.html"],
            "unchanged badge.svg is not uploaded"
        );
        assert_eq!(
            p.orphan,
            ["assets/style.a.css"],
            "a newly unused asset is kept for the grace period"
        );
        let deletes: Vec<(&str, Why)> = p.deletes.iter().map(|(x, w)| (x.as_str(), *w)).collect();
        assert_eq!(
            deletes,
            [
                ("assets/logo.old.svg", Why::GraceOver),
                ("incidents/gone/index.html", Why::NoLongerRendered)
            ]
        );
        assert!(
            plan(
                &m,
                &remote(&[
                    ("index.html", "h2", None),
                    ("assets/style.b.css", "b", None),
                    ("api/v2/summary.json", "s2", None),
                    ("badge.svg", "x", None)
                ]),
                None,
                now,
                Duration::ZERO
            )
            .is_empty()
        );
    }

    #[test]
    fn a_synced_history_layer_plans_like_the_full_comparison() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let mut m = manifest(&[
            ("index.html", "h2"),
            ("assets/style.b.css", "b"),
            ("badge.svg", "x"),
        ]);
        m.files.history = Arc::new(
            manifest(&[("incidents/a/index.html", "a"), ("history/index.html", "l")])
                .files
                .live,
        );
        let r = remote(&[
            ("index.html", "h1", None),
            ("assets/style.a.css", "a", None),
            ("badge.svg", "x", None),
            ("gone.json", "g", None),
            ("incidents/a/index.html", "a", None),
            ("history/index.html", "l", None),
        ]);
        let outside: BTreeSet<String> =
            ["index.html", "assets/style.a.css", "badge.svg", "gone.json"]
                .map(String::from)
                .into();
        let grace = Duration::from_secs(60);
        let full = plan(&m, &r, None, now, grace);
        assert_eq!(plan(&m, &r, Some(&outside), now, grace), full);
        assert_eq!(
            full.puts,
            [
                ("assets/style.b.css".to_string(), Why::New),
                ("index.html".to_string(), Why::Changed)
            ]
        );
        assert_eq!(full.orphan, ["assets/style.a.css"]);
        assert_eq!(
            full.deletes,
            [("gone.json".to_string(), Why::NoLongerRendered)]
        );
    }
}
