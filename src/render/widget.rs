//! `widget.json`: a small, versioned document for embeds (and `embed.js`). `stale_after` tells an
//! embed when to stop trusting it: if the daemon and its publishing stop, embeds say so.

use super::{CacheClass, RenderError, Site, content_type_for, public_json};
use crate::snapshot::Snapshot;
use crate::time::iso;
use serde_json::json;

pub const WIDGET_VERSION: u32 = 1;

pub fn render(snap: &Snapshot, site: &mut Site) -> Result<(), RenderError> {
    let base = &snap.site.base_url;
    let stale_after = snap.stamp
        + chrono::Duration::from_std(snap.site.stale_after)
            .unwrap_or_else(|_| chrono::Duration::minutes(15));
    let doc = json!({
        "version": WIDGET_VERSION,
        "generated_at": iso(snap.stamp),
        "stale_after": iso(stale_after),
        "page": {"name": snap.site.title, "url": format!("{base}/")},
        "status": {"indicator": snap.overall.indicator, "description": snap.overall.description},
        "components": snap.components.iter().map(|c| json!({
            "id": c.info.id, "name": c.info.name, "status": c.status,
        })).collect::<Vec<_>>(),
        "incidents": snap.open_incidents().map(|i| json!({
            "id": i.id, "name": i.title, "impact": i.impact, "status": i.status(),
            "url": format!("{base}/incidents/{}/index.html", i.id),
        })).collect::<Vec<_>>(),
        "maintenance": snap.active_maintenances().chain(snap.upcoming_maintenances()).map(|m| json!({
            "id": m.id, "name": m.title, "status": m.status,
            "scheduled_for": iso(m.from), "scheduled_until": iso(m.until),
            "url": format!("{base}/maintenance/{}/index.html", m.id),
        })).collect::<Vec<_>>(),
    });
    site.add(
        "widget.json",
        public_json("widget.json", &doc)?,
        content_type_for("json"),
        CacheClass::Short,
    );
    Ok(())
}
