//! `pharos build`: the pipeline, top to bottom.
//!
//! import content (only files that changed) -> read a snapshot from the store -> render (pure)
//! -> write the output folder atomically. Any problem before the write leaves the old site as it was.

use crate::config::Config;
use crate::content::{self, Kind, ParseContext, SourceFile};
use crate::diag::{Problem, Problems};
use crate::output::{self, WriteReport};
use crate::render::{self, Site};
use crate::snapshot::{self, SiteInfo, Snapshot, StoredState};
use crate::store::{ImportItem, Imported, Store};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How an import treats a file with problems.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strictness {
    /// One-shot commands (`build`, `publish`, `validate`): any problem fails the import, and
    /// nothing is imported.
    #[default]
    Strict,
    /// The daemon, `serve` and the admin's views: a file with problems keeps its last good
    /// version in the store (or stays out if it never had one), everything else is imported,
    /// and the problems are reported. With `settle`, a file is read only once it has not
    /// changed for that long, and a file that went away is gone only after that long.
    Lenient { settle: Option<Duration> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub files: usize,
    /// Files parsed because they are new or changed.
    pub parsed: usize,
    /// The content hash of every file, by kind and id (what the store now holds).
    pub hashes: HashMap<(Kind, String), String>,
    /// Problems of files whose last good version stays (a strict import fails on them instead).
    pub problems: Vec<Problem>,
    /// Not errors: resolved incidents and past windows naming components the config no longer
    /// has (they render naming them as removed).
    pub warnings: Vec<Problem>,
    /// Changes still settling: import again after this long.
    pub settling: Option<Duration>,
    /// Incident files renamed with their opening update unchanged: (old id, new id).
    pub moved: Vec<(String, String)>,
}

/// Bring the store in line with `content/`: parse new and changed files, drop removed ones,
/// reading only files whose metadata changed since the scan that filled `cache`. Every problem
/// is reported (not just the first). A renamed incident (same opening update, new file name) is
/// a move; the file of an open incident that went away is a problem (it stays as it was).
pub fn import_content(
    config: &Config,
    store: &mut Store,
    now: DateTime<Utc>,
    mode: Strictness,
    cache: &mut content::ScanCache,
) -> Result<ImportReport> {
    let ctx = ParseContext::of(config);
    let settle = match mode {
        Strictness::Lenient { settle } => settle,
        Strictness::Strict => None,
    };
    let scan = content::scan(&config.content_path(), &ctx, cache, settle);
    let mut problems = scan.problems;
    problems.extend(misnamed_problems(&scan.misnamed, &ctx, now));
    let mut warnings = Vec::new();
    let mut settling = scan.settling.iter().map(|(_, _, left)| *left).min();
    let known = store.content_hashes()?;
    let on_disk: HashSet<(Kind, String)> = scan
        .files
        .iter()
        .map(|f| (f.kind, f.id.clone()))
        .chain(scan.unreadable.iter().cloned())
        .chain(scan.settling.iter().map(|(k, id, _)| (*k, id.clone())))
        .collect();
    let to_parse: Vec<&SourceFile> = scan
        .files
        .iter()
        .filter(|f| known.get(&(f.kind, f.id.clone())) != Some(&f.hash))
        .collect();
    let mut changed = Vec::new();
    // Parsing (YAML, Markdown, sanitizing) is most of a cold import: use every core.
    for (f, parsed) in to_parse
        .iter()
        .zip(crate::par_map(&to_parse, |f| parse(f, &ctx)))
    {
        match parsed.and_then(|(item, unknown)| judge(item, unknown, now)) {
            Ok((item, mut w)) => {
                warnings.append(&mut w);
                changed.push(ImportItem {
                    item,
                    path: display_path(config, &f.path),
                    hash: f.hash.clone(),
                    moved_from: None,
                });
            }
            Err(mut p) => problems.append(&mut p),
        }
    }

    // What the store holds that is no longer on disk: moved, settling, refused, or removed.
    let mut keep = on_disk.clone();
    let mut moved = Vec::new();
    let mut gone: Vec<&(Kind, String)> = known.keys().filter(|k| !on_disk.contains(*k)).collect();
    gone.sort();
    for key in gone {
        let (kind, id) = key;
        let stored = match kind {
            Kind::Incident => store.incident(id)?,
            Kind::Maintenance => None,
        };
        if let Some(old) = &stored
            && let Some(item) = changed.iter_mut().find(|c| {
                c.moved_from.is_none()
                    && matches!(&c.item, Imported::Incident(i)
                        if !known.contains_key(&(Kind::Incident, i.id.clone())) && same_opening(i, old))
            })
        {
            let Imported::Incident(new) = &item.item else {
                unreachable!("matched an incident");
            };
            moved.push((id.clone(), new.id.clone()));
            item.moved_from = Some(id.clone());
            continue;
        }
        if let Some(settle) = settle {
            let left = settle.saturating_sub(
                cache
                    .gone
                    .entry(key.clone())
                    .or_insert_with(Instant::now)
                    .elapsed(),
            );
            if !left.is_zero() {
                keep.insert(key.clone());
                settling = Some(settling.map_or(left, |s| s.min(left)));
                continue;
            }
        }
        if let Some(old) = stored.filter(|i| i.status().is_open()) {
            problems.push(Problem {
                file: config
                    .content_path()
                    .join(kind.dir())
                    .join(format!("{id}.md")),
                pos: crate::yamlpos::Pos { line: 1, col: 1 },
                entity: format!("incident {id:?}"),
                message: format!(
                    "the file of this open incident ({}) was deleted; the site keeps showing it as it was. Restore the file, or run `pharos incident resolve {id}` (it writes the file back with a resolved update); delete it once it is resolved",
                    old.status().as_str()
                ),
            });
            keep.insert(key.clone());
        }
    }
    cache
        .gone
        .retain(|k, _| !on_disk.contains(k) && known.contains_key(k) && keep.contains(k));
    if mode == Strictness::Strict && !problems.is_empty() {
        return Err(Problems(problems).into());
    }
    store.import(&changed, &keep, now)?;
    let mut hashes: HashMap<(Kind, String), String> = known
        .into_iter()
        .filter(|(k, _)| keep.contains(k))
        .collect();
    for c in &changed {
        let key = match &c.item {
            Imported::Incident(i) => (Kind::Incident, i.id.clone()),
            Imported::Maintenance(m) => (Kind::Maintenance, m.id.clone()),
        };
        hashes.insert(key, c.hash.clone());
    }
    Ok(ImportReport {
        files: scan.files.len(),
        parsed: changed.len(),
        hashes,
        problems,
        warnings,
        settling,
        moved,
    })
}

/// The problems of the text of files with a bad name (reported with the name, all at once).
pub fn misnamed_problems(
    files: &[SourceFile],
    ctx: &ParseContext,
    now: DateTime<Utc>,
) -> Vec<Problem> {
    files
        .iter()
        .flat_map(|f| {
            parse(f, ctx)
                .and_then(|(item, unknown)| judge(item, unknown, now))
                .err()
                .unwrap_or_default()
        })
        .collect()
}

/// Components the config does not have, named by a parsed file: warnings in history (a
/// resolved incident, a cancelled or ended one-off window: the component was removed since, and
/// it renders as removed), errors otherwise (a typo in an open incident or a window to come
/// would hide what it is about). Returns the item and its warnings.
pub fn judge(
    item: Imported,
    unknown: Vec<Problem>,
    now: DateTime<Utc>,
) -> Result<(Imported, Vec<Problem>), Vec<Problem>> {
    let history = match &item {
        Imported::Incident(i) => !i.status().is_open(),
        Imported::Maintenance(m) => {
            m.cancelled
                || matches!(m.window, crate::model::Window::Once { until, .. } if until <= now)
        }
    };
    match (unknown.is_empty(), history) {
        (true, _) => Ok((item, unknown)),
        (false, true) => Ok((
            item,
            unknown
                .into_iter()
                .map(|mut p| {
                    let id = p.message.split('"').nth(1).unwrap_or_default();
                    p.message = format!(
                        "component {id:?} is not in the config (removed?); kept as history and shown as a removed component"
                    );
                    p
                })
                .collect(),
        )),
        (false, false) => Err(unknown),
    }
}

/// Whether two incidents open with the same update: a file renamed (and maybe edited) is the
/// same incident.
fn same_opening(a: &crate::model::Incident, b: &crate::model::Incident) -> bool {
    match (a.updates.last(), b.updates.last()) {
        (Some(x), Some(y)) => x.at == y.at && x.status == y.status && x.body_md == y.body_md,
        _ => false,
    }
}

/// Parse a content file as its kind says: the item, and the components it names that the
/// config does not have.
pub fn parse(f: &SourceFile, ctx: &ParseContext) -> Result<(Imported, Vec<Problem>), Vec<Problem>> {
    let f = f.read().map_err(|p| vec![p])?;
    match f.kind {
        Kind::Incident => content::parse_incident(&f, ctx)
            .map(|p| (Imported::Incident(p.item), p.unknown_components)),
        Kind::Maintenance => content::parse_maintenance(&f, ctx)
            .map(|p| (Imported::Maintenance(p.item), p.unknown_components)),
    }
}

/// A content path as stored: relative to the config folder when possible.
fn display_path(config: &Config, p: &Path) -> String {
    p.strip_prefix(&config.base_dir)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// Read the logo named in the config, as (extension, bytes).
pub fn read_logo(config: &Config) -> Result<Option<(String, Vec<u8>)>> {
    let Some(logo) = &config.site.logo else {
        return Ok(None);
    };
    let path = config.resolve(logo);
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read logo {}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("png")
        .to_ascii_lowercase();
    Ok(Some((ext, bytes)))
}

/// Imported incidents and maintenances, shared between builds.
type Content = (
    Arc<Vec<crate::model::Incident>>,
    Arc<Vec<crate::model::Maintenance>>,
);

/// What the daemon keeps between builds so that a change costs what it changes, not what the
/// history weighs: rendered pages (by their inputs), the imported content (read again only
/// when `content/` may have changed), and whether the output folder can be updated in place.
#[derive(Default)]
pub struct Incremental {
    pub cache: crate::render::RenderCache,
    /// Set when `content/` may have changed (the watcher, an automatic incident, a new config).
    pub content_dirty: bool,
    content: Option<Content>,
    /// The manifest of the last write to the output folder (none before the first).
    wrote: Option<(Arc<output::Manifest>, output::ManifestStamp)>,
    /// The manifest's history layer, shared while the site's is.
    manifest_memo: output::ManifestMemo,
    /// What the last content scan read (so the next reads only what changed).
    pub scan: content::ScanCache,
    /// The content hash of each file as of the last load of incidents and maintenances.
    loaded: HashMap<(Kind, String), String>,
    /// Since when the daemon's monitoring cannot judge (set by the daemon; shown on the page).
    pub monitoring_impaired_since: Option<DateTime<Utc>>,
    /// What the incidents contributed to the last snapshot.
    incident_summary: Option<Arc<crate::snapshot::IncidentSummary>>,
    /// How content is imported (strict for one-shot commands).
    pub mode: Strictness,
    /// From the last import: problems of files whose last good version stays (lenient), and
    /// warnings.
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// From the last import: changes still settling (import again after this long).
    pub settling: Option<Duration>,
    /// From the last import: incidents whose file was renamed, (old id, new id).
    pub moved: Vec<(String, String)>,
    /// Every old incident address that redirects, (old id, id now), as of the last import.
    redirects: Arc<Vec<(String, String)>>,
    /// The per-region figures shown (a cluster's), and the hour they were read.
    regions: Option<(i64, RegionFigures)>,
}

type RegionFigures = std::collections::BTreeMap<String, Vec<crate::store::RegionLatency>>;

/// The per-region figures to show: read again at each hour, or as soon as a region appears or
/// goes (their counts move with every check: shown as they were, every page would change at
/// every render, and be uploaded again).
fn region_figures(
    store: &Store,
    today: chrono::NaiveDate,
    now: DateTime<Utc>,
    cache: &mut Option<(i64, RegionFigures)>,
) -> Result<RegionFigures> {
    let hour = now.timestamp().div_euclid(3600);
    let fresh = store.region_latency(today)?;
    let keys = |m: &RegionFigures| -> Vec<(String, String)> {
        m.iter()
            .flat_map(|(c, v)| v.iter().map(move |r| (c.clone(), r.region.clone())))
            .collect()
    };
    let stale = match cache {
        Some((h, shown)) => *h != hour || keys(shown) != keys(&fresh),
        None => true,
    };
    if stale {
        *cache = Some((hour, fresh));
    }
    Ok(cache.as_ref().map(|(_, m)| m.clone()).unwrap_or_default())
}

impl Incremental {
    /// For the daemon and `serve`: lenient imports that wait `settle` for changes to settle.
    pub fn lenient(settle: Option<Duration>) -> Incremental {
        Incremental {
            mode: Strictness::Lenient { settle },
            ..Default::default()
        }
    }
}

/// Everything up to the rendered site, without writing it: content imported (as `inc.mode`
/// says; its problems and warnings are left in `inc`), then a snapshot of the store at `now`.
pub fn snapshot(
    config: &Config,
    store: &mut Store,
    now: DateTime<Utc>,
    inc: &mut Incremental,
) -> Result<Snapshot> {
    let components: Vec<(String, String)> = config
        .components
        .iter()
        .map(|c| (c.id.to_string(), c.name.to_string()))
        .collect();
    store.sync_components(&components, now)?;
    let (incidents, maintenances) = match (&inc.content, inc.content_dirty) {
        (Some(content), false) => content.clone(),
        (previous, _) => {
            let report = import_content(config, store, now, inc.mode, &mut inc.scan)?;
            inc.problems = report.problems;
            inc.warnings = report.warnings;
            inc.settling = report.settling;
            inc.moved = report.moved;
            inc.redirects = Arc::new(store.incident_moves()?);
            // After the first load, read again only the files that changed since (whoever
            // imported them: `pharos incident` imports into the same store).
            let loaded = std::mem::replace(&mut inc.loaded, report.hashes);
            let touched = |kind: Kind| -> HashSet<String> {
                type Hashes = HashMap<(Kind, String), String>;
                let differs = |a: &Hashes, b: &Hashes| {
                    a.iter()
                        .filter(|(k, h)| k.0 == kind && b.get(*k) != Some(*h))
                        .map(|((_, id), _)| id.clone())
                        .collect::<Vec<_>>()
                };
                let mut ids: HashSet<String> = differs(&inc.loaded, &loaded).into_iter().collect();
                ids.extend(differs(&loaded, &inc.loaded));
                ids
            };
            let content = match previous {
                Some((incidents, maintenances)) => (
                    match touched(Kind::Incident) {
                        ids if ids.is_empty() => incidents.clone(),
                        ids => Arc::new(store.incidents_patched(incidents, &ids)?),
                    },
                    if !touched(Kind::Maintenance).is_empty() {
                        Arc::new(store.maintenances()?)
                    } else {
                        maintenances.clone()
                    },
                ),
                None => (
                    Arc::new(store.incidents()?),
                    Arc::new(store.maintenances()?),
                ),
            };
            inc.content = Some(content.clone());
            inc.content_dirty = false;
            content
        }
    };
    let tz = config.tz();
    let today = crate::time::local_day(now, tz);
    let from = today - chrono::Duration::days(i64::from(config.site.history_days.max(1)) - 1);
    let stored = StoredState {
        incidents,
        maintenances,
        rollups: store.daily_rollups(from, today)?,
        component_created: store.component_created()?,
        monitor_statuses: store.monitor_statuses()?,
        incident_summary: inc.incident_summary.take(),
        component_events: store
            .recent_events(
                &[crate::model::EventKind::ComponentStatus],
                config.site.feed_entries,
            )?
            .into_iter()
            .map(|e| (e.key, e.event))
            .collect(),
        removed_components: store.removed_components()?,
        moved: inc.redirects.clone(),
        regions: region_figures(store, today, now, &mut inc.regions)?,
    };
    let (groups, comps) = snapshot::structure(config, &stored.component_created, now);
    let site = SiteInfo::from_config(config, read_logo(config)?);
    let mut snap = Snapshot::derive(site, groups, comps, stored, now);
    snap.monitoring_impaired_since = inc.monitoring_impaired_since;
    snap.subscribe = config.subscriptions().map(|s| {
        let ids: Vec<&str> = snap.components.iter().map(|c| c.info.id.as_str()).collect();
        snapshot::SubscribeInfo {
            form: crate::postform::subscribe_form(s, &snap.site.base_url, &ids, now),
            expire: s.expire.0,
        }
    });
    Ok(snap)
}

/// Render with the config's theme, reusing unchanged pages from `cache`.
pub fn render_site(
    config: &Config,
    snap: &Snapshot,
    cache: &mut render::RenderCache,
) -> Result<Site> {
    let theme = crate::theme::load(config)?;
    Ok(render::render(snap, &theme, cache)?)
}

#[derive(Debug)]
pub struct BuildReport {
    pub out: PathBuf,
    pub write: WriteReport,
    /// How long each step took.
    pub phases: [(&'static str, Duration); 3],
    /// Content warnings (history naming removed components), for the command to print.
    pub warnings: Vec<Problem>,
}

/// `pharos build`: a full build from the store at the config's path, strict about content.
pub fn build(config: &Config, out: Option<&Path>, now: DateTime<Utc>) -> Result<BuildReport> {
    let mut store = Store::open(&config.database_path())?;
    let built = update(&mut store, config, out, now, &mut Incremental::default())?.written()?;
    Ok(built.report)
}

/// Everything one build produced.
pub struct Built {
    pub report: BuildReport,
    pub snapshot: Snapshot,
    /// The rendered site, for publishers (the same bytes as the folder; its manifest is
    /// `report.write.manifest`).
    pub site: std::sync::Arc<Site>,
    /// Why the output folder could not be written (full disk, read-only, ...). The folder keeps
    /// its previous site and `report.write` lists nothing changed; the rendered site is whole
    /// and can still go to the publish targets.
    pub write_error: Option<anyhow::Error>,
}

impl Built {
    /// The build as a result: an error if the output folder was not written.
    pub fn written(self) -> Result<Built> {
        match self.write_error {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }
}

/// The pipeline as an update of what `inc` remembers, keeping the rendered site (to publish
/// it). With a fresh [`Incremental`] this is a full build whose output replaces the folder
/// atomically; with one kept from earlier builds, only what changed is imported, rendered and
/// written.
pub fn update(
    store: &mut Store,
    config: &Config,
    out: Option<&Path>,
    now: DateTime<Utc>,
    inc: &mut Incremental,
) -> Result<Built> {
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.output_path());
    let t = Instant::now();
    let snapshot = snapshot(config, store, now, inc)?;
    inc.incident_summary = Some(snapshot.incident_summary.clone());
    let snapshot_time = t.elapsed();
    let t = Instant::now();
    let site = render_site(config, &snapshot, &mut inc.cache)?;
    let render_time = t.elapsed();
    let t = Instant::now();
    let known = |path: &str| inc.cache.sha_of(path);
    let manifest = output::Manifest::of(
        &site,
        &config.publish.cache_control,
        &known,
        &mut inc.manifest_memo,
    );
    let manifest = std::sync::Arc::new(manifest);
    let written = match &inc.wrote {
        Some((previous, stamp)) => {
            output::write_changes(&site, &out, manifest.clone(), Some((previous, *stamp)))
        }
        None => output::write_site(&site, &out, manifest.clone()),
    }
    .with_context(|| format!("cannot write the site to {}", out.display()));
    let (write, write_error) = match written {
        Ok(write) => {
            inc.wrote = output::manifest_stamp(&out).map(|stamp| (write.manifest.clone(), stamp));
            (write, None)
        }
        // The folder keeps its previous site (see `output`); the rendered one is still whole.
        Err(e) => (
            WriteReport {
                files: site.files.len(),
                bytes: output::site_bytes(&site),
                manifest,
                ..Default::default()
            },
            Some(e),
        ),
    };
    let report = BuildReport {
        out,
        write,
        phases: [
            ("import+snapshot", snapshot_time),
            ("render", render_time),
            ("write", t.elapsed()),
        ],
        warnings: inc.warnings.clone(),
    };
    Ok(Built {
        report,
        snapshot,
        site: std::sync::Arc::new(site),
        write_error,
    })
}
