//! HTML pages through Tera. Admin text only ever enters as context values (autoescaped), never
//! as template source; sanitized Markdown HTML is the only thing printed with `| safe`.

use super::view::{
    IncidentView, MonthLink, RegionView, SiteView, StatView, Views, month_label, year_month,
};
use super::{CacheClass, OutputFile, RenderError, Site, Theme, content_type_for};
use crate::model::{ComponentStatus, Incident};
use crate::snapshot::Snapshot;
use chrono::Duration as ChronoDuration;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tera::{Context, Tera};

pub fn build_tera(theme: &Theme) -> Result<Tera, RenderError> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html"]);
    // Tera's default also escapes '/', which bloats every URL; these five are what HTML needs.
    tera.set_escape_fn(crate::escape::xml_escape);
    tera.add_raw_templates(
        theme
            .templates
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_str())),
    )
    .map_err(|e| RenderError::Template(crate::error_chain(&e)))?;
    Ok(tera)
}

impl RenderCache {
    /// The SHA-256 of a page rendered or reused by the last render, so the manifest need not
    /// hash unchanged pages again.
    pub fn sha_of(&self, path: &str) -> Option<String> {
        self.pages.get(path).map(|(_, _, sha)| sha.clone())
    }
}

/// Rendered pages by path, with a key of everything the page was rendered from. Incident and
/// month pages are most of a long history and rarely change: with the cache, a render only runs
/// the templates of pages whose inputs changed. Keys are derived from inputs only, so a cached
/// render gives the same bytes as a fresh one.
#[derive(Default)]
pub struct RenderCache {
    /// path -> (input key, bytes, SHA-256 of the bytes)
    pages: HashMap<String, (u64, std::sync::Arc<[u8]>, String)>,
    /// Pages taken from the cache in the last render (for tests and logs).
    pub hits: usize,
    /// A hash of each incident of the list it was computed for: while the daemon's imported
    /// content is unchanged (the same list), no incident is hashed again.
    fingerprints: Option<Fingerprints>,
    /// The history layer (incident and month pages) and the key it was rendered for: reused
    /// whole, without visiting its pages, while the incidents, names and site are unchanged.
    history: Option<(u64, Arc<Vec<Incident>>, HistoryLayer)>,
    /// The parsed templates and the hash of their sources.
    tera: Option<(u64, Tera)>,
}

/// The incident and month pages of a site.
type HistoryLayer = Arc<BTreeMap<String, OutputFile>>;

/// An incident list and one hash per incident of it.
type Fingerprints = (Arc<Vec<Incident>>, Arc<Vec<u64>>);

impl RenderCache {
    /// One hash per incident of `incidents`, in order.
    fn fingerprints(&mut self, incidents: &Arc<Vec<Incident>>) -> Arc<Vec<u64>> {
        if let Some((list, prints)) = &self.fingerprints
            && Arc::ptr_eq(list, incidents)
        {
            return prints.clone();
        }
        let prints: Arc<Vec<u64>> = Arc::new(incidents.iter().map(key_of).collect());
        self.fingerprints = Some((incidents.clone(), prints.clone()));
        prints
    }
}

/// A page to render: where, with which template, its cache key (before [`Pages::page_key`]),
/// and how to build its context (run on a worker thread).
struct Job<'s> {
    path: String,
    template: &'static str,
    title: Option<String>,
    key: u64,
    ctx: Box<dyn Fn(&Views) -> Context + Sync + 's>,
}

struct Pages<'a> {
    tera: Tera,
    views: Views<'a>,
    site: SiteView,
    /// The layer being rendered.
    out: BTreeMap<String, OutputFile>,
    cache: &'a mut RenderCache,
    /// Hash of the site-wide inputs of every page (site view, templates).
    site_key: u64,
    /// Hash of each incident (`snap.incidents` order).
    prints: Arc<Vec<u64>>,
    /// Hash of every component's name: incident pages show the names of their components.
    names_key: u64,
}

