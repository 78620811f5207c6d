//! The state mirror in the cluster store: the leader pushes the parts of its state (the store's
//! tables, `store::mirror`, and the content files) so that a standby that takes over
//! publishes the same site and re-sends nothing.
//!
//! - `state/parts/<sha256 hex>`: one part's bytes, content-addressed and never rewritten.
//! - `state/index.json`: a signed object (kind "state") naming each part's hash and size,
//!   written with `If-Match` the ETag its writer last wrote or read. A write that finds
//!   another ETag means another instance leads: the writer is deposed. A part's integrity is
//!   its hash matching the signed index.
//! - A push deletes only parts that neither the new index nor the one before it name: a
//!   successor still reading the previous index finds all of its parts.

use super::remote::Remote;
use crate::store::{Part, gunzip, gzip};
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub const INDEX: &str = "state/index.json";
pub const PARTS: &str = "state/parts/";
const KIND: &str = "state";
/// Parts uploaded or fetched at once.
const PARALLEL: usize = 16;
/// The prefix of content file parts.
pub const CONTENT: &str = "content/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Who wrote it (`region/instance`).
    pub holder: String,
    /// The writer's lease term.
    pub term: u64,
    /// Bumped by each push.
    pub seq: u64,
    /// Every part, by name.
    pub parts: BTreeMap<String, PartRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRef {
    pub sha256: String,
    pub bytes: u64,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// A new index was written, after uploading `uploaded` parts of `bytes` in all.
    Written { uploaded: usize, bytes: u64 },
    /// The parts equal the last index written: no request was made.
    Unchanged,
    /// Someone else wrote the index (a new leader): stop leading.
    Deposed,
}

/// The mirror as read from the cluster store: the index, its ETag and every part, checked.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub index: Index,
    pub etag: String,
    pub parts: Vec<Part>,
}

fn sha256(bytes: &[u8]) -> String {
    crate::ids::hex(&Sha256::digest(bytes))
}

fn part_path(sha: &str) -> String {
    format!("{PARTS}{sha}")
}

/// The leader's side: pushes the state and remembers what the store holds.
pub struct Mirror {
    remote: Arc<Remote>,
    holder: String,
    term: u64,
    /// The index in the store as far as we know (written or read by us), with its ETag.
    last: Option<(Index, String)>,
    /// The index before `last`: a successor may still be reading it.
    before: Option<Index>,
    /// Hashes of parts the store holds (uploaded, or named by an index read).
    known: HashSet<String>,
    /// Parts to delete that a delete failed for: tried again at the next push.
    doomed: BTreeSet<String>,
    /// An index write whose answer was lost: it may have been written.
    unsure: Option<Index>,
    /// Another instance wrote the index: this mirror pushes nothing any more.
    deposed: bool,
}

impl Mirror {
    pub fn new(remote: Arc<Remote>, holder: &str, term: u64) -> Mirror {
        Mirror {
            remote,
            holder: holder.to_string(),
            term,
            last: None,
            before: None,
            known: HashSet::new(),
            doomed: BTreeSet::new(),
            unsure: None,
            deposed: false,
        }
    }

    /// Continue from the index a new leader read: its first push replaces that index (by its
    /// ETag, with this mirror's term, even when nothing changed) and uploads none of the
    /// parts it names.
    pub fn adopt(&mut self, fetched: &Fetched) {
        self.known
            .extend(fetched.index.parts.values().map(|p| p.sha256.clone()));
        self.last = Some((fetched.index.clone(), fetched.etag.clone()));
        self.before = None;
        self.unsure = None;
    }

