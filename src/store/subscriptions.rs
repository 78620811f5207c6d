//! Subscribers, the inbox's done list, the subscribers' mail outbox, capability pages on each
//! target and the subscription worker's counters (see [`crate::subscribe`]).
//!
//! Every request from the inbox is applied in one transaction together with its done mark, and
//! the emails it causes are queued in that same transaction: a crash leaves either nothing or
//! everything recorded.

use super::{Store, from_ts, ts};
use crate::config::Subscriptions;
use crate::event::{Event, MaintenanceChange};
use crate::model::EventKind;
use crate::snapshot::MaintenanceInstance;
use crate::subscriber::{Request, Subscriber, address_hash, new_token};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::HashMap;

/// What became of one inbox request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A confirmation email is queued (a new or still pending address).
    ConfirmationQueued,
    /// The address was confirmed already: it is sent a link to its manage page instead.
    AlreadySubscribed,
    Confirmed,
    Updated,
    Unsubscribed,
    /// Over a rate limit: nothing recorded, nothing sent.
    Limited,
    /// An unknown, used or expired token: refused quietly.
    Refused,
    /// Recorded before (read again after a crash before its DELETE).
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::ConfirmationQueued => "confirmation queued",
            Outcome::AlreadySubscribed => "already subscribed",
            Outcome::Confirmed => "confirmed",
            Outcome::Updated => "components updated",
            Outcome::Unsubscribed => "unsubscribed",
            Outcome::Limited => "over a rate limit",
            Outcome::Refused => "unknown or expired token",
            Outcome::Duplicate => "already recorded",
        }
    }
}

/// The kinds of subscriber email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Double opt-in: the link to the confirm page.
    Confirm,
    /// After confirming: the link to the manage page.
    Welcome,
    /// A subscribe request for an address that is subscribed already.
    Already,
    /// An incident or maintenance event from the outbox.
    Event,
    /// A maintenance window starts soon.
    Reminder,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Confirm => "confirm",
            MailKind::Welcome => "welcome",
            MailKind::Already => "already",
            MailKind::Event => "event",
            MailKind::Reminder => "reminder",
        }
    }
    fn parse(s: &str) -> Option<MailKind> {
        [
            MailKind::Confirm,
            MailKind::Welcome,
            MailKind::Already,
            MailKind::Event,
            MailKind::Reminder,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
    /// Lower is sent first: what the public must hear before the sign-up traffic.
    fn priority(self) -> i64 {
        match self {
            MailKind::Event | MailKind::Reminder => 0,
            MailKind::Welcome => 1,
            MailKind::Confirm | MailKind::Already => 2,
        }
    }
}

/// Whether subscribers hear of events of this kind.
pub fn for_subscribers(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::IncidentOpened
            | EventKind::IncidentUpdated
            | EventKind::IncidentResolved
            | EventKind::MaintenanceScheduled
            | EventKind::MaintenanceStarted
            | EventKind::MaintenanceCompleted
    )
}

/// One email that is due, with what it needs to be written.
#[derive(Debug, Clone)]
pub struct MailJob {
    pub id: i64,
    pub kind: MailKind,
    /// The idempotency key (becomes the Message-ID).
    pub key: String,
    pub attempts: u32,
    pub subscriber: Subscriber,
    /// For [`MailKind::Event`].
    pub event: Option<Event>,
    /// For [`MailKind::Reminder`].
    pub maintenance: Option<MaintenanceChange>,
}

/// A capability page that should exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPage {
    pub token: String,
    /// True for a manage page, false for a confirm page.
    pub manage: bool,
    pub components: Vec<String>,
}

pub(super) const SUB_COLUMNS: &str = "s.id, s.email, s.components, s.created_at, s.confirmed_at, s.confirm_token, s.expires_at, s.manage_token, s.source";