fn key_of(parts: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl Pages<'_> {
    /// A page whose context comes from `ctx` and depends on nothing but `key` (and the site):
    /// from the cache when the key is unchanged.
    fn cached_page(
        &mut self,
        path: &str,
        template: &str,
        title: Option<&str>,
        key: u64,
        ctx: impl FnOnce(&Views) -> Context,
    ) -> Result<(), RenderError> {
        let key = self.page_key(key, template, title);
        if self.reuse(path, key) {
            return Ok(());
        }
        let ctx = ctx(&self.views);
        let html = render_html(&self.tera, &self.site, path, template, title, ctx)?;
        self.keep(path.to_string(), key, html.into());
        Ok(())
    }

    /// The cache key of a page: its own inputs' `key`, the site's, and how it is rendered.
    fn page_key(&self, key: u64, template: &str, title: Option<&str>) -> u64 {
        key_of((self.site_key, key, template, title))
    }

    /// Take `path` from the cache into the layer if it was rendered for `key`.
    fn reuse(&mut self, path: &str, key: u64) -> bool {
        match self.cache.pages.get(path) {
            Some((k, bytes, _)) if *k == key => {
                self.cache.hits += 1;
                self.out.insert(path.to_string(), html_file(bytes.clone()));
                true
            }
            _ => false,
        }
    }

    /// Render the `jobs` the cache does not have, on every core (a first build renders
    /// thousands).
    fn render_jobs(&mut self, jobs: Vec<Job>) -> Result<(), RenderError> {
        let mut misses = Vec::new();
        for mut job in jobs {
            job.key = self.page_key(job.key, job.template, job.title.as_deref());
            if !self.reuse(&job.path, job.key) {
                misses.push(job);
            }
        }
        let (tera, site, views) = (&self.tera, &self.site, &self.views);
        let rendered = crate::par_map(&misses, |j| {
            let ctx = (j.ctx)(views);
            let html = render_html(tera, site, &j.path, j.template, j.title.as_deref(), ctx)?;
            let sha = crate::ids::hex(&sha2::Sha256::digest(&html));
            // Shared bytes made here: converting all of them afterwards would hold every page
            // twice at the peak (230 MB at 50,000 incidents).
            let bytes: Arc<[u8]> = html.into();
            Ok::<_, RenderError>((bytes, sha))
        });
        for (job, result) in misses.into_iter().zip(rendered) {
            let (bytes, sha) = result?;
            self.keep_hashed(job.path, job.key, bytes, sha);
        }
        Ok(())
    }

    /// Put a freshly rendered page into the layer and the cache.
    fn keep(&mut self, path: String, key: u64, bytes: Arc<[u8]>) {
        let sha = crate::ids::hex(&sha2::Sha256::digest(&bytes));
        self.keep_hashed(path, key, bytes, sha);
    }

    fn keep_hashed(&mut self, path: String, key: u64, bytes: Arc<[u8]>, sha: String) {
        self.out.insert(path.clone(), html_file(bytes.clone()));
        self.cache.pages.insert(path, (key, bytes, sha));
    }

    fn page(
        &mut self,
        path: &str,
        template: &str,
        title: Option<&str>,
        ctx: Context,
    ) -> Result<(), RenderError> {
        let html = render_html(&self.tera, &self.site, path, template, title, ctx)?;
        self.out.insert(path.to_string(), html_file(html.into()));
        Ok(())
    }
}

/// One page: the template with `ctx` and what every page gets (root, site, title).
fn render_html(
    tera: &Tera,
    site: &SiteView,
    path: &str,
    template: &str,
    title: Option<&str>,
    mut ctx: Context,
) -> Result<Vec<u8>, RenderError> {
    let depth = path.matches('/').count();
    ctx.insert("root", &"../".repeat(depth));
    ctx.insert("site", site);
    let page_title = match title {
        Some(t) => format!("{t} · {}", site.title),
        None => site.title.clone(),
    };
    ctx.insert("page_title", &page_title);
    let html = tera
        .render(template, &ctx)
        .map_err(|e| RenderError::Template(format!("{template}: {}", crate::error_chain(&e))))?;
    Ok(html.into_bytes())
}

fn html_file(bytes: Arc<[u8]>) -> OutputFile {
    OutputFile {
        bytes,
        content_type: content_type_for("html"),
        cache: CacheClass::Short,
    }
}

fn favicon(class: &str) -> String {
    let colour = match class {
        "ok" => "%231f883d",
        "maintenance" => "%230969da",
        "minor" => "%23d4a72c",
        "major" => "%23fb8f44",
        "critical" => "%23cf222e",
        _ => "%23656d76",
    };
    format!(
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='{colour}'/%3E%3C/svg%3E"
    )
}

/// What every page shows of the site: its settings, stylesheet and logo paths, and whether it
/// links to the subscribe page.
pub(crate) fn site_view(
    info: &crate::snapshot::SiteInfo,
    css: &str,
    logo: Option<&str>,
    subscribe: bool,
) -> SiteView {
    SiteView {
        title: info.title.clone(),
        description: info.description.clone(),
        base_url: info.base_url.clone(),
        links: info
            .links
            .iter()
            .map(|l| super::view::LinkView {
                title: l.title.clone(),
                url: l.url.clone(),
            })
            .collect(),
        logo: logo.map(str::to_string),
        css: css.to_string(),
        time_zone: info.tz.name().to_string(),
        favicon: favicon("neutral"),
        subscribe,
    }
}