    /// Upload the parts the store lacks, then write the index naming `parts`, then delete the
    /// parts no longer named (see the module docs).
    pub async fn push(&mut self, parts: &[Part]) -> Result<Pushed> {
        if self.deposed {
            return Ok(Pushed::Deposed);
        }
        let mut refs = BTreeMap::new();
        for p in parts {
            let r = PartRef {
                sha256: sha256(&p.bytes),
                bytes: p.bytes.len() as u64,
            };
            if refs.insert(p.name.clone(), r).is_some() {
                bail!("the state mirror was given part {} twice", p.name);
            }
        }
        if let Some((last, _)) = &self.last
            && last.parts == refs
            && last.holder == self.holder
            && last.term == self.term
            && self.unsure.is_none()
        {
            return Ok(Pushed::Unchanged);
        }
        if let Some(tried) = self.unsure.take() {
            self.settle(tried).await?;
        }

        let mut uploads: Vec<(String, Vec<u8>)> = Vec::new();
        let mut seen = HashSet::new();
        for p in parts {
            let sha = &refs[&p.name].sha256;
            if !self.known.contains(sha) && seen.insert(sha.clone()) {
                uploads.push((sha.clone(), p.bytes.clone()));
            }
        }
        let uploaded = uploads.len();
        let bytes: u64 = uploads.iter().map(|(_, b)| b.len() as u64).sum();
        let shas: Vec<String> = uploads.iter().map(|(s, _)| s.clone()).collect();
        let remote = self.remote.clone();
        parallel(uploads, move |(sha, bytes)| {
            let remote = remote.clone();
            async move {
                remote
                    .put_raw(&part_path(&sha), bytes)
                    .await
                    .with_context(|| format!("cannot upload state part {sha}"))
            }
        })
        .await?;
        self.known.extend(shas);

        let index = Index {
            holder: self.holder.clone(),
            term: self.term,
            seq: self.last.as_ref().map_or(0, |(i, _)| i.seq) + 1,
            parts: refs,
        };
        let written = match &self.last {
            Some((_, etag)) => self.remote.replace(INDEX, KIND, &index, etag).await,
            None => self.remote.create(INDEX, KIND, &index).await,
        };
        let etag = match written {
            Ok(Some(etag)) => etag,
            Ok(None) => {
                tracing::warn!(
                    term = self.term,
                    "the state index was written by another instance: no longer leading"
                );
                self.deposed = true;
                return Ok(Pushed::Deposed);
            }
            Err(e) => {
                // It may have been written: the next push finds out before it writes.
                self.unsure = Some(index);
                return Err(e.context("cannot write the state index"));
            }
        };
        self.written(index, etag).await;
        Ok(Pushed::Written { uploaded, bytes })
    }

    /// `index` is in the store as `etag`: forget the index before the previous one and delete
    /// the parts only it named.
    async fn written(&mut self, index: Index, etag: String) {
        let before = self.before.take();
        let previous = self.last.take().map(|(i, _)| i);
        let keep: HashSet<&String> = index
            .parts
            .values()
            .chain(previous.iter().flat_map(|i| i.parts.values()))
            .map(|p| &p.sha256)
            .collect();
        for p in before.iter().flat_map(|i| i.parts.values()) {
            self.doomed.insert(p.sha256.clone());
        }
        self.doomed.retain(|sha| !keep.contains(sha));
        let doomed: Vec<String> = std::mem::take(&mut self.doomed).into_iter().collect();
        let remote = self.remote.clone();
        let results = parallel_all(doomed, move |sha| {
            let remote = remote.clone();
            async move {
                let r = remote.delete(&part_path(&sha)).await;
                (sha, r)
            }
        })
        .await;
        for (sha, r) in results {
            self.known.remove(&sha);
            if let Err(e) = r {
                tracing::warn!("cannot delete old state part {sha} (tried again later): {e:#}");
                self.known.insert(sha.clone());
                self.doomed.insert(sha);
            }
        }
        self.before = previous;
        self.last = Some((index, etag));
    }

