//! Incidents and maintenance windows as Markdown files with YAML front matter.
//!
//! `content/incidents/<id>.md` and `content/maintenance/<id>.md`; the file name is the id.
//! Updates are `## <time> · <status>` sections. Problems name the file, line and fix; Markdown is
//! rendered with pulldown-cmark and sanitized with ammonia (raw HTML only through an allowlist).

mod maintenance;
mod markdown;
pub mod write;

pub use maintenance::parse_maintenance;
pub use markdown::render_markdown;

use crate::diag::{Problem, yaml_problem};
use crate::ids::{check_id, hex};
use crate::model::{
    ComponentStatus, Impact, Incident, IncidentStatus, Maintenance, MaintenanceStatus, Update,
    Window,
};
use crate::yamlcheck::{About, Doc};
use crate::yamlpos::Pos;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub const INCIDENTS_DIR: &str = "incidents";
pub const MAINTENANCE_DIR: &str = "maintenance";
/// Bump when parsing or rendering of content changes, so stored parses are redone.
const PARSER_VERSION: &str = "pharos-content-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Incident,
    Maintenance,
}

impl Kind {
    /// "incident" / "maintenance", for messages and command names.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Incident => "incident",
            Kind::Maintenance => "maintenance",
        }
    }

    /// The folder of this kind under `content/`.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Incident => INCIDENTS_DIR,
            Kind::Maintenance => MAINTENANCE_DIR,
        }
    }
}

/// A content file as read from disk, not yet parsed.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub kind: Kind,
    pub id: String,
    pub path: PathBuf,
    /// Empty when `loaded` is false (a [`ScanCache`] knew the hash): see [`SourceFile::read`].
    pub text: String,
    pub loaded: bool,
    /// Hash of the bytes and of everything that affects how they parse.
    pub hash: String,
}

/// What parsing needs from the config.
#[derive(Debug, Clone)]
pub struct ParseContext {
    pub tz: Tz,
    pub components: HashSet<String>,
    pub limits: crate::config::Limits,
}

impl ParseContext {
    /// What `config` says about parsing: its time zone and component ids.
    pub fn of(config: &crate::config::Config) -> ParseContext {
        ParseContext {
            tz: config.tz(),
            components: config.components.iter().map(|c| c.id.to_string()).collect(),
            limits: config.limits,
        }
    }

    /// A fingerprint of the context, part of every file's hash.
    fn salt(&self) -> String {
        let mut ids: Vec<&str> = self.components.iter().map(String::as_str).collect();
        ids.sort_unstable();
        format!(
            "{PARSER_VERSION}\0{}\0{}\0{:?}",
            self.tz.name(),
            ids.join(","),
            self.limits
        )
    }
}

fn problem(file: &Path, line: usize, entity: &str, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        pos: Pos { line, col: 1 },
        entity: entity.to_string(),
        message: message.into(),
    }
}

impl SourceFile {
    /// The file with its text, reading it if the scan did not.
    pub fn read(&self) -> Result<std::borrow::Cow<'_, SourceFile>, Problem> {
        if self.loaded {
            return Ok(std::borrow::Cow::Borrowed(self));
        }
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            problem(
                &self.path,
                1,
                "content file",
                format!("cannot read file: {e} (content files must be UTF-8)"),
            )
        })?;
        Ok(std::borrow::Cow::Owned(SourceFile {
            text,
            loaded: true,
            ..self.clone()
        }))
    }
}

/// What a scan learnt about each file (its size, times and inode, and its hash), so that the
/// next scan reads and hashes only files whose metadata changed. A file modified within the
/// last two seconds is not remembered: a second edit in the same clock tick would look the same.
/// It also remembers since when each file has looked as it does, and since when files that went
/// away have been gone, for scans that wait for changes to settle.
#[derive(Default)]
pub struct ScanCache {
    salt: String,
    files: HashMap<PathBuf, (FileStamp, String)>,
    /// When each file's current stamp was first seen.
    seen: HashMap<PathBuf, (FileStamp, std::time::Instant)>,
    /// Since when each (kind, id) the store may hold has been missing from disk.
    pub gone: HashMap<(Kind, String), std::time::Instant>,
    /// Files Pharos itself just wrote whole (atomically), by their stamp right after: read at
    /// once, without settling, unless they changed since.
    trusted: HashMap<PathBuf, FileStamp>,
}