pub(super) fn read_subscriber(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Subscriber> {
    let components: String = r.get(at + 2)?;
    Ok(Subscriber {
        id: r.get(at)?,
        address: r.get(at + 1)?,
        components: serde_json::from_str(&components).unwrap_or_default(),
        created_at: from_ts(r.get(at + 3)?),
        confirmed_at: r.get::<_, Option<i64>>(at + 4)?.map(from_ts),
        confirm_token: r.get(at + 5)?,
        expires_at: r.get::<_, Option<i64>>(at + 6)?.map(from_ts),
        manage_token: r.get(at + 7)?,
        source: r.get(at + 8)?,
    })
}

pub(super) fn components_json(c: &Option<Vec<String>>) -> String {
    serde_json::to_string(c.as_deref().unwrap_or(&[])).unwrap_or_else(|_| "[]".into())
}

pub(super) fn max_event(tx: &rusqlite::Connection) -> rusqlite::Result<i64> {
    tx.query_row("SELECT COALESCE(MAX(id), 0) FROM outbox", [], |r| r.get(0))
}

pub(super) fn queue(
    tx: &Transaction,
    subscriber: i64,
    kind: MailKind,
    key: &str,
    event: Option<i64>,
    payload: Option<&str>,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    Ok(tx.execute(
        "INSERT OR IGNORE INTO mail_outbox (subscriber_id, kind, key, event_id, payload, priority, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![subscriber, kind.as_str(), key, event, payload, kind.priority(), now.timestamp_millis()],
    )? > 0)
}

pub(super) fn bump(tx: &rusqlite::Connection, name: &str, by: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO subscription_state (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = value + ?2",
        params![name, by],
    )?;
    Ok(())
}

/// Whether one more confirmation email may go to `address` (per day) and overall (per hour).
fn confirmation_allowed(
    tx: &Transaction,
    address: &str,
    s: &Subscriptions,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let hash = address_hash(address);
    let day: i64 = tx.query_row(
        "SELECT COUNT(*) FROM confirm_sends WHERE email_hash = ?1 AND at > ?2",
        params![hash, ts(now - Duration::days(1))],
        |r| r.get(0),
    )?;
    let hour: i64 = tx.query_row(
        "SELECT COUNT(*) FROM confirm_sends WHERE at > ?1",
        params![ts(now - Duration::hours(1))],
        |r| r.get(0),
    )?;
    Ok(day < i64::from(s.confirmations_per_day) && hour < i64::from(s.confirmations_per_hour))
}

pub(super) fn confirmation_sent(
    tx: &Transaction,
    address: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO confirm_sends (email_hash, at) VALUES (?1, ?2)",
        params![address_hash(address), ts(now)],
    )?;
    Ok(())
}

pub(super) fn subscriber_where(
    tx: &rusqlite::Connection,
    clause: &str,
    value: &str,
) -> rusqlite::Result<Option<Subscriber>> {
    tx.query_row(
        &format!("SELECT {SUB_COLUMNS} FROM subscribers s WHERE {clause} = ?1"),
        [value],
        |r| read_subscriber(r, 0),
    )
    .optional()
}

