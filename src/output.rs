//! Writing the rendered site to the output folder (`publish/`), all or nothing.
//!
//! The site is written to a staging folder next to the output folder, then swapped in with one
//! `renameat2(RENAME_EXCHANGE)` (two renames where that is unavailable). A failure at any point
//! before the swap leaves the previous site untouched. The folder carries a manifest of every file
//! (hash, size, content type, cache class) that publishers use to upload only what changed.

use crate::config::CacheControl;
use crate::layered::Layered;
use crate::render::{CacheClass, OutputFile, Site};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub const MANIFEST_FILE: &str = ".pharos-manifest.json";
/// The manifest of the history layer (see [`crate::layered`]): written only when it changed.
pub const HISTORY_MANIFEST_FILE: &str = ".pharos-manifest-history.json";
/// Files in the output folder that are not ours but are kept (the folder is tracked in git).
const KEEP: &[&str] = &[".gitkeep"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub sha256: String,
    pub size: u64,
    /// Static for a rendered site; owned only when read back from a file.
    pub content_type: std::borrow::Cow<'static, str>,
    pub cache_class: CacheClassName,
    /// Shared by every entry of its class.
    pub cache_control: std::sync::Arc<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheClassName {
    Immutable,
    Short,
}

/// Every file of a site with its hash and headers, in the site's layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: Layered<ManifestEntry>,
}

/// One manifest file as stored in the output folder.
#[derive(Serialize, Deserialize)]
struct ManifestFile<'a> {
    version: u32,
    files: std::borrow::Cow<'a, BTreeMap<String, ManifestEntry>>,
}

/// The history layer of the last manifest made, with the site layer and the headers it was made
/// from: while those are the same, the next manifest shares it (and so do the diffs of the
/// writer and the publishers).
pub type ManifestMemo = Option<(
    Arc<BTreeMap<String, OutputFile>>,
    CacheControl,
    Arc<BTreeMap<String, ManifestEntry>>,
)>;

impl Manifest {
    /// The manifest of `site`, taking the SHA-256 of files whose hash is already `known` (pages
    /// the render cache reused) instead of hashing them again, and the history layer from `memo`
    /// when the site's is the one it was made for (`&|_| None` and `&mut None`: from scratch).
    pub fn of(
        site: &Site,
        cache: &CacheControl,
        known: &dyn Fn(&str) -> Option<String>,
        memo: &mut ManifestMemo,
    ) -> Manifest {
        let immutable: Arc<str> = cache.immutable.to_string().into();
        let short: Arc<str> = cache.short.to_string().into();
        let entry = |path: &String, f: &OutputFile| {
            let (class, header) = match f.cache {
                CacheClass::Immutable => (CacheClassName::Immutable, immutable.clone()),
                CacheClass::Short => (CacheClassName::Short, short.clone()),
            };
            ManifestEntry {
                sha256: known(path).unwrap_or_else(|| crate::ids::hex(&Sha256::digest(&f.bytes))),
                size: f.bytes.len() as u64,
                content_type: f.content_type.into(),
                cache_class: class,
                cache_control: header,
            }
        };
        let files = site.files.map_layers(entry, |history| match memo {
            Some((site_layer, c, layer)) if Arc::ptr_eq(site_layer, history) && *c == *cache => {
                layer.clone()
            }
            _ => {
                let layer: Arc<BTreeMap<String, ManifestEntry>> = Arc::new(
                    history
                        .iter()
                        .map(|(path, f)| (path.clone(), entry(path, f)))
                        .collect(),
                );
                *memo = Some((history.clone(), cache.clone(), layer.clone()));
                layer
            }
        });
        Manifest { files }
    }

    /// The manifest of an output folder, if it has one.
    pub fn read(dir: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
        let live: ManifestFile = serde_json::from_str(&text).ok()?;
        // A folder written before the layers has everything in the one file.
        let history = match std::fs::read_to_string(dir.join(HISTORY_MANIFEST_FILE)) {
            Ok(text) => serde_json::from_str::<ManifestFile>(&text).ok()?.files,
            Err(_) => Default::default(),
        };
        Some(Manifest {
            files: Layered {
                live: live.files.into_owned(),
                history: Arc::new(history.into_owned()),
            },
        })
    }