/// One page outside a site render (a capability page): the theme's templates, `site` and `ctx`.
/// Pages rendered one at a time outside the site (the capability pages): the theme's templates
/// parsed once, with the site as every page sees it.
pub struct PageRenderer {
    tera: Tera,
    site: SiteView,
}

impl PageRenderer {
    pub(crate) fn new(theme: &Theme, site: SiteView) -> Result<PageRenderer, RenderError> {
        Ok(PageRenderer {
            tera: build_tera(theme)?,
            site,
        })
    }

    pub(crate) fn page(
        &self,
        path: &str,
        template: &str,
        title: Option<&str>,
        ctx: Context,
    ) -> Result<Vec<u8>, RenderError> {
        render_html(&self.tera, &self.site, path, template, title, ctx)
    }
}

pub fn render_pages(
    snap: &Snapshot,
    theme: &Theme,
    css: &str,
    logo: Option<&str>,
    out: &mut Site,
    cache: &mut RenderCache,
) -> Result<(), RenderError> {
    let views = Views { snap };
    let site = site_view(&snap.site, css, logo, snap.subscribe.is_some());
    let site_key = key_of((
        serde_json::to_string(&site).unwrap_or_default(),
        &theme.templates,
        snap.site.tz.name(),
    ));
    cache.hits = 0;
    let prints = cache.fingerprints(&snap.incidents);
    let mut removed: Vec<_> = snap.removed_components.iter().collect();
    removed.sort();
    let names_key = key_of((
        snap.components
            .iter()
            .map(|c| (&c.info.id, &c.info.name))
            .collect::<Vec<_>>(),
        removed,
    ));
    let templates_key = key_of(&theme.templates);
    let tera = match cache.tera.take() {
        Some((k, tera)) if k == templates_key => tera,
        _ => build_tera(theme)?,
    };
    let history_key = key_of((site_key, names_key));
    let history_layer = match &cache.history {
        Some((k, list, layer)) if *k == history_key && Arc::ptr_eq(list, &snap.incidents) => {
            Some(layer.clone())
        }
        _ => None,
    };
    let mut p = Pages {
        prints,
        names_key,
        tera,
        views,
        site,
        out: BTreeMap::new(),
        cache,
        site_key,
    };
    let result = render_layers(&mut p, snap, history_layer, history_key);
    p.cache.tera = Some((templates_key, p.tera));
    let history = result?;
    out.files.live.append(&mut p.out);
    out.files.history = history;
    Ok(())
}

/// The history layer (from the cache when given), then the live pages into `p.out`.
fn render_layers(
    p: &mut Pages,
    snap: &Snapshot,
    cached: Option<Arc<BTreeMap<String, OutputFile>>>,
    history_key: u64,
) -> Result<Arc<BTreeMap<String, OutputFile>>, RenderError> {
    let history = match cached {
        Some(layer) => {
            p.cache.hits += layer.len();
            layer
        }
        None => {
            history_pages(p, snap)?;
            let layer = Arc::new(std::mem::take(&mut p.out));
            p.cache.history = Some((history_key, snap.incidents.clone(), layer.clone()));
            layer
        }
    };
    index(p, snap)?;
    for m in &snap.maintenances {
        let mut ctx = Context::new();
        ctx.insert("maintenance", &p.views.maintenance(m));
        p.page(
            &format!("maintenance/{}/index.html", m.id),
            "maintenance.html",
            Some(&m.title),
            ctx,
        )?;
    }
    components(p, snap)?;
    if let Some(sub) = &snap.subscribe {
        for page in super::subscribe::public(snap, sub) {
            p.page(&page.path, page.template, Some(page.title), page.ctx)?;
        }
    }
    for (old, new) in snap.moved.iter() {
        let title = snap
            .incidents
            .iter()
            .find(|i| &i.id == new)
            .map_or(new.as_str(), |i| i.title.as_str());
        // Through the page cache, which also tells the manifest each page's hash.
        let path = format!("incidents/{old}/index.html");
        let key = key_of(("moved", new, title, &snap.site.base_url));
        if !p.reuse(&path, key) {
            let page = moved_page(&snap.site.base_url, new, title);
            p.keep(path, key, page.into_bytes().into());
        }
    }
    Ok(history)
}