fn apply(
    tx: &Transaction,
    req: &Request,
    s: &Subscriptions,
    now: DateTime<Utc>,
) -> rusqlite::Result<Outcome> {
    let expires = now + Duration::from_std(s.expire.0).unwrap_or(Duration::hours(48));
    match req {
        Request::Subscribe {
            address,
            components,
        } => {
            let existing = subscriber_where(tx, "s.email", address)?;
            if !confirmation_allowed(tx, address, s, now)? {
                return Ok(Outcome::Limited);
            }
            confirmation_sent(tx, address, now)?;
            let nonce = new_token();
            match existing {
                Some(sub) if sub.confirmed_at.is_some() => {
                    queue(
                        tx,
                        sub.id,
                        MailKind::Already,
                        &format!("already:{}:{nonce}", sub.id),
                        None,
                        None,
                        now,
                    )?;
                    Ok(Outcome::AlreadySubscribed)
                }
                Some(sub) => {
                    // Still pending: the same address asks again. A live token is sent again; an
                    // expired one is replaced.
                    let token = match (&sub.confirm_token, sub.expires_at) {
                        (Some(t), Some(e)) if e > now => t.clone(),
                        _ => new_token(),
                    };
                    tx.execute(
                        "UPDATE subscribers SET components = ?2, confirm_token = ?3, expires_at = ?4 WHERE id = ?1",
                        params![sub.id, components_json(components), token, ts(expires)],
                    )?;
                    queue(
                        tx,
                        sub.id,
                        MailKind::Confirm,
                        &format!("confirm:{}:{nonce}", sub.id),
                        None,
                        None,
                        now,
                    )?;
                    Ok(Outcome::ConfirmationQueued)
                }
                None => {
                    tx.execute(
                        "INSERT INTO subscribers (email, components, created_at, confirm_token, expires_at, manage_token, source)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'form')",
                        params![address, components_json(components), ts(now), new_token(), ts(expires), new_token()],
                    )?;
                    let id = tx.last_insert_rowid();
                    queue(
                        tx,
                        id,
                        MailKind::Confirm,
                        &format!("confirm:{id}:{nonce}"),
                        None,
                        None,
                        now,
                    )?;
                    Ok(Outcome::ConfirmationQueued)
                }
            }
        }
        Request::Confirm { token } => {
            let Some(sub) = subscriber_where(tx, "s.confirm_token", token)? else {
                return Ok(Outcome::Refused);
            };
            if sub.expires_at.is_none_or(|e| e <= now) {
                return Ok(Outcome::Refused);
            }
            tx.execute(
                "UPDATE subscribers SET confirmed_at = ?2, confirm_token = NULL, expires_at = NULL, from_event = ?3 WHERE id = ?1",
                params![sub.id, ts(now), max_event(tx)?],
            )?;
            // The confirmation emails still queued are moot now.
            tx.execute(
                "DELETE FROM mail_outbox WHERE subscriber_id = ?1 AND kind = 'confirm' AND sent_at IS NULL",
                [sub.id],
            )?;
            queue(
                tx,
                sub.id,
                MailKind::Welcome,
                &format!("welcome:{}", sub.id),
                None,
                None,
                now,
            )?;
            Ok(Outcome::Confirmed)
        }
        Request::Update { token, components } => {
            let Some(sub) = subscriber_where(tx, "s.manage_token", token)? else {
                return Ok(Outcome::Refused);
            };
            if sub.confirmed_at.is_none() {
                return Ok(Outcome::Refused);
            }
            tx.execute(
                "UPDATE subscribers SET components = ?2 WHERE id = ?1",
                params![sub.id, components_json(components)],
            )?;
            Ok(Outcome::Updated)
        }
        Request::Unsubscribe { token } => {
            let Some(sub) = subscriber_where(tx, "s.manage_token", token)? else {
                return Ok(Outcome::Refused);
            };
            delete_subscriber(tx, sub.id)?;
            Ok(Outcome::Unsubscribed)
        }
    }
}

pub(super) fn delete_subscriber(tx: &rusqlite::Connection, id: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM mail_outbox WHERE subscriber_id = ?1 AND sent_at IS NULL",
        [id],
    )?;
    tx.execute("DELETE FROM subscribers WHERE id = ?1", [id])?;
    Ok(())
}