impl ScanCache {
    /// `path` was just written whole by Pharos (a rename or a link of a complete temp file):
    /// the next scans need not wait for it to settle, as long as nobody changes it.
    pub fn trust(&mut self, path: &Path) {
        if let Some((st, _)) = std::fs::metadata(path).ok().as_ref().and_then(stamp) {
            self.trusted.insert(path.to_path_buf(), st);
        }
    }
}

/// (size, mtime ns, ctime ns, inode)
type FileStamp = (u64, i128, i128, u64);

fn stamp(meta: &std::fs::Metadata) -> Option<(FileStamp, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let modified = meta.modified().ok()?;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Some((
        (
            meta.len(),
            ns(meta.mtime(), meta.mtime_nsec()),
            ns(meta.ctime(), meta.ctime_nsec()),
            meta.ino(),
        ),
        modified,
    ))
}

/// What a scan of `content/` found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Files to import, sorted by path.
    pub files: Vec<SourceFile>,
    /// Files that cannot be read or have a bad name.
    pub problems: Vec<Problem>,
    /// Files with a bad name, read (with `loaded` true) so that the problems of their text are
    /// found in the same run; never imported.
    pub misnamed: Vec<SourceFile>,
    /// Files that exist but could not be read: (kind, id).
    pub unreadable: Vec<(Kind, String)>,
    /// Files changed less than the settle time ago, not read yet: (kind, id, time left).
    pub settling: Vec<(Kind, String, std::time::Duration)>,
}

/// Every `*.md` file under `content/incidents` and `content/maintenance`, sorted by path
/// (hidden files, files starting with `_` and files without the `.md` extension are skipped),
/// reading and hashing only files whose metadata changed since the scan that filled `cache`
/// (the others have `text` empty and `loaded` false). With `settle`, a file is read only once it has looked the same for
/// that long (by its modification time, or since this cache first saw it so): an editor that
/// truncates and then writes in parts is never read half way.
pub fn scan(
    content_dir: &Path,
    ctx: &ParseContext,
    cache: &mut ScanCache,
    settle: Option<std::time::Duration>,
) -> Scan {
    let salt = ctx.salt();
    if cache.salt != salt {
        cache.salt = salt.clone();
        cache.files.clear();
    }
    let mut remembered = HashMap::new();
    let mut seen = HashMap::new();
    let wall = std::time::SystemTime::now();
    let mono = std::time::Instant::now();
    let recent = wall - std::time::Duration::from_secs(2);
    let mut out = Scan::default();
    for (kind, sub) in [
        (Kind::Incident, INCIDENTS_DIR),
        (Kind::Maintenance, MAINTENANCE_DIR),
    ] {
        let dir = content_dir.join(sub);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.problems.push(problem(
                    &dir,
                    1,
                    "content folder",
                    format!("cannot read folder: {e}"),
                ));
                continue;
            }
        };
        // By name (a byte compare: sorting paths by components cost more than the scan).
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && !n.starts_with('_') && n.ends_with(".md"))
            .collect();
        names.sort_unstable();
        for name in names {
            let path = dir.join(&name);
            // One stat per file: whether it is a file (following links) and its stamp.
            let meta = std::fs::metadata(&path).ok();
            if !meta.as_ref().is_some_and(|m| m.is_file()) {
                continue;
            }
            let id = name.trim_end_matches(".md");
            let size = meta.as_ref().map_or(0, |m| m.len());
            if let Some(p) = size_problem(&path, size, &ctx.limits) {
                // Not even read: its last good version stays.
                out.unreadable.push((kind, id.to_string()));
                out.problems.push(p);
                continue;
            }
            let misnamed = check_id(id).err();
            let stamped = meta.as_ref().and_then(stamp);
            // Trust lasts while the file is as Pharos wrote it.
            let trusted = match (cache.trusted.get(&path), &stamped) {
                (Some(t), Some((st, _))) if t == st => true,
                (Some(_), _) => {
                    cache.trusted.remove(&path);
                    false
                }
                (None, _) => false,
            };
            if let (Some(settle), Some((st, modified)), false) = (settle, &stamped, trusted) {
                let first = match cache.seen.get(&path) {
                    Some((known, at)) if known == st => *at,
                    _ => mono,
                };
                seen.insert(path.clone(), (*st, first));
                let age = wall
                    .duration_since(*modified)
                    .unwrap_or_default()
                    .max(mono - first);
                if age < settle {
                    out.settling.push((kind, id.to_string(), settle - age));
                    continue;
                }
            }
            if let Some(e) = misnamed {
                out.problems.push(problem(
                    &path,
                    1,
                    "file name",
                    format!("{e}; the file name (without .md) is the id"),
                ));
                if let Ok(text) = std::fs::read_to_string(&path) {
                    out.misnamed.push(SourceFile {
                        kind,
                        id: id.to_string(),
                        path,
                        text,
                        loaded: true,
                        hash: String::new(),
                    });
                }
                continue;
            }
            if let Some((st, _)) = &stamped
                && let Some((known, hash)) = cache.files.get(&path)
                && known == st
            {
                remembered.insert(path.clone(), (*st, hash.clone()));
                out.files.push(SourceFile {
                    kind,
                    id: id.to_string(),
                    hash: hash.clone(),
                    path,
                    text: String::new(),
                    loaded: false,
                });
                continue;
            }
            match read_bounded(&path, &ctx.limits) {
                Ok(text) => {
                    let mut h = Sha256::new();
                    h.update(salt.as_bytes());
                    h.update([0]);
                    h.update(text.as_bytes());
                    let hash = hex(&h.finalize());
                    if let Some((st, modified)) = stamped
                        && modified < recent
                    {
                        remembered.insert(path.clone(), (st, hash.clone()));
                    }
                    out.files.push(SourceFile {
                        kind,
                        id: id.to_string(),
                        path,
                        text,
                        loaded: true,
                        hash,
                    });
                }
                Err(p) => {
                    out.unreadable.push((kind, id.to_string()));
                    out.problems.push(p)
                }
            }
        }
    }
    cache.files = remembered;
    cache.seen = seen;
    out
}