    /// Delete the parts under `state/parts/` that neither the last index nor the one before
    /// it name: what an earlier leader's older indexes, or pushes cut short, left behind (a
    /// mirror knows only the indexes it wrote or read). Only while leading, after a push:
    /// a part is uploaded before the index that names it is written. Returns how many went.
    pub async fn sweep(&mut self) -> Result<usize> {
        if self.deposed || self.last.is_none() {
            return Ok(0);
        }
        let keep: HashSet<&String> = self
            .last
            .iter()
            .map(|(i, _)| i)
            .chain(self.before.iter())
            .flat_map(|i| i.parts.values())
            .map(|p| &p.sha256)
            .collect();
        let stray: Vec<String> = self
            .remote
            .list(PARTS)
            .await?
            .into_iter()
            .filter_map(|p| p.strip_prefix(PARTS).map(str::to_string))
            .filter(|sha| !keep.contains(sha))
            .collect();
        let n = stray.len();
        let remote = self.remote.clone();
        let done = parallel_all(stray, move |sha| {
            let remote = remote.clone();
            async move { (remote.delete(&part_path(&sha)).await, sha) }
        })
        .await;
        for (r, sha) in done {
            r.with_context(|| format!("cannot delete stray state part {sha}"))?;
            self.known.remove(&sha);
        }
        Ok(n)
    }

    /// After a lost answer to writing `tried`: if the store's index is that write, it counts
    /// as written; otherwise everything stays as it was (and the next write finds out whether
    /// someone else wrote).
    async fn settle(&mut self, tried: Index) -> Result<()> {
        let Some(read) = self.remote.read::<Index>(INDEX, KIND).await? else {
            return Ok(());
        };
        if read.body.as_ref().is_ok_and(|i| *i == tried) {
            self.written(tried, read.etag).await;
        }
        Ok(())
    }
}

/// Run `f` over `items`, at most [`PARALLEL`] at once; the first error.
async fn parallel<T, F, Fut>(items: Vec<T>, f: F) -> Result<()>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    for r in parallel_all(items, f).await {
        r?;
    }
    Ok(())
}

/// Run `f` over `items`, at most [`PARALLEL`] at once; every result, in the items' order.
async fn parallel_all<T, R, F, Fut>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut out: Vec<Option<R>> = Vec::with_capacity(items.len());
    out.resize_with(items.len(), || None);
    let mut collect = |done: Option<Result<(usize, R), tokio::task::JoinError>>| {
        if let Some(done) = done {
            let (i, r) = done.expect("a mirror task panicked");
            out[i] = Some(r);
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        if running.len() >= PARALLEL {
            collect(running.join_next().await);
        }
        let fut = f(item);
        running.spawn(async move { (i, fut.await) });
    }
    while let Some(done) = running.join_next().await {
        collect(Some(done));
    }
    out.into_iter()
        .map(|r| r.expect("every task ran"))
        .collect()
}

/// The mirror in the cluster store, if one was written: the signed index and every part it
/// names, each checked against its hash. A refused index (a planted or altered state, or
/// another secret) or a part that does not match is an error naming it: a standby never
/// restores a state it cannot trust.
pub async fn fetch(remote: &Arc<Remote>) -> Result<Option<Fetched>> {
    let Some(read) = remote.read::<Index>(INDEX, KIND).await? else {
        return Ok(None);
    };
    let index = read
        .body
        .map_err(|why| anyhow!("the cluster store's state index {INDEX} is refused: {why}"))?;
    let wanted: Vec<(String, PartRef)> = index
        .parts
        .iter()
        .map(|(n, r)| (n.clone(), r.clone()))
        .collect();
    let r = remote.clone();
    let got = parallel_all(wanted, move |(name, want)| {
        let remote = r.clone();
        async move {
            let path = part_path(&want.sha256);
            let bytes = match remote.get_raw(&path).await {
                Ok(Some((bytes, _))) => bytes,
                Ok(None) => bail!("state part {name} ({path}) is missing from the cluster store"),
                Err(e) => return Err(e.context(format!("cannot read state part {name}"))),
            };
            if sha256(&bytes) != want.sha256 || bytes.len() as u64 != want.bytes {
                bail!(
                    "state part {name} ({path}) does not match the signed index (altered or damaged); not restoring"
                );
            }
            Ok(Part { name, bytes })
        }
    })
    .await;
    let parts = got.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(Some(Fetched {
        index,
        etag: read.etag,
        parts,
    }))
}

/// Whether a file (or folder) name is one the mirror skips: hidden (temp files of the content
/// writer and editors, `.pharos.lock`) or an editor's backup.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.ends_with('~') || (name.starts_with('#') && name.ends_with('#'))
}

