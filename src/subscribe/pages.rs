//! The capability pages and the public subscribe pages (see the module docs).

// Placeholder until the pages land (replaced by the forms branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapabilityKind {
    Confirm,
    Manage,
}

pub fn capability_path(token: &str) -> String {
    format!("{}/{token}/index.html", crate::subscriber::PAGES_DIR)
}

pub fn capability_page(
    _config: &crate::config::Config,
    _theme: &crate::render::Theme,
    kind: CapabilityKind,
    token: &str,
    _following: &[String],
    _now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, String> {
    Ok(format!("<!doctype html><title>{kind:?}</title><p>{token}</p>").into_bytes())
}
