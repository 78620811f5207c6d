//! Render: a pure function from a [`Snapshot`] (and the theme) to every public file.
//!
//! No I/O, no clock: the same snapshot gives byte-identical files, which is what makes "upload only
//! what changed" correct. The freshness stamp reaches only index.html ("Last updated") and
//! widget.json; every API document of one build carries the same `page` object (the state time).

mod api;
mod badges;
mod feeds;
mod html;
mod ical;
pub mod subscribe;
pub mod view;
mod widget;

use crate::layered::Layered;
use crate::snapshot::Snapshot;
use sha2::{Digest, Sha256};

/// How long a CDN may cache a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheClass {
    /// Content-hashed name: cache forever.
    Immutable,
    /// Stable name (HTML, JSON, feeds, badges): short max-age.
    Short,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Shared: a cached page is not copied into every new site.
    pub bytes: std::sync::Arc<[u8]>,
    pub content_type: &'static str,
    pub cache: CacheClass,
}

/// Every file of the site by path relative to the site root (`incidents/x/index.html`), in two
/// layers: the history layer (incident and month pages) is shared with the previous render while
/// the incidents are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    pub files: Layered<OutputFile>,
}

impl Site {
    fn add(
        &mut self,
        path: impl Into<String>,
        bytes: Vec<u8>,
        content_type: &'static str,
        cache: CacheClass,
    ) {
        self.add_shared(path, bytes.into(), content_type, cache);
    }

    fn add_shared(
        &mut self,
        path: impl Into<String>,
        bytes: std::sync::Arc<[u8]>,
        content_type: &'static str,
        cache: CacheClass,
    ) {
        self.files.live.insert(
            path.into(),
            OutputFile {
                bytes,
                content_type,
                cache,
            },
        );
    }
}

/// The templates and static files of a theme (loaded by [`crate::theme`]).
#[derive(Debug, Clone)]
pub struct Theme {
    /// (name, source), e.g. ("index.html", "...").
    pub templates: Vec<(String, String)>,
    pub css: String,
    pub embed_js: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("theme template error: {0}")]
    Template(String),
    #[error("cannot serialize {0}: {1}")]
    Json(&'static str, serde_json::Error),
}

/// `name.<first 10 hex of sha256>.ext`
pub fn hashed_name(stem: &str, ext: &str, bytes: &[u8]) -> String {
    let hash = crate::ids::hex(&Sha256::digest(bytes));
    format!("{stem}.{}.{ext}", &hash[..10])
}

pub fn content_type_for(ext: &str) -> &'static str {
    match ext {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml; charset=utf-8",
        "atom" => "application/atom+xml; charset=utf-8",
        "rss" => "application/rss+xml; charset=utf-8",
        "ics" => "text/calendar; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

pub use html::PageRenderer;
pub use html::RenderCache;
pub(crate) use html::site_view;

/// Where the theme's stylesheet is published (`assets/style.<hash>.css`).
pub fn css_path(theme: &Theme) -> String {
    format!(
        "assets/{}",
        hashed_name("style", "css", theme.css.as_bytes())
    )
}

/// Where a logo is published (`assets/logo.<hash>.<ext>`).
pub fn logo_path(ext: &str, bytes: &[u8]) -> String {
    format!("assets/{}", hashed_name("logo", ext, bytes))
}

/// Render the whole site, reusing pages from `cache` whose inputs did not change (the same bytes
/// as with a fresh cache).
pub fn render(
    snap: &Snapshot,
    theme: &Theme,
    cache: &mut RenderCache,
) -> Result<Site, RenderError> {
    let mut site = Site::default();

    let css_path = css_path(theme);
    site.add(
        css_path.clone(),
        theme.css.as_bytes().to_vec(),
        content_type_for("css"),
        CacheClass::Immutable,
    );
    let logo_path = snap.site.logo.as_ref().map(|(ext, bytes)| {
        let path = logo_path(ext, bytes);
        site.add(
            path.clone(),
            bytes.clone(),
            content_type_for(ext),
            CacheClass::Immutable,
        );
        path
    });
    site.add(
        "embed.js",
        theme.embed_js.as_bytes().to_vec(),
        content_type_for("js"),
        CacheClass::Short,
    );
    // Search engines may index the status page (and crawlers get a valid answer, not a 404).
    site.add(
        "robots.txt",
        format!(
            "User-agent: *\nAllow: /\n{}\n# {} status page\n",
            // Capability pages (confirm, manage) are noindex too; crawlers need not fetch them.
            if snap.subscribe.is_some() {
                let path = snap
                    .site
                    .base_url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.split_once('/'))
                    .map_or("", |(_, p)| p.trim_matches('/'));
                let path = if path.is_empty() {
                    String::new()
                } else {
                    format!("/{path}")
                };
                format!("Disallow: {path}/{}/\n", crate::subscriber::PAGES_DIR)
            } else {
                String::new()
            },
            snap.site.base_url
        )
        .into_bytes(),
        content_type_for("txt"),
        CacheClass::Short,
    );

    html::render_pages(
        snap,
        theme,
        &css_path,
        logo_path.as_deref(),
        &mut site,
        cache,
    )?;
    api::render(snap, &mut site)?;
    widget::render(snap, &mut site)?;
    badges::render(snap, &mut site)?;
    feeds::render(snap, &mut site);
    ical::render(snap, &mut site);
    Ok(site)
}

/// JSON for the public: compact, and with `<`, `>`, `&` escaped so that even a careless embed that
/// pastes a string into HTML cannot be made to run markup. Still the same JSON value.
pub(crate) fn public_json<T: serde::Serialize>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, RenderError> {
    let text = serde_json::to_string(value).map_err(|e| RenderError::Json(what, e))?;
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out.push('\n');
    Ok(out.into_bytes())
}