/// Every file under the content folder, one part per file named `content/<relative path>`
/// (with `/`), the file's bytes gzipped, in name order. Hidden files and folders (temp files)
/// and editor backups are skipped, as the content scan skips them. No folder, no parts.
pub fn content_parts(dir: &Path) -> Result<Vec<Part>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        let entries = std::fs::read_dir(&here)
            .with_context(|| format!("cannot read folder {}", here.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("cannot read folder {}", here.display()))?;
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                tracing::warn!(
                    "not mirrored: {} (its name is not UTF-8)",
                    e.path().display()
                );
                continue;
            };
            if skipped(&name) {
                continue;
            }
            let path = e.path();
            // A link to a folder is not followed (no loops); a link to a file is read.
            let ty = e.file_type()?;
            if ty.is_dir() {
                stack.push(rel.join(&name));
                continue;
            }
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let rel_name = rel.join(&name);
            let rel_name: Vec<&str> = rel_name
                .components()
                .filter_map(|c| c.as_os_str().to_str())
                .collect();
            out.push(Part {
                name: format!("{CONTENT}{}", rel_name.join("/")),
                bytes: gzip(&bytes),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What [`restore_content`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Files written from the mirror (missing here, or automatic incidents).
    pub written: Vec<PathBuf>,
    /// Files that differ from the mirror and were kept as they are here (the caller logs them).
    pub kept_local: Vec<PathBuf>,
}

/// The relative path of a content part, if it stays inside the content folder.
fn content_path(name: &str) -> Result<PathBuf> {
    let refuse = || {
        anyhow!(
            "state part {name:?} is not a content file inside the content folder; nothing was restored"
        )
    };
    let rel = name.strip_prefix(CONTENT).ok_or_else(refuse)?;
    if rel.is_empty() || rel.contains('\\') || rel.contains('\0') {
        return Err(refuse());
    }
    let path = Path::new(rel);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) if !n.to_str().is_some_and(skipped) => out.push(n),
            _ => return Err(refuse()),
        }
    }
    if out.as_os_str().is_empty() || rel.split('/').any(str::is_empty) {
        return Err(refuse());
    }
    Ok(out)
}

/// Whether `text` is an automatic incident file (front matter `automatic: true`, as the
/// monitors write them).
fn automatic(text: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return false;
    };
    let mut yaml = String::new();
    for line in rest.lines() {
        if line.trim_end() == "---" {
            return serde_yaml::from_str::<serde_yaml::Value>(&yaml)
                .ok()
                .and_then(|v| v.get("automatic").and_then(serde_yaml::Value::as_bool))
                .unwrap_or(false);
        }
        yaml.push_str(line);
        yaml.push('\n');
    }
    false
}

/// Write `bytes` to `path` atomically (a hidden temp file in its folder, renamed).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("a file inside the content folder");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.mirror.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow!(e).context(format!("cannot write {}", path.display()))
    })
}

