//! Statuspage-compatible API v2 files under `api/v2/`, with Statuspage's field names, enums and
//! nesting, so existing Statuspage clients work against the bucket unchanged. Every documented
//! key is present, null when empty.

use super::{CacheClass, RenderError, Site, content_type_for, public_json};
use crate::model::{ComponentStatus, Incident, IncidentStatus};
use crate::snapshot::{MaintenanceInstance, Snapshot};
use crate::time::iso;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Statuspage lists the 50 most recent incidents / maintenances.
const LIST_LIMIT: usize = 50;

struct Api<'a> {
    snap: &'a Snapshot,
    /// Component and group objects in page order.
    components: Vec<Value>,
}

impl<'a> Api<'a> {
    fn new(snap: &'a Snapshot) -> Api<'a> {
        let mut out: Vec<Value> = Vec::new();
        let mut groups_done: Vec<&str> = Vec::new();
        let page_id = &snap.site.page_id;
        for c in &snap.components {
            if let Some(gid) = c.info.group.as_deref()
                && !groups_done.contains(&gid)
            {
                groups_done.push(gid);
                let members: Vec<_> = snap
                    .components
                    .iter()
                    .filter(|m| m.info.group.as_deref() == Some(gid))
                    .collect();
                let info = snap.groups.iter().find(|g| g.id == gid);
                out.push(json!({
                    "id": gid,
                    "name": info.map(|g| g.name.as_str()).unwrap_or(gid),
                    "status": members.iter().map(|m| m.status).max().unwrap_or(ComponentStatus::Operational),
                    "created_at": iso(members.iter().map(|m| m.info.created_at).min().unwrap_or_default()),
                    "updated_at": iso(members.iter().map(|m| m.updated_at).max().unwrap_or_default()),
                    "position": out.len() + 1,
                    "description": info.and_then(|g| g.description.as_deref()),
                    "showcase": false,
                    "start_date": null,
                    "group_id": null,
                    "page_id": page_id,
                    "group": true,
                    "only_show_if_degraded": false,
                    "components": members.iter().map(|m| m.info.id.as_str()).collect::<Vec<_>>(),
                }));
            }
            out.push(json!({
                "id": c.info.id,
                "name": c.info.name,
                "status": c.status,
                "created_at": iso(c.info.created_at),
                "updated_at": iso(c.updated_at),
                "position": out.len() + 1,
                "description": c.info.description,
                "showcase": true,
                "start_date": c.info.created_at.date_naive().to_string(),
                "group_id": c.info.group,
                "page_id": page_id,
                "group": false,
                "only_show_if_degraded": c.info.only_show_if_degraded,
            }));
        }
        Api {
            snap,
            components: out,
        }
    }

    fn page(&self, updated_at: DateTime<Utc>) -> Value {
        json!({
            "id": self.snap.site.page_id,
            "name": self.snap.site.title,
            "url": self.snap.site.base_url,
            "time_zone": self.snap.site.tz.name(),
            "updated_at": iso(updated_at),
        })
    }

    fn component_objects(&self, ids: impl Iterator<Item = &'a str>) -> Vec<Value> {
        ids.filter_map(|id| {
            self.components
                .iter()
                .find(|c| c["id"] == id && c["group"] == false)
                .cloned()
        })
        .collect()
    }

    fn shortlink(&self, kind: &str, id: &str) -> String {
        format!("{}/{kind}/{id}/index.html", self.snap.site.base_url)
    }

    fn incident(&self, i: &Incident) -> Value {
        let n = i.updates.len();
        let first_resolved = i
            .updates
            .iter()
            .rposition(|u| u.status == IncidentStatus::Resolved);
        let updates: Vec<Value> = i
            .updates
            .iter()
            .enumerate()
            .map(|(seq, u)| {
                // Components change when the incident opens (the oldest update) and resolves.
                let affected = if seq == n - 1 {
                    Some(self.affected(i, true))
                } else if Some(seq) == first_resolved {
                    Some(self.affected(i, false))
                } else {
                    None
                };
                json!({
                    "id": format!("{}-{}", i.id, n - seq),
                    "status": u.status,
                    "body": u.body_md,
                    "incident_id": i.id,
                    "created_at": iso(u.at),
                    "updated_at": iso(u.at),
                    "display_at": iso(u.at),
                    "affected_components": affected,
                    "deliver_notifications": true,
                    "custom_tweet": null,
                    "tweet_id": null,
                })
            })
            .collect();
        json!({
            "id": i.id,
            "name": i.title,
            "status": i.status(),
            "created_at": iso(i.created_at()),
            "updated_at": iso(i.updated_at()),
            "monitoring_at": i.time_of(IncidentStatus::Monitoring).map(iso),
            "resolved_at": i.resolved_at().map(iso),
            "impact": i.impact,
            "shortlink": self.shortlink("incidents", &i.id),
            "started_at": iso(i.created_at()),
            "page_id": self.snap.site.page_id,
            "incident_updates": updates,
            "components": self.component_objects(i.components.iter().map(|(c, _)| c.as_str())),
        })
    }

    fn affected(&self, i: &Incident, opening: bool) -> Vec<Value> {
        i.components
            .iter()
            .map(|(id, effect)| {
                let name = self
                    .snap
                    .component(id)
                    .map(|c| c.info.name.as_str())
                    .unwrap_or(id);
                let (old, new) = if opening {
                    (ComponentStatus::Operational, *effect)
                } else {
                    (*effect, ComponentStatus::Operational)
                };
                json!({"code": id, "name": name, "old_status": old, "new_status": new})
            })
            .collect()
    }

    fn maintenance(&self, m: &MaintenanceInstance) -> Value {
        let n = m.updates.len();
        let updates: Vec<Value> = m
            .updates
            .iter()
            .enumerate()
            .map(|(seq, u)| {
                json!({
                    "id": format!("{}-{}", m.id, n - seq),
                    "status": u.status,
                    "body": u.body_md,
                    "incident_id": m.id,
                    "created_at": iso(u.at),
                    "updated_at": iso(u.at),
                    "display_at": iso(u.at),
                    "affected_components": null,
                    "deliver_notifications": true,
                    "custom_tweet": null,
                    "tweet_id": null,
                })
            })
            .collect();
        let completed = m.status == crate::model::MaintenanceStatus::Completed;
        json!({
            "id": m.id,
            "name": m.title,
            "status": m.status,
            "created_at": iso(m.created_at),
            "updated_at": iso(m.updated_at()),
            "monitoring_at": null,
            "resolved_at": completed.then(|| iso(m.updated_at())),
            "impact": "maintenance",
            "shortlink": self.shortlink("maintenance", &m.id),
            "started_at": iso(m.from),
            "page_id": self.snap.site.page_id,
            "incident_updates": updates,
            "components": self.component_objects(m.components.iter().map(String::as_str)),
            "scheduled_for": iso(m.from),
            "scheduled_until": iso(m.until),
        })
    }

    fn status(&self) -> Value {
        json!({
            "indicator": self.snap.overall.indicator,
            "description": self.snap.overall.description,
        })
    }
}

pub fn render(snap: &Snapshot, site: &mut Site) -> Result<(), RenderError> {
    let api = Api::new(snap);
    let state_time = snap.last_change;
    let mut put = |name: &str, value: Value| -> Result<(), RenderError> {
        let bytes = public_json("API file", &value)?;
        site.add(
            format!("api/v2/{name}"),
            bytes,
            content_type_for("json"),
            CacheClass::Short,
        );
        Ok(())
    };
    let unresolved: Vec<Value> = snap.open_incidents().map(|i| api.incident(i)).collect();
    let upcoming: Vec<Value> = snap
        .upcoming_maintenances()
        .map(|m| api.maintenance(m))
        .collect();
    let active: Vec<Value> = snap
        .active_maintenances()
        .map(|m| api.maintenance(m))
        .collect();
    // Most recent first: newest start first.
    let recent_maintenance: Vec<Value> = snap
        .maintenances
        .iter()
        .rev()
        .take(LIST_LIMIT)
        .map(|m| api.maintenance(m))
        .collect();
    let summary_maintenance: Vec<Value> = active.iter().chain(upcoming.iter()).cloned().collect();

    put(
        "summary.json",
        json!({
            "page": api.page(state_time),
            "components": api.components,
            "incidents": unresolved,
            "scheduled_maintenances": summary_maintenance,
            "status": api.status(),
        }),
    )?;
    put(
        "status.json",
        json!({"page": api.page(state_time), "status": api.status()}),
    )?;
    put(
        "components.json",
        json!({"page": api.page(state_time), "components": api.components}),
    )?;
    put(
        "incidents.json",
        json!({"page": api.page(state_time), "incidents": snap.incidents.iter().take(LIST_LIMIT).map(|i| api.incident(i)).collect::<Vec<_>>()}),
    )?;
    put(
        "incidents/unresolved.json",
        json!({"page": api.page(state_time), "incidents": unresolved}),
    )?;
    put(
        "scheduled-maintenances.json",
        json!({"page": api.page(state_time), "scheduled_maintenances": recent_maintenance}),
    )?;
    put(
        "scheduled-maintenances/upcoming.json",
        json!({"page": api.page(state_time), "scheduled_maintenances": upcoming}),
    )?;
    put(
        "scheduled-maintenances/active.json",
        json!({"page": api.page(state_time), "scheduled_maintenances": active}),
    )?;
    Ok(())
}