/// The page left at a renamed incident's old address: it sends visitors (and links in old
/// notifications) to the new one, with JavaScript off too.
fn moved_page(base_url: &str, new: &str, title: &str) -> String {
    let (title, base_url) = (
        crate::escape::xml_escape(title),
        crate::escape::xml_escape(base_url),
    );
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"0; url=../{new}/index.html\">\n<meta name=\"robots\" content=\"noindex\">\n<link rel=\"canonical\" href=\"{base_url}/incidents/{new}/index.html\">\n<title>{title}</title>\n</head>\n<body>\n<p>This incident has moved: <a href=\"../{new}/index.html\">{title}</a>.</p>\n</body>\n</html>\n"
    )
}

/// Incident pages, the month pages and the month list: everything that depends on the
/// incidents and component names only.
fn history_pages(p: &mut Pages, snap: &Snapshot) -> Result<(), RenderError> {
    let mut jobs = history(p, snap)?;
    for (n, i) in snap.incidents.iter().enumerate() {
        jobs.push(Job {
            path: format!("incidents/{}/index.html", i.id),
            template: "incident.html",
            title: Some(i.title.clone()),
            // The page shows the incident and the names of the components it names.
            key: key_of((p.prints[n], p.names_key)),
            ctx: Box::new(move |v| {
                let mut ctx = Context::new();
                ctx.insert("incident", &v.incident(i));
                ctx
            }),
        });
    }
    p.render_jobs(jobs)
}

fn index(p: &mut Pages, snap: &Snapshot) -> Result<(), RenderError> {
    let v = &p.views;
    let today = snap.today();
    let since = today - ChronoDuration::days(i64::from(snap.site.recent_days.max(1)) - 1);
    let since = crate::time::day_start(since, snap.site.tz);
    // The newest few: a busy history must not make the front page heavy (the rest is a link
    // away, on the month pages).
    let mut recent: Vec<&Incident> = snap
        .incidents
        .iter()
        .filter(|i| i.resolved_at().is_some_and(|t| t <= snap.now && t >= since))
        .collect();
    let more_recent = recent.len().saturating_sub(RECENT_LIMIT);
    recent.truncate(RECENT_LIMIT);
    let recent: Vec<IncidentView> = recent.into_iter().map(|i| v.incident(i)).collect();
    let mut ctx = Context::new();
    ctx.insert("groups", &v.groups());
    ctx.insert(
        "active_incidents",
        &snap
            .open_incidents()
            .map(|i| v.incident(i))
            .collect::<Vec<_>>(),
    );
    ctx.insert(
        "active_maintenance",
        &snap
            .active_maintenances()
            .map(|m| v.maintenance(m))
            .collect::<Vec<_>>(),
    );
    ctx.insert(
        "upcoming_maintenance",
        &snap
            .upcoming_maintenances()
            .map(|m| v.maintenance(m))
            .collect::<Vec<_>>(),
    );
    ctx.insert("recent_incidents", &recent);
    ctx.insert("more_recent", &more_recent);
    ctx.insert("recent_days", &snap.site.recent_days);
    ctx.insert("updated", &v.time(snap.stamp));
    ctx.insert(
        "monitoring_impaired_since",
        &snap.monitoring_impaired_since.map(|t| v.time(t)),
    );
    ctx.insert("status_favicon", &favicon(&v.overall().class));
    ctx.insert("overall", &v.overall());
    p.page("index.html", "index.html", None, ctx)
}