/// The problem of a content file of `size` bytes over `limits.file_size`, if it is.
pub fn size_problem(path: &Path, size: u64, limits: &crate::config::Limits) -> Option<Problem> {
    (size > limits.file_size.0).then(|| {
        problem(
            path,
            1,
            "content file",
            format!(
                "the file is {}, over the limit of {} (limits.file_size in the config): split it (a postmortem can link to a longer document) or raise the limit",
                crate::config::Size(size),
                limits.file_size
            ),
        )
    })
}

/// A content file's text, read only up to the size limit: one that grew past it since its
/// size was looked at is refused all the same.
fn read_bounded(path: &Path, limits: &crate::config::Limits) -> Result<String, Problem> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| {
        problem(
            path,
            1,
            "content file",
            format!("cannot read file: {e} (content files must be UTF-8)"),
        )
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limits.file_size.0 + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if let Some(p) = size_problem(path, bytes.len() as u64, limits) {
        return Err(p);
    }
    String::from_utf8(bytes)
        .map_err(|e| unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// Split `---\n<yaml>\n---\n<body>`: returns (yaml, body, line number of the first body line).
fn split_front_matter<'a>(
    text: &'a str,
    file: &Path,
    entity: &str,
) -> Result<(&'a str, &'a str, usize), Problem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let missing = || {
        problem(
            file,
            1,
            entity,
            "the file must start with front matter: a line `---`, YAML fields (title: ...), and another line `---`",
        )
    };
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(missing)?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            let body_line = 2 + yaml.lines().count() + 1;
            return Ok((yaml, body, body_line));
        }
        offset += line.len();
    }
    Err(problem(
        file,
        1,
        entity,
        "front matter is not closed: add a line `---` after the YAML fields",
    ))
}

/// A `## <time> · <status>` section and the lines under it.
struct Section<'a> {
    line: usize,
    heading: &'a str,
    body: String,
}

/// The text before the first `## ` heading, and the sections. Headings inside fenced code blocks
/// are text.
fn sections(body: &str, first_line: usize) -> (String, usize, Vec<Section<'_>>) {
    let mut preamble = String::new();
    let mut preamble_line = 0;
    let mut out: Vec<Section> = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in body.lines().enumerate() {
        let n = first_line + i;
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
        } else if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(&t[..3]);
        } else if let Some(h) = line.strip_prefix("## ") {
            out.push(Section {
                line: n,
                heading: h.trim(),
                body: String::new(),
            });
            continue;
        }
        match out.last_mut() {
            Some(s) => {
                s.body.push_str(line);
                s.body.push('\n');
            }
            None => {
                if preamble_line == 0 && !line.trim().is_empty() {
                    preamble_line = n;
                }
                preamble.push_str(line);
                preamble.push('\n');
            }
        }
    }
    (preamble.trim().to_string(), preamble_line, out)
}

