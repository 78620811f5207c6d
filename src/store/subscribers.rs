//! Subscribers as the admin sees them: add, remove, list, and the counts `pharos status` shows.

use super::subscriptions::{
    SUB_COLUMNS, bump, components_json, confirmation_sent, delete_subscriber, max_event, queue,
    read_subscriber, subscriber_where,
};
use super::{MailKind, Store, ts};
use crate::config::Subscriptions;
use crate::subscriber::{Subscriber, new_token};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{TransactionBehavior, params};

/// What an admin's add did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Confirmed,
    /// Pending: a confirmation email is queued.
    Pending,
    Exists,
}

/// Counts for `pharos status` and `pharos subscribers stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub confirmed: i64,
    pub pending: i64,
    pub mail_queued: i64,
    pub mail_failing: i64,
    pub sent_24h: i64,
    /// Objects in the inbox at the last poll (at most one page of the listing).
    pub inbox_pending: Option<i64>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_poll_error: bool,
    /// Since the store was made: requests recorded, junk objects, refused tokens, over a limit.
    pub handled: i64,
    pub malformed: i64,
    pub refused: i64,
    pub limited: i64,
}

impl Store {
    /// Add a subscriber by hand. Unless `confirmed`, it is pending and sent a confirmation.
    pub fn subscriber_add(
        &mut self,
        address: &str,
        components: &[String],
        confirmed: bool,
        source: &str,
        s: &Subscriptions,
        now: DateTime<Utc>,
    ) -> Result<Added> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if subscriber_where(&tx, "s.email", address)?.is_some() {
            return Ok(Added::Exists);
        }
        let components = (!components.is_empty()).then(|| components.to_vec());
        let added = if confirmed {
            tx.execute(
                "INSERT INTO subscribers (email, components, created_at, confirmed_at, manage_token, from_event, source)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                params![address, components_json(&components), ts(now), new_token(), max_event(&tx)?, source],
            )?;
            Added::Confirmed
        } else {
            let expires = now + Duration::from_std(s.expire.0).unwrap_or(Duration::hours(48));
            tx.execute(
                "INSERT INTO subscribers (email, components, created_at, confirm_token, expires_at, manage_token, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![address, components_json(&components), ts(now), new_token(), ts(expires), new_token(), source],
            )?;
            let id = tx.last_insert_rowid();
            confirmation_sent(&tx, address, now)?;
            queue(
                &tx,
                id,
                MailKind::Confirm,
                &format!("confirm:{id}:{}", new_token()),
                None,
                None,
                now,
            )?;
            Added::Pending
        };
        bump(&tx, "version", 1)?;
        tx.commit()?;
        Ok(added)
    }

    /// Remove a subscriber (and the emails still queued for them). Returns whether one was.
    pub fn subscriber_remove(&mut self, address: &str) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(sub) = subscriber_where(&tx, "s.email", address)? else {
            return Ok(false);
        };
        delete_subscriber(&tx, sub.id)?;
        bump(&tx, "version", 1)?;
        tx.commit()?;
        Ok(true)
    }

    /// Every subscriber, oldest first.
    pub fn subscribers(&self) -> Result<Vec<Subscriber>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SUB_COLUMNS} FROM subscribers s ORDER BY s.id"
        ))?;
        let rows = stmt.query_map([], |r| read_subscriber(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn subscription_stats(&self, now: DateTime<Utc>) -> Result<Stats> {
        let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64> {
            Ok(self.conn.query_row(sql, p, |r| r.get(0))?)
        };
        Ok(Stats {
            confirmed: count(
                "SELECT COUNT(*) FROM subscribers WHERE confirmed_at IS NOT NULL",
                &[],
            )?,
            pending: count(
                "SELECT COUNT(*) FROM subscribers WHERE confirmed_at IS NULL",
                &[],
            )?,
            mail_queued: count(
                "SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL",
                &[],
            )?,
            mail_failing: count(
                "SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL AND attempts > 0",
                &[],
            )?,
            sent_24h: self.mails_sent_since(now - Duration::days(1))?,
            inbox_pending: self.state_value("inbox_pending")?,
            last_poll: self
                .state_value("last_poll")?
                .and_then(DateTime::from_timestamp_millis),
            last_poll_error: self.state_value("last_poll_error")? == Some(1),
            handled: self.state_value("handled")?.unwrap_or(0),
            malformed: self.state_value("malformed")?.unwrap_or(0),
            refused: self.state_value("refused")?.unwrap_or(0),
            limited: self.state_value("limited")?.unwrap_or(0),
        })
    }
}