    /// Write the manifest files into `dir`, each atomically: the history layer first and only
    /// when it is not the one `previous` (what `dir` holds) already has.
    fn write(&self, dir: &Path, previous: Option<&Manifest>) -> Result<()> {
        let put = |name: &str, files: &BTreeMap<String, ManifestEntry>| -> Result<()> {
            let file = ManifestFile {
                version: 2,
                files: std::borrow::Cow::Borrowed(files),
            };
            let text = serde_json::to_string(&file).context("cannot serialize the manifest")?;
            let tmp = dir.join(format!("{name}.tmp"));
            if let Err(e) = std::fs::write(&tmp, text + "\n") {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
            }
            std::fs::rename(&tmp, dir.join(name)).context("cannot replace the manifest")
        };
        if !previous.is_some_and(|p| p.files.same_history(&self.files)) {
            put(HISTORY_MANIFEST_FILE, &self.files.history)?;
        }
        put(MANIFEST_FILE, &self.files.live)
    }
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    pub files: usize,
    pub bytes: u64,
    /// Files whose bytes differ from the previous site (new or changed).
    pub changed: Vec<String>,
    /// Files of the previous site that are gone.
    pub removed: Vec<String>,
    /// The manifest written (publishers reuse it instead of hashing everything again).
    pub manifest: std::sync::Arc<Manifest>,
}

/// Reject anything that is not a plain relative path made of normal segments.
pub fn check_relative(path: &str) -> Result<()> {
    let ok = !path.contains('\0')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        bail!(
            "refusing to write {path:?}: output paths must be relative, without '..' or empty segments"
        );
    }
    Ok(())
}

fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("publish");
    out.with_file_name(format!(".{name}.{suffix}"))
}

/// A folder we may replace: missing, empty but for files we keep, or one we wrote before (its
/// manifest reads as ours and lists files that are there: a stray or hand-made manifest, even
/// `{}`, does not make a folder of other files ours).
fn check_replaceable(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("output {} exists and is not a folder", out.display());
    }
    let manifest = Manifest::read(out);
    if manifest.as_ref().is_some_and(|m| {
        m.files
            .live
            .keys()
            .chain(m.files.history.keys())
            .any(|p| out.join(p).is_file())
    }) {
        return Ok(());
    }
    let mut foreign: Vec<String> = std::fs::read_dir(out)
        .with_context(|| format!("cannot read output folder {}", out.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| ![MANIFEST_FILE, HISTORY_MANIFEST_FILE].contains(&n.as_str()))
        .filter(|n| !KEEP.contains(&n.as_str()))
        .collect();
    if !foreign.is_empty() {
        foreign.sort();
        let why = match manifest {
            None => format!("no valid {MANIFEST_FILE}"),
            Some(_) => format!("{MANIFEST_FILE} lists none of them"),
        };
        let more = match foreign.len() {
            n if n > 5 => format!(" and {} more", n - 5),
            _ => String::new(),
        };
        foreign.truncate(5);
        bail!(
            "refusing to replace {}: it is not empty and was not written by Pharos ({}{more}; {why}); choose an empty or new folder with --out",
            out.display(),
            foreign.join(", ")
        );
    }
    Ok(())
}

/// Write `site` (whose manifest is `manifest`) as the new content of `out`, atomically.
pub fn write_site(site: &Site, out: &Path, manifest: Arc<Manifest>) -> Result<WriteReport> {
    check_replaceable(out)?;
    for path in site.files.keys() {
        check_relative(path)?;
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let staging = sibling(out, "staging");
    let old = sibling(out, "old");
    for leftover in [&staging, &old] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover)
                .with_context(|| format!("cannot remove leftover {}", leftover.display()))?;
        }
    }

    let result = (|| -> Result<WriteReport> {
        let previous = Manifest::read(out).unwrap_or_default();
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        let mut report = WriteReport::default();
        // One thread: writing files in parallel measured slower here (the folder's lock).
        for (path, file) in site.files.iter() {
            let target = staging.join(path);
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&target, &file.bytes)
                .with_context(|| format!("cannot write {}", target.display()))?;
            report.files += 1;
            report.bytes += file.bytes.len() as u64;
            if previous.files.get(path).map(|e| &e.sha256)
                != manifest.files.get(path).map(|e| &e.sha256)
            {
                report.changed.push(path.clone());
            }
        }
        report.changed.sort();
        report.removed = manifest
            .files
            .removed_from(&previous.files)
            .into_iter()
            .cloned()
            .collect();
        report.removed.sort();
        manifest.write(&staging, None)?;
        report.manifest = manifest;
        for keep in KEEP {
            if out.join(keep).is_file() {
                std::fs::copy(out.join(keep), staging.join(keep))
                    .with_context(|| format!("cannot keep {keep}"))?;
            }
        }
        // Capability pages are not part of the site (no manifest lists them): carried over.
        let pages = out.join(crate::subscriber::PAGES_DIR);
        if pages.is_dir() {
            let to = staging.join(crate::subscriber::PAGES_DIR);
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::rename(&pages, &to)
                .with_context(|| format!("cannot keep {}", pages.display()))?;
        }
        swap(&staging, out, &old)?;
        Ok(report)
    })();
    // Whatever happened, leave no staging or old folder behind.
    for leftover in [&staging, &old] {
        if leftover.exists() {
            let _ = std::fs::remove_dir_all(leftover);
        }
    }
    result
}