/// `2026-11-20 14:02 UTC · investigating` -> (time, status)
fn parse_heading<S: FromStr<Err = String>>(
    s: &Section,
    tz: Tz,
    file: &Path,
    entity: &str,
    example: &str,
) -> Result<(DateTime<Utc>, S), Problem> {
    let split = ['·', '|']
        .iter()
        .find_map(|sep| s.heading.rsplit_once(*sep))
        .or_else(|| s.heading.rsplit_once(" - "));
    let Some((when, status)) = split else {
        return Err(problem(
            file,
            s.line,
            entity,
            format!(
                "update heading {:?} needs a time and a status: `## {example}`",
                s.heading
            ),
        ));
    };
    let at = crate::time::parse_timestamp(when.trim(), tz)
        .map_err(|e| problem(file, s.line, entity, e))?;
    let status = status
        .trim()
        .to_lowercase()
        .replace(' ', "_")
        .parse::<S>()
        .map_err(|e| problem(file, s.line, entity, e))?;
    Ok((at, status))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentFront {
    title: String,
    #[serde(default)]
    impact: Option<Impact>,
    #[serde(default)]
    components: serde_yaml::Mapping,
    #[serde(default)]
    automatic: bool,
}

/// The front matter as a `T` as far as it can be read, where its nodes are, and every problem
/// serde found in it (the checks after it go on with what it could read).
fn front<T: for<'de> Deserialize<'de>>(
    yaml: &str,
    file: &Path,
    entity: &str,
) -> (Option<T>, Doc, Vec<Problem>) {
    // Front matter starts on line 2 of the file.
    if let Some(p) = crate::diag::too_deep_problem(file, yaml, 1, entity) {
        return (None, Doc::default(), vec![p]);
    }
    match crate::yamlcheck::read::<T>(yaml, 1) {
        Err(errors) => {
            let mut problems: Vec<Problem> = errors
                .iter()
                .map(|e| {
                    let mut p = yaml_problem(file, yaml, e, 1, entity);
                    if p.entity != entity {
                        p.message = format!("{}: {}", p.entity, p.message);
                        p.entity = entity.to_string();
                    }
                    p
                })
                .collect();
            problems.sort_by_key(|p| (p.pos.line, p.pos.col));
            (None, Doc::default(), problems)
        }
        Ok(read) => {
            let mut problems: Vec<Problem> = read
                .problems
                .into_iter()
                .map(|f| {
                    let message = match f.what {
                        About::Value if !f.path.is_empty() => format!("{}: {}", f.path, f.message),
                        _ => f.message,
                    };
                    at(file, f.pos, entity, message)
                })
                .collect();
            if read.value.is_none() && problems.is_empty() {
                problems.push(problem(file, 2, entity, "the front matter cannot be read"));
            }
            (read.value, read.doc, problems)
        }
    }
}

fn at(file: &Path, pos: Pos, entity: &str, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        pos,
        entity: entity.to_string(),
        message: message.into(),
    }
}

/// A parsed content file, with the components it names that the config does not have (a
/// typo, or a component removed since): whether those are errors depends on the state of the
/// incident or window (see `build::import_content`).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub item: T,
    pub unknown_components: Vec<Problem>,
}

/// More updates than `limits.updates` is refused before any is rendered.
fn too_many_updates(
    n: usize,
    ctx: &ParseContext,
    file: &Path,
    line: usize,
    entity: &str,
) -> Result<(), Vec<Problem>> {
    if n <= ctx.limits.updates {
        return Ok(());
    }
    Err(vec![problem(
        file,
        line,
        entity,
        format!(
            "{n} updates, over the limit of {} (limits.updates in the config): start a new one, or raise the limit",
            ctx.limits.updates
        ),
    )])
}

