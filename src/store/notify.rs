//! The notification outbox: events are written in the transaction that records their change;
//! each channel keeps a cursor of what it has handled, so a restart neither loses nor repeats.

use super::{Store, from_ts, ts};
use crate::event::{Event, IncidentChange, MaintenanceChange};
use crate::model::EventKind;
use crate::model::{Incident, IncidentStatus};
use crate::snapshot::MaintenanceInstance;
use anyhow::Result;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

/// Changes older than this when first recorded are history, not news: importing a long
/// history (or a backfilled incident) notifies nobody.
pub const NEWS_WINDOW: ChronoDuration = ChronoDuration::hours(24);

/// The (time, status) of each update of an incident.
type UpdateKeys = Vec<(DateTime<Utc>, IncidentStatus)>;

/// One event of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    /// Stable across retries and restarts: receivers drop duplicates by it.
    pub key: String,
    pub event: Event,
}

/// Where a channel is: events up to `cursor` are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelState {
    pub cursor: i64,
    pub attempts: u32,
    pub next_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Add `event` under `key` unless an event with that key exists. Returns whether it was added.
pub(super) fn push(
    tx: &rusqlite::Transaction,
    key: &str,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<bool> {
    let payload = serde_json::to_string(event)?;
    let n = tx.execute(
        "INSERT OR IGNORE INTO outbox (key, kind, at, created_at, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key, event.kind().as_str(), ts(event.at()), ts(now), payload],
    )?;
    Ok(n > 0)
}

/// The event an import of `new` (replacing `old`, if it was stored) is news of: its newest
/// update, if that update is new and recent.
pub(super) fn incident_event(
    old: Option<&[(DateTime<Utc>, IncidentStatus)]>,
    new: &Incident,
    now: DateTime<Utc>,
) -> Option<(String, Event)> {
    let newest = new.updates.first()?;
    let known = old.is_some_and(|o| o.contains(&(newest.at, newest.status)));
    if known || newest.at < now - NEWS_WINDOW || newest.at > now + ChronoDuration::minutes(5) {
        return None;
    }
    let kind = match (newest.status, old.is_some()) {
        (IncidentStatus::Resolved, _) => EventKind::IncidentResolved,
        (_, false) => EventKind::IncidentOpened,
        (_, true) => EventKind::IncidentUpdated,
    };
    let key = format!(
        "incident:{}:{}:{}",
        new.id,
        newest.at.timestamp(),
        newest.status.as_str()
    );
    let event = Event::Incident {
        kind,
        at: newest.at,
        incident: IncidentChange {
            id: new.id.clone(),
            title: new.title.clone(),
            status: newest.status,
            impact: new.impact,
            update: newest.body_md.clone(),
            components: new.components.clone(),
        },
    };
    Some((key, event))
}

/// Rows of (id, key, payload) as events; a payload this version cannot read (from a newer
/// Pharos) is skipped rather than stopping a channel.
pub(super) fn read_events(mut rows: rusqlite::Rows) -> Result<Vec<OutboxEvent>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (id, key, payload): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        match serde_json::from_str(&payload) {
            Ok(event) => out.push(OutboxEvent { id, key, event }),
            Err(e) => tracing::warn!(event = id, "cannot read outbox event: {e}"),
        }
    }
    Ok(out)
}

pub(super) fn maintenance_change(m: &MaintenanceInstance) -> MaintenanceChange {
    MaintenanceChange {
        id: m.id.clone(),
        title: m.title.clone(),
        from: m.from,
        until: m.until,
        components: m.components.clone(),
        description: m.description_md.clone(),
    }
}

