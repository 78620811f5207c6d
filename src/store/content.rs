//! Imported content: incidents and maintenance windows as parsed from `content/`, with what the
//! files cannot hold (each incident's worst impact, renamed incidents' old ids), written in the
//! transaction that also records their notifications.

use super::{ImportItem, Imported, Store, from_ts, notify, parse_enum, ts};
use crate::content::Kind;
use crate::model::{
    ComponentStatus, Impact, Incident, IncidentStatus, Maintenance, MaintenanceStatus, Update,
    Window, WireName,
};
use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::{HashMap, HashSet};

impl Store {
    /// Every id of `kind` the store holds (with, for incidents, old ids that redirect): a new
    /// file must not take one, or it would overwrite an incident kept after its file went.
    pub fn ids(&self, kind: Kind) -> Result<HashSet<String>> {
        let sql = match kind {
            Kind::Incident => "SELECT id FROM incidents UNION SELECT old_id FROM incident_moves",
            Kind::Maintenance => "SELECT id FROM maintenances",
        };
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Content hash of every imported file, by kind and id.
    pub fn content_hashes(&self) -> Result<HashMap<(Kind, String), String>> {
        let mut out = HashMap::new();
        for (kind, sql) in [
            (Kind::Incident, "SELECT id, content_hash FROM incidents"),
            (
                Kind::Maintenance,
                "SELECT id, content_hash FROM maintenances",
            ),
        ] {
            let mut stmt = self.conn.prepare(sql)?;
            for row in
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            {
                let (id, hash) = row?;
                out.insert((kind, id), hash);
            }
        }
        Ok(out)
    }

    /// Write changed content and drop what no longer has a file, in one transaction.
    pub fn import(
        &mut self,
        changed: &[ImportItem],
        keep: &HashSet<(Kind, String)>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for item in changed {
            match &item.item {
                Imported::Incident(i) => {
                    // A moved incident is the same incident: what was known of it under its old
                    // id decides what is news, and its impact peak carries over.
                    let known_as = item.moved_from.as_deref().unwrap_or(&i.id);
                    let old = Store::stored_updates(&tx, known_as)?;
                    let (i, peak) = &with_peak_impact(&tx, i, known_as)?;
                    write_incident(&tx, i, *peak, &item.path, &item.hash)?;
                    // The page is real again: no redirect away from it.
                    tx.execute("DELETE FROM incident_moves WHERE old_id = ?1", [&i.id])?;
                    if let Some(from) = &item.moved_from {
                        tx.execute(
                            "INSERT INTO incident_moves (old_id, new_id, at) VALUES (?1, ?2, ?3)
                             ON CONFLICT(old_id) DO UPDATE SET new_id = excluded.new_id, at = excluded.at",
                            params![from, i.id, ts(now)],
                        )?;
                        tx.execute(
                            "UPDATE monitor_state SET open_incident = ?2 WHERE open_incident = ?1",
                            params![from, i.id],
                        )?;
                    }
                    if let Some((key, event)) = notify::incident_event(old.as_deref(), i, now) {
                        notify::push(&tx, &key, &event, now)?;
                    }
                }
                Imported::Maintenance(m) => write_maintenance(&tx, m, &item.path, &item.hash, now)?,
            }
        }
        // Last: a moved incident's old row was read above.
        for (kind, table) in [
            (Kind::Incident, "incidents"),
            (Kind::Maintenance, "maintenances"),
        ] {
            let ids: Vec<String> = tx
                .prepare(&format!("SELECT id FROM {table}"))?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in ids {
                if !keep.contains(&(kind, id.clone())) {
                    tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [&id])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// All incidents, newest first (by creation).
    pub fn incidents(&self) -> Result<Vec<Incident>> {
        let mut comps: HashMap<String, Vec<(String, ComponentStatus)>> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT incident_id, component_id, status FROM incident_components ORDER BY incident_id, position")?;
        for row in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                parse_enum(r.get(2)?)?,
            ))
        })? {
            let (iid, cid, status) = row?;
            comps.entry(iid).or_default().push((cid, status));
        }
        let mut updates: HashMap<String, Vec<Update<IncidentStatus>>> =
            read_updates(&self.conn, "incident_updates", "incident_id")?;
        let mut stmt = self.conn.prepare(
            "SELECT id, title, impact, automatic, explicit_impact FROM incidents ORDER BY created_at DESC, id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                parse_enum::<Impact>(r.get(2)?)?,
                r.get::<_, bool>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, title, impact, automatic, explicit_impact) = row?;
            out.push(Incident {
                components: comps.remove(&id).unwrap_or_default(),
                updates: updates.remove(&id).unwrap_or_default(),
                id,
                title,
                impact,
                automatic,
                explicit_impact,
            });
        }
        Ok(out)
    }

    /// Incidents whose file was renamed: (old id, the id it has now), for old ids that have no
    /// incident of their own and whose chain of moves ends at an incident that exists.
    pub fn incident_moves(&self) -> Result<Vec<(String, String)>> {
        let moves: HashMap<String, String> = self
            .conn
            .prepare("SELECT old_id, new_id FROM incident_moves")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM incidents WHERE id = ?1")?;
        let mut exists = |id: &str| stmt.exists([id]);
        let mut out = Vec::new();
        for old in moves.keys() {
            if exists(old)? {
                continue;
            }
            let mut at = old;
            // A chain a -> b -> c ends at c (a cycle, or more than 100 moves, ends nowhere).
            for _ in 0..100 {
                match moves.get(at) {
                    Some(next) => at = next,
                    None => break,
                }
            }
            if exists(at)? {
                out.push((old.clone(), at.clone()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// `previous` (a list [`Store::incidents`] returned) brought up to date after the
    /// incidents `touched` were written or removed: only those are read again. Equal to a full
    /// reload when nothing else changed, in a fraction of its time at thousands of incidents.
    pub fn incidents_patched(
        &self,
        previous: &[Incident],
        touched: &HashSet<String>,
    ) -> Result<Vec<Incident>> {
        let mut out: Vec<Incident> = previous
            .iter()
            .filter(|i| !touched.contains(&i.id))
            .cloned()
            .collect();
        let mut touched: Vec<&String> = touched.iter().collect();
        touched.sort();
        for id in touched {
            if let Some(i) = self.incident(id)? {
                out.push(i);
            }
        }
        // The order of `incidents()`: newest first by stored creation time, then id.
        out.sort_by(|a, b| (ts(b.created_at()), &b.id).cmp(&(ts(a.created_at()), &a.id)));
        Ok(out)
    }

    /// One incident by id.
    pub fn incident(&self, id: &str) -> Result<Option<Incident>> {
        let Some((title, impact, automatic, explicit_impact)) = self
            .conn
            .prepare_cached(
                "SELECT title, impact, automatic, explicit_impact FROM incidents WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    parse_enum::<Impact>(r.get(1)?)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            })
            .optional()?
        else {
            return Ok(None);
        };
        let components = self
            .conn
            .prepare_cached(
                "SELECT component_id, status FROM incident_components WHERE incident_id = ?1 ORDER BY position",
            )?
            .query_map([id], |r| Ok((r.get::<_, String>(0)?, parse_enum(r.get(1)?)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let updates = self
            .conn
            .prepare_cached(
                "SELECT at, status, body_md, body_html FROM incident_updates WHERE incident_id = ?1 ORDER BY seq",
            )?
            .query_map([id], |r| {
                Ok(Update {
                    at: from_ts(r.get(0)?),
                    status: parse_enum(r.get(1)?)?,
                    body_md: r.get(2)?,
                    body_html: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(Incident {
            id: id.to_string(),
            title,
            impact,
            automatic,
            explicit_impact,
            components,
            updates,
        }))
    }

    /// All maintenances, by id.
    pub fn maintenances(&self) -> Result<Vec<Maintenance>> {
        let mut comps: HashMap<String, Vec<String>> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT maintenance_id, component_id FROM maintenance_components ORDER BY maintenance_id, position")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (mid, cid) = row?;
            comps.entry(mid).or_default().push(cid);
        }
        let mut updates: HashMap<String, Vec<Update<MaintenanceStatus>>> =
            read_updates(&self.conn, "maintenance_updates", "maintenance_id")?;
        let mut stmt = self.conn.prepare(
            "SELECT id, title, scheduled_for, scheduled_until, schedule, duration_secs, cancelled, description_md, description_html,
                    first_seen
             FROM maintenances ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            let window = match (r.get::<_, Option<i64>>(2)?, r.get::<_, Option<i64>>(3)?) {
                (Some(f), Some(u)) => Window::Once {
                    from: from_ts(f),
                    until: from_ts(u),
                },
                _ => Window::Recurring {
                    schedule: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    duration_secs: r.get::<_, Option<i64>>(5)?.unwrap_or_default(),
                },
            };
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    window,
                    r.get::<_, bool>(6)?,
                ),
                (r.get(7)?, r.get(8)?, from_ts(r.get(9)?)),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let ((id, title, window, cancelled), (description_md, description_html, first_seen)) =
                row?;
            out.push(Maintenance {
                components: comps.remove(&id).unwrap_or_default(),
                updates: updates.remove(&id).unwrap_or_default(),
                id,
                title,
                window,
                cancelled,
                description_md,
                description_html,
                first_seen: Some(first_seen),
            });
        }
        Ok(out)
    }
}

/// Updates of every incident (or maintenance), by owner id, newest first.
fn read_updates<S: WireName>(
    conn: &Connection,
    table: &str,
    key: &str,
) -> Result<HashMap<String, Vec<Update<S>>>> {
    let mut out: HashMap<String, Vec<Update<S>>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT {key}, at, status, body_md, body_html FROM {table} ORDER BY {key}, seq"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Update {
                at: from_ts(r.get(1)?),
                status: parse_enum(r.get(2)?)?,
                body_md: r.get(3)?,
                body_html: r.get(4)?,
            },
        ))
    })?;
    for row in rows {
        let (owner, u) = row?;
        out.entry(owner).or_default().push(u);
    }
    Ok(out)
}

fn write_updates<S: WireName>(
    tx: &rusqlite::Transaction,
    table: &str,
    key: &str,
    id: &str,
    updates: &[Update<S>],
) -> Result<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO {table} ({key}, seq, at, status, body_md, body_html) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?;
    for (seq, u) in updates.iter().enumerate() {
        stmt.execute(params![
            id,
            seq,
            ts(u.at),
            u.status.wire(),
            u.body_md,
            u.body_html
        ])?;
    }
    Ok(())
}

/// `i` with the impact it has in the store: the file's explicit impact, or else the worst its
/// component effects have implied in any version stored; and that worst (`peak_impact`).
fn with_peak_impact(
    tx: &rusqlite::Transaction,
    i: &Incident,
    known_as: &str,
) -> Result<(Incident, Impact)> {
    let stored: Option<Impact> = tx
        .prepare_cached("SELECT peak_impact FROM incidents WHERE id = ?1")?
        .query_row([known_as], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten()
        .and_then(|s| s.parse().ok());
    let peak = i.implied_impact().max(stored.unwrap_or(Impact::None));
    let mut i = i.clone();
    if !i.explicit_impact {
        i.impact = peak;
    }
    Ok((i, peak))
}

fn write_incident(
    tx: &rusqlite::Transaction,
    i: &Incident,
    peak: Impact,
    path: &str,
    hash: &str,
) -> Result<()> {
    // Cached statements: a cold import writes thousands of incidents in one transaction.
    tx.prepare_cached("DELETE FROM incidents WHERE id = ?1")?
        .execute([&i.id])?;
    tx.prepare_cached(
        "INSERT INTO incidents (id, title, impact, automatic, source_path, content_hash, created_at, updated_at,
           explicit_impact, peak_impact)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![i.id, i.title, i.impact.as_str(), i.automatic, path, hash, ts(i.created_at()), ts(i.updated_at()),
        i.explicit_impact, peak.as_str()],
    )?;
    let mut c = tx.prepare_cached(
        "INSERT INTO incident_components (incident_id, position, component_id, status) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (pos, (cid, status)) in i.components.iter().enumerate() {
        c.execute(params![i.id, pos, cid, status.as_str()])?;
    }
    write_updates(tx, "incident_updates", "incident_id", &i.id, &i.updates)?;
    Ok(())
}

fn write_maintenance(
    tx: &rusqlite::Transaction,
    m: &Maintenance,
    path: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let first_seen: i64 = tx
        .query_row(
            "SELECT first_seen FROM maintenances WHERE id = ?1",
            [&m.id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(ts(now));
    tx.execute("DELETE FROM maintenances WHERE id = ?1", [&m.id])?;
    let (from, until, schedule, duration) = match &m.window {
        Window::Once { from, until } => (Some(ts(*from)), Some(ts(*until)), None, None),
        Window::Recurring {
            schedule,
            duration_secs,
        } => (None, None, Some(schedule.as_str()), Some(*duration_secs)),
    };
    tx.execute(
        "INSERT INTO maintenances (id, title, source_path, content_hash, scheduled_for, scheduled_until, schedule,
           duration_secs, cancelled, first_seen, description_md, description_html)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![m.id, m.title, path, hash, from, until, schedule, duration, m.cancelled, first_seen, m.description_md, m.description_html],
    )?;
    let mut c = tx.prepare_cached("INSERT INTO maintenance_components (maintenance_id, position, component_id) VALUES (?1, ?2, ?3)")?;
    for (pos, cid) in m.components.iter().enumerate() {
        c.execute(params![m.id, pos, cid])?;
    }
    write_updates(
        tx,
        "maintenance_updates",
        "maintenance_id",
        &m.id,
        &m.updates,
    )?;
    Ok(())
}