pub fn parse_incident(
    src: &SourceFile,
    ctx: &ParseContext,
) -> Result<Parsed<Incident>, Vec<Problem>> {
    let file = src.path.as_path();
    let entity = format!("incident {:?}", src.id);
    let (yaml, body, body_line) =
        split_front_matter(&src.text, file, &entity).map_err(|p| vec![p])?;
    let (fm, doc, mut problems) = front::<IncidentFront>(yaml, file, &entity);
    let mut unknown_components = Vec::new();
    let mut components = Vec::new();
    let no_components = serde_yaml::Mapping::new();
    if let Some(fm) = &fm
        && fm.title.trim().is_empty()
        && !doc.touched("title")
    {
        problems.push(at(file, doc.at("title"), &entity, "title is empty"));
    }
    for (k, v) in fm.as_ref().map_or(&no_components, |fm| &fm.components) {
        let Some(id) = k.as_str() else {
            problems.push(at(
                file,
                doc.at("components"),
                &entity,
                "component ids must be strings",
            ));
            continue;
        };
        let path = format!("components.{id}");
        if !ctx.components.contains(id) {
            unknown_components.push(at(
                file,
                doc.key(&path),
                &entity,
                unknown_component(id, &ctx.components),
            ));
        }
        match v.as_str().map(ComponentStatus::from_str) {
            Some(Ok(ComponentStatus::Operational)) => problems.push(at(
                file,
                doc.at(&path),
                &entity,
                format!("component {id:?}: operational is not an effect; use degraded_performance, partial_outage, major_outage or under_maintenance, or remove the line"),
            )),
            Some(Ok(s)) => components.push((id.to_string(), s)),
            Some(Err(e)) => problems.push(at(file, doc.at(&path), &entity, format!("component {id:?}: {e}"))),
            None => problems.push(at(
                file,
                doc.at(&path),
                &entity,
                format!("component {id:?}: write the status it has while the incident is open, e.g. `{id}: partial_outage`"),
            )),
        }
    }

    let (preamble, preamble_line, secs) = sections(body, body_line);
    // Said with the front matter's problems, but no update is read.
    if let Err(mut p) = too_many_updates(secs.len(), ctx, file, body_line, &entity) {
        problems.append(&mut p);
        return Err(with_unknown(problems, unknown_components));
    }
    let example = "2026-11-20 14:02 UTC · investigating";
    if !preamble.is_empty() {
        problems.push(problem(
            file,
            preamble_line,
            &entity,
            format!("text before the first update; start every update with a heading like `## {example}`"),
        ));
    }
    if secs.is_empty() {
        problems.push(problem(
            file,
            body_line.max(2),
            &entity,
            format!("an incident needs at least one update: add `## {example}` and a line of text below the front matter"),
        ));
    }
    let mut updates = Vec::new();
    for s in &secs {
        match parse_heading::<IncidentStatus>(s, ctx.tz, file, &entity, example) {
            Ok((at, status)) => {
                let md = s.body.trim().to_string();
                if md.is_empty() {
                    problems.push(problem(
                        file,
                        s.line,
                        &entity,
                        "update has no text: write what visitors should know below the heading",
                    ));
                }
                updates.push(Update {
                    at,
                    status,
                    body_html: render_markdown(&md),
                    body_md: md,
                });
            }
            Err(p) => problems.push(p),
        }
    }
    let Some(fm) = fm.filter(|_| problems.is_empty()) else {
        return Err(with_unknown(problems, unknown_components));
    };
    // Newest first; equal times keep file order (a stable sort on the reversed key).
    updates.sort_by_key(|u| std::cmp::Reverse(u.at));
    let mut incident = Incident {
        id: src.id.clone(),
        title: fm.title.trim().to_string(),
        impact: fm.impact.unwrap_or(Impact::None),
        components,
        updates,
        automatic: fm.automatic,
        explicit_impact: fm.impact.is_some(),
    };
    if !incident.explicit_impact {
        incident.impact = incident.implied_impact();
    }
    Ok(Parsed {
        item: incident,
        unknown_components,
    })
}

/// A file that fails anyway reports its unknown components too (every problem at once), in
/// file order.
fn with_unknown(mut problems: Vec<Problem>, mut unknown: Vec<Problem>) -> Vec<Problem> {
    problems.append(&mut unknown);
    problems.sort_by_key(|p| (p.pos.line, p.pos.col));
    problems
}

fn unknown_component(id: &str, known: &HashSet<String>) -> String {
    let mut ids: Vec<&str> = known.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let hint = crate::suggest::closest(id, &ids)
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default();
    format!(
        "unknown component {id:?}{hint}; components are defined in the config under `components:`"
    )
}

#[cfg(test)]
mod tests;