impl Store {
    /// Tell operator channels that `file` has `problems` (each `file:line:col: ...`). Once per
    /// distinct set of problems of a file: a restart with the same broken file repeats nothing.
    /// Returns whether it was news.
    pub fn note_content_problem(
        &mut self,
        file: &str,
        problems: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(problems.join("\n").as_bytes());
        let key = format!("content:{file}:{}", &crate::ids::hex(&digest)[..16]);
        let event = Event::Content {
            at: now,
            problem: crate::event::ContentProblem {
                file: file.to_string(),
                problems: problems.to_vec(),
            },
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let added = push(&tx, &key, &event, now)?;
        tx.commit()?;
        Ok(added)
    }

    /// Turn maintenance windows that started or ended (within [`NEWS_WINDOW`]) into events, once
    /// per window and edge; windows announced for the first time and still ahead are
    /// "scheduled". Returns how many events were added.
    pub fn mark_maintenances(
        &mut self,
        windows: &[MaintenanceInstance],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        // The daemon calls this after every render: take the write lock only for an edge that
        // is due and recent.
        let due: Vec<(&MaintenanceInstance, EventKind, DateTime<Utc>)> = windows
            .iter()
            .flat_map(|m| {
                let scheduled = m.from > now && m.recurring.is_none();
                [
                    (m, EventKind::MaintenanceScheduled, scheduled, m.created_at),
                    (
                        m,
                        EventKind::MaintenanceStarted,
                        m.from <= now && now < m.until,
                        m.from,
                    ),
                    (m, EventKind::MaintenanceCompleted, m.until <= now, m.until),
                ]
            })
            .filter(|(_, _, due, at)| *due && *at >= now - NEWS_WINDOW)
            .map(|(m, kind, _, at)| (m, kind, at))
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut added = 0;
        for (m, kind, at) in due {
            let fresh = tx.execute(
                "INSERT OR IGNORE INTO maintenance_marks (maintenance_id, starts_at, kind) VALUES (?1, ?2, ?3)",
                params![m.id, ts(m.from), kind.as_str()],
            )? > 0;
            if !fresh {
                continue;
            }
            let key = format!("maintenance:{}:{}:{}", m.id, ts(m.from), kind.as_str());
            let event = Event::Maintenance {
                kind,
                at: at.min(now),
                maintenance: maintenance_change(m),
            };
            if push(&tx, &key, &event, now)? {
                added += 1;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Outbox events after `cursor`, oldest first.
    pub fn events_after(&self, cursor: i64, limit: usize) -> Result<Vec<OutboxEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, key, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        read_events(stmt.query(params![cursor, limit as i64])?)
    }

    /// The newest events of `kinds`, newest first (for the feeds).
    pub fn recent_events(&self, kinds: &[EventKind], limit: usize) -> Result<Vec<OutboxEvent>> {
        let list = kinds
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, key, payload FROM outbox WHERE kind IN ({list}) ORDER BY at DESC, id DESC LIMIT ?1"
        ))?;
        read_events(stmt.query([limit as i64])?)
    }

    /// A channel's state; a channel seen for the first time starts after the newest event.
    /// (Read first: the senders poll this, and a poll should not take the write lock.)
    pub fn channel_state(&mut self, channel: &str) -> Result<ChannelState> {
        let read = |conn: &rusqlite::Connection| {
            conn.query_row(
                "SELECT cursor, attempts, next_at, last_error FROM notify_channels WHERE channel = ?1",
                [channel],
                |r| {
                    Ok(ChannelState {
                        cursor: r.get(0)?,
                        attempts: r.get(1)?,
                        next_at: r
                            .get::<_, Option<i64>>(2)?
                            .and_then(DateTime::from_timestamp_millis),
                        last_error: r.get(3)?,
                    })
                },
            )
            .optional()
        };
        if let Some(state) = read(&self.conn)? {
            return Ok(state);
        }
        self.conn.execute(
            "INSERT OR IGNORE INTO notify_channels (channel, cursor) SELECT ?1, COALESCE(MAX(id), 0) FROM outbox",
            [channel],
        )?;
        read(&self.conn)?.ok_or_else(|| anyhow::anyhow!("channel {channel} vanished"))
    }

    /// `event` was delivered to `channel` (or is not for it, when `answer` is `None`).
    pub fn channel_done(
        &mut self,
        channel: &str,
        event: i64,
        answer: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE notify_channels SET cursor = MAX(cursor, ?2), attempts = 0, next_at = NULL, last_error = NULL,
               last_sent_at = CASE WHEN ?3 IS NULL THEN last_sent_at ELSE ?4 END
             WHERE channel = ?1",
            params![channel, event, answer, ts(now)],
        )?;
        if let Some(answer) = answer {
            tx.execute(
                "INSERT OR REPLACE INTO notify_log (channel, event_id, sent_at, answer) VALUES (?1, ?2, ?3, ?4)",
                params![channel, event, ts(now), answer],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A delivery to `channel` failed; the next attempt is at `next_at`.
    pub fn channel_failed(
        &mut self,
        channel: &str,
        error: &str,
        attempts: u32,
        next_at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE notify_channels SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE channel = ?1",
            params![channel, attempts, next_at.timestamp_millis(), error],
        )?;
        Ok(())
    }

    /// Event ids delivered to `channel`, oldest first.
    pub fn delivered(&self, channel: &str) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT event_id FROM notify_log WHERE channel = ?1 ORDER BY event_id")?;
        let rows = stmt.query_map([channel], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The stored (time, status) of each update of incident `id`, if it is stored.
    pub(super) fn stored_updates(
        tx: &rusqlite::Transaction,
        id: &str,
    ) -> Result<Option<UpdateKeys>> {
        let exists = tx
            .prepare_cached("SELECT 1 FROM incidents WHERE id = ?1")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let mut stmt =
            tx.prepare_cached("SELECT at, status FROM incident_updates WHERE incident_id = ?1")?;
        let rows = stmt.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (at, status) = row?;
            if let Ok(s) = status.parse() {
                out.push((from_ts(at), s));
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MaintenanceStatus;

    fn window(id: &str, from: i64, until: i64, created: i64) -> MaintenanceInstance {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        MaintenanceInstance {
            id: id.into(),
            source_id: id.into(),
            title: "Upgrade".into(),
            components: vec!["db".into()],
            from: t(from),
            until: t(until),
            status: MaintenanceStatus::Scheduled,
            recurring: None,
            description_md: "Short pauses.".into(),
            description_html: String::new(),
            updates: Vec::new(),
            created_at: t(created),
        }
    }

    #[test]
    fn maintenance_edges_become_events_once() {
        let mut store = Store::open_in_memory().unwrap();
        let at = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let base = 1_800_000_000;
        let w = [window("up", base + 3600, base + 7200, base)];
        let kinds = |store: &Store| -> Vec<String> {
            store
                .events_after(0, 100)
                .unwrap()
                .into_iter()
                .map(|e| e.event.kind().as_str().to_string())
                .collect()
        };
        assert_eq!(store.mark_maintenances(&w, at(10)).unwrap(), 1);
        assert_eq!(store.mark_maintenances(&w, at(20)).unwrap(), 0, "once");
        assert_eq!(store.mark_maintenances(&w, at(3600)).unwrap(), 1);
        assert_eq!(store.mark_maintenances(&w, at(3700)).unwrap(), 0);
        assert_eq!(store.mark_maintenances(&w, at(7300)).unwrap(), 1);
        assert_eq!(
            kinds(&store),
            [
                "maintenance_scheduled",
                "maintenance_started",
                "maintenance_completed"
            ]
        );
        // A window that ended long before the daemon saw it is history, not news.
        let old = [window("old", base - 90_000, base - 86_500, base - 100_000)];
        assert_eq!(store.mark_maintenances(&old, at(0)).unwrap(), 0);
    }

    #[test]
    fn only_new_recent_incident_updates_are_news() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let update = |mins: i64, status| crate::model::Update {
            at: now - ChronoDuration::minutes(mins),
            status,
            body_md: format!("{mins}"),
            body_html: String::new(),
        };
        let incident = |updates| Incident {
            id: "i".into(),
            title: "T".into(),
            impact: crate::model::Impact::Minor,
            components: vec![("api".into(), crate::model::ComponentStatus::PartialOutage)],
            updates,
            automatic: false,
            explicit_impact: false,
        };
        let opened = incident(vec![update(10, IncidentStatus::Investigating)]);
        let (_, e) = incident_event(None, &opened, now).unwrap();
        assert_eq!(e.kind(), EventKind::IncidentOpened);
        let known = [(
            now - ChronoDuration::minutes(10),
            IncidentStatus::Investigating,
        )];
        assert_eq!(
            incident_event(Some(&known), &opened, now),
            None,
            "nothing new"
        );
        let resolved = incident(vec![
            update(1, IncidentStatus::Resolved),
            update(10, IncidentStatus::Investigating),
        ]);
        let (key, e) = incident_event(Some(&known), &resolved, now).unwrap();
        assert_eq!(e.kind(), EventKind::IncidentResolved);
        let Event::Incident {
            incident: change, ..
        } = e
        else {
            panic!("an incident event");
        };
        assert_eq!(change.update, "1");
        assert!(key.starts_with("incident:i:"));
        let old = incident(vec![update(60 * 25, IncidentStatus::Investigating)]);
        assert_eq!(incident_event(None, &old, now), None, "imported history");
    }
}