/// `history/index.html` lists months; `history/YYYY-MM/index.html` holds each month's incidents.
/// Month pages keep their content when new incidents arrive in other months.
/// The month list (rendered here) and the month pages (returned, to render with the rest).
fn history<'s>(p: &mut Pages, snap: &'s Snapshot) -> Result<Vec<Job<'s>>, RenderError> {
    let tz = snap.site.tz;
    let mut months: BTreeMap<(i32, u32), Vec<usize>> = BTreeMap::new();
    for (idx, i) in snap.incidents.iter().enumerate() {
        months
            .entry(year_month(crate::time::local_day(i.created_at(), tz)))
            .or_default()
            .push(idx);
    }
    let link = |(y, m): (i32, u32), count: usize| MonthLink {
        label: month_label(y, m),
        url: format!("history/{y:04}-{m:02}/index.html"),
        count,
    };
    let keys: Vec<(i32, u32)> = months.keys().rev().copied().collect();
    let mut ctx = Context::new();
    ctx.insert(
        "months",
        &keys
            .iter()
            .map(|k| link(*k, months[k].len()))
            .collect::<Vec<_>>(),
    );
    ctx.insert("incidents_total", &snap.incidents.len());
    p.page(
        "history/index.html",
        "history.html",
        Some("Incident history"),
        ctx,
    )?;
    let mut jobs = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        let newer = n
            .checked_sub(1)
            .map(|j| link(keys[j], months[&keys[j]].len()));
        let older = keys.get(n + 1).map(|k| link(*k, months[k].len()));
        let month: Vec<&Incident> = months[key].iter().map(|i| &snap.incidents[*i]).collect();
        let prints: Vec<u64> = months[key].iter().map(|i| p.prints[*i]).collect();
        let links = (
            newer.as_ref().map(|l| (&l.url, l.count)),
            older.as_ref().map(|l| (&l.url, l.count)),
        );
        let label = month_label(key.0, key.1);
        jobs.push(Job {
            path: format!("history/{:04}-{:02}/index.html", key.0, key.1),
            template: "history_month.html",
            title: Some(format!("Incidents in {label}")),
            key: key_of((prints, p.names_key, links)),
            ctx: Box::new(move |v| {
                let incidents: Vec<IncidentView> = month.iter().map(|i| v.incident(i)).collect();
                let mut ctx = Context::new();
                ctx.insert("month_label", &label);
                ctx.insert("incidents", &incidents);
                ctx.insert("newer", &newer);
                ctx.insert("older", &older);
                ctx
            }),
        });
    }
    Ok(jobs)
}

/// How many resolved incidents the front page lists.
const RECENT_LIMIT: usize = 10;

/// How many incidents a component page lists.
const COMPONENT_INCIDENTS: usize = 20;

fn components(p: &mut Pages, snap: &Snapshot) -> Result<(), RenderError> {
    // Each component's newest incidents, in one pass over the history.
    let mut listed: HashMap<&str, Vec<usize>> = HashMap::new();
    for (n, i) in snap.incidents.iter().enumerate() {
        for (k, (cid, _)) in i.components.iter().enumerate() {
            if i.components[..k].iter().any(|(c, _)| c == cid) {
                continue;
            }
            let list = listed.entry(cid.as_str()).or_default();
            if list.len() < COMPONENT_INCIDENTS {
                list.push(n);
            }
        }
    }
    for c in &snap.components {
        let id = c.info.id.as_str();
        let v = &p.views;
        let mine: Vec<usize> = listed.remove(id).unwrap_or_default();
        let stats: Vec<StatView> = [
            (1, "Today"),
            (7, "Last 7 days"),
            (30, "Last 30 days"),
            (i64::from(snap.site.history_days), ""),
        ]
        .into_iter()
        .map(|(days, label)| {
            let label = if label.is_empty() {
                format!("Last {days} days")
            } else {
                label.to_string()
            };
            v.uptime_stat(id, days, &label)
        })
        .collect();
        let component = v.component(c);
        let group_name = c
            .info
            .group
            .as_ref()
            .and_then(|g| snap.groups.iter().find(|x| &x.id == g))
            .map(|g| g.name.clone());
        let latency = v.latency_chart(id, snap.site.history_days);
        let operational = c.status == ComponentStatus::Operational;
        let regions: Vec<RegionView> = snap
            .regions
            .get(id)
            .into_iter()
            .flatten()
            .map(|r| RegionView {
                region: r.region.clone(),
                mean: r.mean_ms.map_or("–".to_string(), |ms| format!("{ms} ms")),
                checks: r.checks,
                failed: r.down,
            })
            .collect();
        // Everything the page shows: the views above, and its incidents by fingerprint.
        let shown = serde_json::to_string(&(
            &component,
            &group_name,
            &stats,
            &latency,
            operational,
            &regions,
        ))
        .map_err(|e| RenderError::Json("component page", e))?;
        let prints: Vec<u64> = mine.iter().map(|n| p.prints[*n]).collect();
        let key = key_of((shown, prints, p.names_key));
        let name = c.info.name.clone();
        p.cached_page(
            &format!("components/{id}/index.html"),
            "component.html",
            Some(&name),
            key,
            |v| {
                let incidents: Vec<IncidentView> = mine
                    .iter()
                    .map(|n| v.incident(&snap.incidents[*n]))
                    .collect();
                let mut ctx = Context::new();
                ctx.insert("component", &component);
                ctx.insert("group_name", &group_name);
                ctx.insert("stats", &stats);
                ctx.insert("latency", &latency);
                ctx.insert("regions", &regions);
                ctx.insert("incidents", &incidents);
                ctx.insert("operational", &operational);
                ctx
            },
        )?;
    }
    Ok(())
}
