//! Themes: the default theme is embedded in the binary; a folder `themes/<name>/` next to the
//! config overrides it file by file (`templates/<page>.html`, `style.css`, `embed.js`), and may add
//! partial templates of its own.

use crate::config::Config;
use crate::render::Theme;
use anyhow::{Context, Result, bail};
use std::path::Path;

const DEFAULT_TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../themes/default/templates/base.html"),
    ),
    (
        "macros.html",
        include_str!("../themes/default/templates/macros.html"),
    ),
    (
        "index.html",
        include_str!("../themes/default/templates/index.html"),
    ),
    (
        "incident.html",
        include_str!("../themes/default/templates/incident.html"),
    ),
    (
        "maintenance.html",
        include_str!("../themes/default/templates/maintenance.html"),
    ),
    (
        "history.html",
        include_str!("../themes/default/templates/history.html"),
    ),
    (
        "history_month.html",
        include_str!("../themes/default/templates/history_month.html"),
    ),
    (
        "component.html",
        include_str!("../themes/default/templates/component.html"),
    ),
    (
        "subscribe.html",
        include_str!("../themes/default/templates/subscribe.html"),
    ),
    (
        "subscribe_choice.html",
        include_str!("../themes/default/templates/subscribe_choice.html"),
    ),
    (
        "subscribe_done.html",
        include_str!("../themes/default/templates/subscribe_done.html"),
    ),
    (
        "subscribe_token.html",
        include_str!("../themes/default/templates/subscribe_token.html"),
    ),
];
const DEFAULT_CSS: &str = include_str!("../themes/default/style.css");
const DEFAULT_EMBED_JS: &str = include_str!("../themes/default/embed.js");

/// The embedded default theme.
pub fn embedded() -> Theme {
    Theme {
        templates: DEFAULT_TEMPLATES
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect(),
        css: DEFAULT_CSS.to_string(),
        embed_js: DEFAULT_EMBED_JS.to_string(),
    }
}

/// The theme named in the config, with overrides from `themes/<name>/` applied.
pub fn load(config: &Config) -> Result<Theme> {
    let name = config.site.theme.as_str();
    let dir = config.resolve(&format!("themes/{name}"));
    if !dir.is_dir() {
        if name == crate::config::DEFAULT_THEME {
            return Ok(embedded());
        }
        bail!(
            "theme {name:?} not found: create the folder {} (with templates/*.html, style.css) or set site.theme to \"default\"",
            dir.display()
        );
    }
    overlay(embedded(), &dir)
}

fn overlay(mut theme: Theme, dir: &Path) -> Result<Theme> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .with_context(|| format!("cannot read theme file {}", p.display()))
    };
    let templates = dir.join("templates");
    if templates.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(&templates)
            .with_context(|| format!("cannot read {}", templates.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "html"))
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let source = read(&path)?;
            match theme.templates.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = source,
                None => theme.templates.push((name, source)),
            }
        }
    }
    if dir.join("style.css").is_file() {
        theme.css = read(&dir.join("style.css"))?;
    }
    if dir.join("embed.js").is_file() {
        theme.embed_js = read(&dir.join("embed.js"))?;
    }
    Ok(theme)
}