/// Upload and write order shared by the folder and the publishers: content-hashed assets
/// first, then other non-HTML files, then HTML, so a page never references what is not there.
pub fn rank(path: &str, class: CacheClassName) -> u8 {
    match (class, path.ends_with(".html")) {
        (CacheClassName::Immutable, _) => 0,
        (_, false) => 1,
        (_, true) => 2,
    }
}

/// When and how big the manifest files of `out` were written: if that is unchanged, the folder
/// is as the last write left it.
pub type ManifestStamp = [Option<(std::time::SystemTime, u64)>; 2];

pub fn manifest_stamp(out: &Path) -> Option<ManifestStamp> {
    let stamp = |name: &str| {
        let meta = std::fs::metadata(out.join(name)).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    Some([Some(stamp(MANIFEST_FILE)?), stamp(HISTORY_MANIFEST_FILE)])
}

/// Bring `out` (a folder this writer wrote before) to `site` by replacing only the files whose
/// bytes changed (each atomically, in [`rank`] order), then deleting files no longer rendered,
/// then the manifest. This is what the daemon does after its first write: a change to one
/// component touches a handful of files, not the whole history. Any other folder gets
/// [`write_site`]'s full swap.
/// `previous`, if given: the manifest of the folder as this process last wrote it, with its
/// [`manifest_stamp`] (used instead of reading it back while the file is unchanged: another
/// `pharos build` on the folder is noticed).
pub fn write_changes(
    site: &Site,
    out: &Path,
    manifest: Arc<Manifest>,
    previous: Option<(&Manifest, ManifestStamp)>,
) -> Result<WriteReport> {
    let read;
    // With the manifest read back from the folder, a file deleted by hand is noticed (a stat
    // per file); the daemon's own record of its last write skips that.
    let (previous, stat) = match previous {
        Some((p, stamp)) if manifest_stamp(out) == Some(stamp) => (p, false),
        _ => match Manifest::read(out) {
            Some(p) => {
                read = p;
                (&read, true)
            }
            None => return write_site(site, out, manifest),
        },
    };
    let mut changed: Vec<&String> = if stat {
        // Every file, as a shared history layer does not prove a file is still there.
        manifest
            .files
            .iter()
            .filter(|(path, e)| {
                previous.files.get(path).map(|p| &p.sha256) != Some(&e.sha256)
                    || !out.join(path).is_file()
            })
            .map(|(path, _)| path)
            .collect()
    } else {
        manifest
            .files
            .changed_from(&previous.files, |a, b| a.sha256 == b.sha256)
            .into_iter()
            .map(|(path, _)| path)
            .collect()
    };
    for path in &changed {
        check_relative(path)?;
    }
    changed.sort_by_key(|p| {
        (
            rank(
                p,
                manifest
                    .files
                    .get(p)
                    .map_or(CacheClassName::Short, |e| e.cache_class),
            ),
            (*p).clone(),
        )
    });
    let mut report = WriteReport {
        files: site.files.len(),
        bytes: site_bytes(site),
        ..Default::default()
    };
    // Every changed file is written beside its target first; only when all of them are on disk
    // are they renamed into place. A full disk or a read-only folder fails before the folder
    // changes (and the files written so far are removed), so the site is never half new.
    let mut staged: Vec<(PathBuf, PathBuf, &String)> = Vec::with_capacity(changed.len());
    let written = (|| -> Result<()> {
        for path in changed {
            let file = site
                .files
                .get(path)
                .with_context(|| format!("{path} is in the manifest but not in the site"))?;
            let target = out.join(path);
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let tmp = target.with_file_name(format!(
                ".{}.tmp",
                target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("file")
            ));
            staged.push((tmp, target, path));
            let tmp = &staged[staged.len() - 1].0;
            std::fs::write(tmp, &file.bytes)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        for (tmp, _, _) in &staged {
            let _ = std::fs::remove_file(tmp);
            remove_empty_parents(tmp, out);
        }
        return Err(e);
    }
    for (tmp, target, path) in staged {
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
        report.changed.push(path.clone());
    }
    let mut removed = manifest.files.removed_from(&previous.files);
    removed.sort();
    for path in removed {
        let target = out.join(path);
        match std::fs::remove_file(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {}", target.display())),
        }
        remove_empty_parents(&target, out);
        report.removed.push(path.clone());
    }
    report.changed.sort();
    // Read back from disk, the history file may be missing or stale: write it again.
    manifest.write(out, (!stat).then_some(previous))?;
    report.manifest = manifest;
    Ok(report)
}

/// Remove the folders above `path` left empty (incidents/<id>/), never `out` itself.
fn remove_empty_parents(path: &Path, out: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| *d != out && d.starts_with(out)) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// The size of every file of `site`.
pub fn site_bytes(site: &Site) -> u64 {
    site.files.values().map(|f| f.bytes.len() as u64).sum()
}

/// Put `staging` in place of `out`; the previous content ends up at `staging` or `old`.
fn swap(staging: &Path, out: &Path, old: &Path) -> Result<()> {
    if !out.exists() {
        return std::fs::rename(staging, out)
            .with_context(|| format!("cannot move the new site to {}", out.display()));
    }
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let a = CString::new(staging.as_os_str().as_bytes())?;
        let b = CString::new(out.as_os_str().as_bytes())?;
        // SAFETY: both pointers are valid NUL-terminated paths for the duration of the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if !matches!(
            err.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
        ) {
            return Err(err)
                .with_context(|| format!("cannot swap the new site into {}", out.display()));
        }
    }
    std::fs::rename(out, old)
        .with_context(|| format!("cannot move the old site {} aside", out.display()))?;
    if let Err(e) = std::fs::rename(staging, out) {
        // Put the old site back rather than leave nothing.
        let _ = std::fs::rename(old, out);
        return Err(e).with_context(|| format!("cannot move the new site to {}", out.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_of(site: &Site, cache: &CacheControl) -> Manifest {
        Manifest::of(site, cache, &|_| None, &mut None)
    }

    /// A full write, the manifest made from scratch.
    fn full(site: &Site, out: &Path, cache: &CacheControl) -> Result<WriteReport> {
        write_site(site, out, manifest_of(site, cache).into())
    }

    /// An in-place write against the manifest in the folder.
    fn changes(site: &Site, out: &Path, cache: &CacheControl) -> Result<WriteReport> {
        write_changes(site, out, manifest_of(site, cache).into(), None)
    }
    use crate::render::OutputFile;

    fn site(files: &[(&str, &str)]) -> Site {
        let mut s = Site::default();
        for (p, b) in files {
            s.files.live.insert(
                p.to_string(),
                OutputFile {
                    bytes: b.as_bytes().into(),
                    content_type: "text/plain",
                    cache: CacheClass::Short,
                },
            );
        }
        s
    }

    #[test]
    fn replaces_the_folder_and_reports_changes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("publish");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(".gitkeep"), "").unwrap();
        let cache = CacheControl::default();
        let r = full(
            &site(&[("index.html", "a"), ("x/y.json", "b")]),
            &out,
            &cache,
        )
        .unwrap();
        assert_eq!(r.changed, ["index.html", "x/y.json"]);
        let r = full(&site(&[("index.html", "a2")]), &out, &cache).unwrap();
        assert_eq!(
            (r.changed, r.removed),
            (vec!["index.html".to_string()], vec!["x/y.json".to_string()])
        );
        assert_eq!(
            std::fs::read_to_string(out.join("index.html")).unwrap(),
            "a2"
        );
        assert!(!out.join("x/y.json").exists() && out.join(".gitkeep").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["publish"],
            "no staging or old folder is left behind"
        );
    }

    #[test]
    fn write_changes_touches_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("publish");
        let cache = CacheControl::default();
        full(
            &site(&[
                ("index.html", "a"),
                ("incidents/x/index.html", "x"),
                ("incidents/y/index.html", "y"),
            ]),
            &out,
            &cache,
        )
        .unwrap();
        let untouched = std::fs::metadata(out.join("incidents/x/index.html"))
            .unwrap()
            .modified()
            .unwrap();
        let r = changes(
            &site(&[("index.html", "b"), ("incidents/x/index.html", "x")]),
            &out,
            &cache,
        )
        .unwrap();
        assert_eq!(
            (r.changed, r.removed),
            (
                vec!["index.html".to_string()],
                vec!["incidents/y/index.html".to_string()]
            )
        );
        assert_eq!(
            std::fs::read_to_string(out.join("index.html")).unwrap(),
            "b"
        );
        assert_eq!(
            std::fs::metadata(out.join("incidents/x/index.html"))
                .unwrap()
                .modified()
                .unwrap(),
            untouched
        );
        assert!(!out.join("incidents/y").exists(), "emptied folders go too");
        assert_eq!(
            Manifest::read(&out).unwrap(),
            manifest_of(
                &site(&[("index.html", "b"), ("incidents/x/index.html", "x")]),
                &cache
            )
        );
        // A hand-deleted file is written again.
        std::fs::remove_file(out.join("incidents/x/index.html")).unwrap();
        let r = changes(
            &site(&[("index.html", "b"), ("incidents/x/index.html", "x")]),
            &out,
            &cache,
        )
        .unwrap();
        assert_eq!(r.changed, ["incidents/x/index.html"]);
    }

    #[test]
    fn refuses_foreign_folders_and_bad_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
        let err = full(
            &site(&[("index.html", "a")]),
            dir.path(),
            &CacheControl::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not written by Pharos"), "{err}");
        assert!(dir.path().join("precious.txt").exists());
        // A manifest that lists nothing there does not make the folder ours.
        for bogus in ["{}", r#"{"version":2,"files":{}}"#] {
            std::fs::write(dir.path().join(MANIFEST_FILE), bogus).unwrap();
            let err = full(
                &site(&[("index.html", "a")]),
                dir.path(),
                &CacheControl::default(),
            )
            .unwrap_err();
            assert!(err.to_string().contains("precious.txt"), "{bogus}: {err}");
            assert!(dir.path().join("precious.txt").exists());
        }
        for bad in ["../x", "/abs", "a//b", "a/../b", "", "a\\b", "./a"] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_shared_history_layer_is_neither_compared_nor_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("publish");
        let cache = CacheControl::default();
        let mut first = site(&[("index.html", "a")]);
        first.files.history = Arc::new(site(&[("incidents/x/index.html", "x")]).files.live);
        let mut memo = None;
        let m1 = Manifest::of(&first, &cache, &|_| None, &mut memo);
        let r1 = write_site(&first, &out, m1.into()).unwrap();
        assert_eq!(r1.changed, ["incidents/x/index.html", "index.html"]);
        assert_eq!(
            Manifest::read(&out).unwrap(),
            *r1.manifest,
            "both files read back"
        );
        let history_file = out.join(HISTORY_MANIFEST_FILE);
        let written = std::fs::metadata(&history_file)
            .unwrap()
            .modified()
            .unwrap();

        // The next site shares the history layer: only the live layer is looked at and written.
        let mut second = site(&[("index.html", "b")]);
        second.files.history = first.files.history.clone();
        let m2 = Manifest::of(&second, &cache, &|_| None, &mut memo);
        assert!(
            m2.files.same_history(&r1.manifest.files),
            "the memo shares it"
        );
        let stamp = manifest_stamp(&out).unwrap();
        let r2 = write_changes(&second, &out, m2.into(), Some((&r1.manifest, stamp))).unwrap();
        assert_eq!(
            (r2.changed, r2.removed),
            (vec!["index.html".to_string()], vec![])
        );
        assert_eq!(
            std::fs::metadata(&history_file)
                .unwrap()
                .modified()
                .unwrap(),
            written
        );
        assert_eq!(Manifest::read(&out).unwrap(), *r2.manifest);

        // A new history layer is compared entry by entry, and its manifest written.
        let mut third = site(&[("index.html", "b")]);
        third.files.history = Arc::new(site(&[("incidents/y/index.html", "y")]).files.live);
        let m3 = Manifest::of(&third, &cache, &|_| None, &mut memo);
        let stamp = manifest_stamp(&out).unwrap();
        let r3 = write_changes(&third, &out, m3.into(), Some((&r2.manifest, stamp))).unwrap();
        assert_eq!(
            (r3.changed, r3.removed),
            (
                vec!["incidents/y/index.html".to_string()],
                vec!["incidents/x/index.html".to_string()]
            )
        );
        assert_eq!(Manifest::read(&out).unwrap(), *r3.manifest);
    }
}