impl Store {
    /// Whether the inbox object (`key`'s hash, its ETag and last-modified time) was recorded.
    pub fn inbox_done(&self, key: &str, etag: &str, modified: i64) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM inbox_done WHERE key_hash = ?1 AND etag = ?2 AND modified = ?3",
                params![address_hash(key), etag, modified],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Record one inbox object: apply its request (`None`: the object is junk) and mark it done,
    /// in one transaction. The emails it causes are queued in the same transaction.
    pub fn record_request(
        &mut self,
        object: (&str, &str, i64),
        req: Option<&Request>,
        s: &Subscriptions,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let (key, etag, modified) = object;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO inbox_done (key_hash, etag, modified, at) VALUES (?1, ?2, ?3, ?4)",
            params![address_hash(key), etag, modified, ts(now)],
        )? > 0;
        if !fresh {
            return Ok(Outcome::Duplicate);
        }
        let outcome = match req {
            Some(req) => apply(&tx, req, s, now)?,
            None => Outcome::Refused,
        };
        let counter = match (req, outcome) {
            (None, _) => "malformed",
            (_, Outcome::Refused) => "refused",
            (_, Outcome::Limited) => "limited",
            _ => "handled",
        };
        bump(&tx, counter, 1)?;
        if counter == "handled" {
            bump(&tx, "version", 1)?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Count `n` inbox objects deleted as junk from the listing alone (never read).
    pub fn note_junk(&mut self, n: usize) -> Result<()> {
        if n > 0 {
            bump(&self.conn, "malformed", n as i64)?;
        }
        Ok(())
    }

    /// Forget done marks older than a week (an object is never read back that late) and
    /// confirmation sends older than a day, and pending requests past their expiry. Returns
    /// how many pending requests expired.
    pub fn subscriptions_tidy(&mut self, now: DateTime<Utc>) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM inbox_done WHERE at < ?1",
            [ts(now - Duration::days(7))],
        )?;
        tx.execute(
            "DELETE FROM confirm_sends WHERE at < ?1",
            [ts(now - Duration::days(2))],
        )?;
        let expired: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT id FROM subscribers WHERE confirmed_at IS NULL AND expires_at <= ?1",
            )?;
            stmt.query_map([ts(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for id in &expired {
            delete_subscriber(&tx, *id)?;
        }
        if !expired.is_empty() {
            bump(&tx, "version", 1)?;
        }
        // Sent a month ago, or queued a month ago and never sent (given up).
        tx.execute(
            "DELETE FROM mail_outbox WHERE (sent_at IS NOT NULL AND sent_at < ?1) OR created_at < ?1",
            [(now - Duration::days(30)).timestamp_millis()],
        )?;
        tx.commit()?;
        Ok(expired.len())
    }

    /// Note a poll of the inbox: when, how many objects it listed, whether it failed.
    pub fn note_poll(&mut self, now: DateTime<Utc>, listed: Option<usize>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (name, value) in [
            ("last_poll", Some(now.timestamp_millis())),
            ("last_poll_error", Some(i64::from(listed.is_none()))),
            ("inbox_pending", listed.map(|n| n as i64)),
        ] {
            if let Some(v) = value {
                tx.execute(
                    "INSERT INTO subscription_state (name, value) VALUES (?1, ?2)
                     ON CONFLICT(name) DO UPDATE SET value = ?2",
                    params![name, v],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Bumped by every change to subscribers (requests, the CLI, expiry): the worker renders
    /// the capability pages again when it moved.
    pub fn subscribers_version(&self) -> Result<i64> {
        Ok(self.state_value("version")?.unwrap_or(0))
    }

    pub(super) fn state_value(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM subscription_state WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Turn new outbox events into emails for the subscribers who follow them, and move the
    /// cursor past them, in one transaction. A store seen for the first time starts at the
    /// newest event. Returns how many emails were queued.
    pub fn fan_out(&mut self, now: DateTime<Utc>) -> Result<usize> {
        // Called often: take the write lock only when there are new events.
        let newest = max_event(&self.conn)?;
        if self.state_value("cursor")?.is_some_and(|c| c >= newest) {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cursor: i64 = match tx
            .query_row(
                "SELECT value FROM subscription_state WHERE name = 'cursor'",
                [],
                |r| r.get(0),
            )
            .optional()?
        {
            Some(c) => c,
            None => max_event(&tx)?,
        };
        let events = {
            let mut stmt = tx.prepare(
                "SELECT id, key, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT 100",
            )?;
            super::notify::read_events(stmt.query([cursor])?)?
        };
        let last: i64 = tx.query_row(
            "SELECT COALESCE(MAX(id), ?1) FROM (SELECT id FROM outbox WHERE id > ?1 ORDER BY id LIMIT 100)",
            [cursor],
            |r| r.get(0),
        )?;
        let mut queued = 0;
        let subscribers: Vec<(Subscriber, i64)> = if events
            .iter()
            .any(|e| for_subscribers(e.event.kind()))
        {
            let mut stmt = tx.prepare(&format!(
                "SELECT {SUB_COLUMNS}, s.from_event FROM subscribers s WHERE s.confirmed_at IS NOT NULL"
            ))?;
            stmt.query_map([], |r| Ok((read_subscriber(r, 0)?, r.get(9)?)))?
                .collect::<rusqlite::Result<_>>()?
        } else {
            Vec::new()
        };
        for e in events.iter().filter(|e| for_subscribers(e.event.kind())) {
            let components = e.event.components();
            for (sub, from) in &subscribers {
                if e.id <= *from || !sub.follows(&components) {
                    continue;
                }
                if queue(
                    &tx,
                    sub.id,
                    MailKind::Event,
                    &format!("{}:{}", e.key, sub.id),
                    Some(e.id),
                    None,
                    now,
                )? {
                    queued += 1;
                }
            }
        }
        tx.execute(
            "INSERT INTO subscription_state (name, value) VALUES ('cursor', ?1)
             ON CONFLICT(name) DO UPDATE SET value = ?1",
            [last],
        )?;
        tx.commit()?;
        Ok(queued)
    }

    /// Queue the reminders of maintenance windows that start within `before`, once per window.
    /// A window announced inside that time gets only its "scheduled" email.
    pub fn mark_reminders(
        &mut self,
        windows: &[MaintenanceInstance],
        before: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let before = Duration::from_std(before).unwrap_or(Duration::hours(24));
        let due: Vec<&MaintenanceInstance> = windows
            .iter()
            .filter(|m| m.from > now && m.from - before <= now)
            .filter(|m| m.recurring.is_some() || m.created_at <= m.from - before)
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut queued = 0;
        for m in due {
            let fresh = tx.execute(
                "INSERT OR IGNORE INTO reminder_marks (maintenance_id, starts_at) VALUES (?1, ?2)",
                params![m.id, ts(m.from)],
            )? > 0;
            if !fresh {
                continue;
            }
            let change = super::notify::maintenance_change(m);
            let payload = serde_json::to_string(&change)?;
            let components: Vec<&str> = change.components.iter().map(String::as_str).collect();
            let subs: Vec<Subscriber> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {SUB_COLUMNS} FROM subscribers s WHERE s.confirmed_at IS NOT NULL"
                ))?;
                stmt.query_map([], |r| read_subscriber(r, 0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for sub in subs.iter().filter(|s| s.follows(&components)) {
                if queue(
                    &tx,
                    sub.id,
                    MailKind::Reminder,
                    &format!("reminder:{}:{}:{}", m.id, ts(m.from), sub.id),
                    None,
                    Some(&payload),
                    now,
                )? {
                    queued += 1;
                }
            }
        }
        tx.commit()?;
        Ok(queued)
    }

    /// Up to `limit` emails due at `now`, most urgent first.
    pub fn due_mails(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<MailJob>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT m.id, m.kind, m.key, m.attempts, m.payload, o.payload, {SUB_COLUMNS}
             FROM mail_outbox m JOIN subscribers s ON s.id = m.subscriber_id
             LEFT JOIN outbox o ON o.id = m.event_id
             WHERE m.sent_at IS NULL AND m.next_at <= ?1
             ORDER BY m.priority, m.id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now.timestamp_millis(), limit as i64], |r| {
            let kind: String = r.get(1)?;
            let payload: Option<String> = r.get(4)?;
            let event: Option<String> = r.get(5)?;
            Ok((
                r.get::<_, i64>(0)?,
                kind,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                payload,
                event,
                read_subscriber(r, 6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, key, attempts, payload, event, subscriber) = row?;
            let Some(kind) = MailKind::parse(&kind) else {
                continue;
            };
            out.push(MailJob {
                id,
                kind,
                key,
                attempts,
                subscriber,
                event: event.and_then(|e| serde_json::from_str(&e).ok()),
                maintenance: payload.and_then(|p| serde_json::from_str(&p).ok()),
            });
        }
        Ok(out)
    }

    /// The receiver accepted email `id`.
    pub fn mail_sent(&mut self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE mail_outbox SET sent_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, now.timestamp_millis()],
        )?;
        Ok(())
    }

    /// Email `id` failed (the error holds no address); it is tried again at `next_at`.
    pub fn mail_failed(
        &mut self,
        id: i64,
        error: &str,
        attempts: u32,
        next_at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE mail_outbox SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE id = ?1",
            params![id, attempts, next_at.timestamp_millis(), error],
        )?;
        Ok(())
    }

    /// Emails accepted by the receiver since `t`.
    pub fn mails_sent_since(&self, t: DateTime<Utc>) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NOT NULL AND sent_at > ?1",
            [t.timestamp_millis()],
            |r| r.get(0),
        )?)
    }

    /// The capability pages that should exist at `now`: a confirm page per live pending
    /// request, a manage page per subscriber.
    pub fn wanted_pages(&self, now: DateTime<Utc>) -> Result<Vec<WantedPage>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SUB_COLUMNS} FROM subscribers s ORDER BY s.id"
        ))?;
        let subs = stmt.query_map([], |r| read_subscriber(r, 0))?;
        let mut out = Vec::new();
        for sub in subs {
            let sub = sub?;
            match (&sub.confirmed_at, &sub.confirm_token, sub.expires_at) {
                (Some(_), ..) => out.push(WantedPage {
                    token: sub.manage_token,
                    manage: true,
                    components: sub.components,
                }),
                (None, Some(t), Some(e)) if e > now => out.push(WantedPage {
                    token: t.clone(),
                    manage: false,
                    components: sub.components,
                }),
                _ => {}
            }
        }
        Ok(out)
    }

    /// The capability pages recorded on `target`: path → SHA-256.
    pub fn capability_pages(&self, target: &str) -> Result<HashMap<String, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, sha256 FROM capability_pages WHERE target = ?1")?;
        let rows = stmt.query_map([target], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `path` on `target` now holds `sha256` (`None`: it was deleted).
    pub fn capability_page(
        &mut self,
        target: &str,
        path: &str,
        sha256: Option<&str>,
    ) -> Result<()> {
        match sha256 {
            Some(sha) => self.conn.execute(
                "INSERT INTO capability_pages (target, path, sha256) VALUES (?1, ?2, ?3)
                 ON CONFLICT(target, path) DO UPDATE SET sha256 = ?3",
                params![target, path, sha],
            )?,
            None => self.conn.execute(
                "DELETE FROM capability_pages WHERE target = ?1 AND path = ?2",
                params![target, path],
            )?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriptions() -> Subscriptions {
        let yaml = "site: {title: T, base_url: https://s.test}\nsubscriptions:\n  inbox: {bucket: inbox}\n  post_access_key_id: k\n  post_secret_access_key: s\n  smtp_host: localhost\n  from: status@s.test\n";
        crate::config::Config::parse(yaml, std::path::Path::new("config.yaml"))
            .unwrap()
            .subscriptions
            .unwrap()
    }

    #[test]
    fn an_unconfirmed_request_expires_with_its_page_and_its_token() {
        let s = subscriptions();
        let mut store = Store::open_in_memory().unwrap();
        let now = Utc::now();
        let req = Request::Subscribe {
            address: "late@example.com".into(),
            components: None,
        };
        let outcome = store
            .record_request(("late@example.com", "e1", 1), Some(&req), &s, now)
            .unwrap();
        assert_eq!(outcome, Outcome::ConfirmationQueued);
        let pages = store.wanted_pages(now).unwrap();
        assert_eq!(pages.len(), 1);
        assert!(!pages[0].manage);
        let token = pages[0].token.clone();
        // The same object read again after a crash before its DELETE: recorded already.
        assert_eq!(
            store
                .record_request(("late@example.com", "e1", 1), Some(&req), &s, now)
                .unwrap(),
            Outcome::Duplicate
        );

        let later = now + Duration::hours(49);
        assert!(
            store.wanted_pages(later).unwrap().is_empty(),
            "the page goes at expiry"
        );
        assert_eq!(store.subscriptions_tidy(later).unwrap(), 1);
        assert!(store.subscribers().unwrap().is_empty());
        assert_eq!(store.subscription_stats(later).unwrap().mail_queued, 0);
        let confirm = Request::Confirm { token };
        assert_eq!(
            store
                .record_request(("t/x", "e2", 2), Some(&confirm), &s, later)
                .unwrap(),
            Outcome::Refused,
            "an expired token is refused"
        );
    }
}
