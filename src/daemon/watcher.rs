//! The file watcher, shared by the daemon and `pharos serve`: `content/`, the config file and
//! the theme folder.

use super::Msg;
use crate::config::Config;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::mpsc::Sender;

/// What a site watcher saw change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// A file under `content/`.
    Content,
    /// The config file.
    Config,
    /// A file of the theme folder (`themes/<name>/`).
    Theme,
}

/// Watch `content/`, the config file and the theme folder, calling `on` for every change
/// (reads are ignored). Shared by the daemon and `pharos serve`.
pub fn watch_site(
    config: &Config,
    on: impl Fn(Changed) + Send + 'static,
) -> Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let content = config.content_path();
    std::fs::create_dir_all(&content)
        .with_context(|| format!("cannot create {}", content.display()))?;
    // Events carry canonical paths; a folder that does not exist yet is named through its parent.
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| match (p.parent(), p.file_name()) {
                (Some(dir), Some(name)) => {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    std::fs::canonicalize(dir).map(|d| d.join(name))
                }
                _ => std::path::absolute(p),
            })
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let config_file = abs(&config.file);
    let content_abs = abs(&content);
    let themes = config.resolve("themes");
    let themes_abs = abs(&themes);
    let config_name = config_file.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        for path in &event.paths {
            if path.starts_with(&content_abs) {
                on(Changed::Content);
            } else if path.starts_with(&themes_abs) {
                on(Changed::Theme);
            } else if path.file_name().map(|n| n.to_os_string()) == config_name {
                on(Changed::Config);
            }
        }
    })?;
    watcher.watch(&content, RecursiveMode::Recursive)?;
    if themes.is_dir() {
        watcher.watch(&themes, RecursiveMode::Recursive)?;
    }
    if let Some(dir) = config_file.parent() {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

/// The daemon's watcher: content and theme edits go straight to the pipeline, config edits come
/// back on `config_tx` to be validated (and monitors restarted) on the async side.
pub(super) fn watch(
    config: &Config,
    tx: Sender<Msg>,
    config_tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher> {
    watch_site(config, move |changed| match changed {
        Changed::Content | Changed::Theme => {
            let _ = tx.send(Msg::Content);
        }
        Changed::Config => {
            let _ = config_tx.send(());
        }
    })
}