/// Bring the content folder to the mirror's files: a file missing here is written; a file that
/// differs is replaced when it is an automatic incident (here or in the mirror: the monitors'
/// files follow the leader, whose restored state names them) and otherwise kept as it is
/// here and listed in `kept_local`. Files only here are left alone. Every part is checked
/// first: one whose path leaves the folder (`..`, absolute) is refused and nothing is written.
pub fn restore_content(dir: &Path, parts: &[Part]) -> Result<Restored> {
    let mut files = Vec::new();
    for p in parts {
        let rel = content_path(&p.name)?;
        let bytes =
            gunzip(&p.bytes).with_context(|| format!("state part {} does not unpack", p.name))?;
        files.push((dir.join(rel), bytes));
    }
    let mut out = Restored::default();
    for (path, bytes) in files {
        match std::fs::read(&path) {
            Ok(local) if local == bytes => {}
            Ok(local) => {
                let incident = path
                    .strip_prefix(dir)
                    .is_ok_and(|r| r.starts_with(crate::content::INCIDENTS_DIR));
                if incident && (automatic(&bytes) || automatic(&local)) {
                    write_atomic(&path, &bytes)?;
                    out.written.push(path);
                } else {
                    out.kept_local.push(path);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomic(&path, &bytes)?;
                out.written.push(path);
            }
            Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", path.display()))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTO_OLD: &str = "---\ntitle: API down\nautomatic: true\ncomponents:\n  api: major_outage\n---\n## 2026-11-30 10:00 · investigating\nDown.\n";
    const AUTO_NEW: &str = "---\ntitle: API down\nautomatic: true\ncomponents:\n  api: major_outage\n---\n## 2026-11-30 10:20 · resolved\nUp.\n\n## 2026-11-30 10:00 · investigating\nDown.\n";

    fn part(name: &str, text: &str) -> Part {
        Part {
            name: name.into(),
            bytes: gzip(text.as_bytes()),
        }
    }

    #[test]
    fn content_is_restored_missing_and_automatic_files_from_the_mirror_others_kept() {
        let leader = tempfile::tempdir().unwrap();
        let l = leader.path();
        std::fs::create_dir_all(l.join("incidents")).unwrap();
        std::fs::create_dir_all(l.join("maintenance")).unwrap();
        std::fs::write(l.join("incidents/2026-11-30-api.md"), AUTO_NEW).unwrap();
        std::fs::write(l.join("incidents/written.md"), "by the admin, there").unwrap();
        std::fs::write(l.join("maintenance/db.md"), "new window").unwrap();
        std::fs::write(l.join("incidents/.written.md.77.tmp"), "half").unwrap();
        std::fs::write(l.join("incidents/notes.md~"), "backup").unwrap();
        let parts = content_parts(l).unwrap();
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "content/incidents/2026-11-30-api.md",
                "content/incidents/written.md",
                "content/maintenance/db.md"
            ]
        );
        assert_eq!(content_parts(l).unwrap(), parts, "deterministic");

        let standby = tempfile::tempdir().unwrap();
        let s = standby.path();
        std::fs::create_dir_all(s.join("incidents")).unwrap();
        std::fs::write(s.join("incidents/2026-11-30-api.md"), AUTO_OLD).unwrap();
        std::fs::write(s.join("incidents/written.md"), "by the admin, here").unwrap();
        std::fs::write(s.join("incidents/only-here.md"), "mine").unwrap();
        let done = restore_content(s, &parts).unwrap();
        assert_eq!(
            done,
            Restored {
                written: vec![
                    s.join("incidents/2026-11-30-api.md"),
                    s.join("maintenance/db.md")
                ],
                kept_local: vec![s.join("incidents/written.md")],
            }
        );
        let read = |p: &str| std::fs::read_to_string(s.join(p)).unwrap();
        assert_eq!(read("incidents/2026-11-30-api.md"), AUTO_NEW);
        assert_eq!(read("maintenance/db.md"), "new window");
        assert_eq!(read("incidents/written.md"), "by the admin, here");
        assert_eq!(read("incidents/only-here.md"), "mine");
        let left: Vec<_> = std::fs::read_dir(s.join("maintenance"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temp file left: {left:?}");
        // Again: nothing to do.
        let again = restore_content(s, &parts).unwrap();
        assert!(again.written.is_empty());
        assert_eq!(again.kept_local, [s.join("incidents/written.md")]);
    }

    #[test]
    fn a_part_outside_the_content_folder_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let content = dir.path().join("content");
        for bad in [
            "content/../x",
            "content/incidents/../../x",
            "content//etc/passwd",
            "content/",
            "table/x",
            "content/incidents/.hidden.md",
        ] {
            let parts = [part("content/incidents/ok.md", "ok"), part(bad, "evil")];
            let err = restore_content(&content, &parts).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
            assert!(!content.exists(), "{bad}: nothing written");
            assert!(!dir.path().join("x").exists());
        }
        assert!(content_path("content/incidents/a.md").is_ok());
    }

    #[test]
    fn automatic_means_the_front_matter_says_so() {
        assert!(automatic(AUTO_OLD.as_bytes()));
        assert!(!automatic(b"---\ntitle: T\n---\nautomatic: true\n"));
        assert!(!automatic(b"---\ntitle: T\nautomatic: false\n---\n"));
        assert!(!automatic(b"no front matter"));
    }
}
