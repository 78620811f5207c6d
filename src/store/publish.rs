//! What each publish target holds, so a publish uploads only what changed and a restart resumes.

use super::{Store, from_ts, ts};
use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::collections::HashMap;

/// An object a target holds, as recorded when we stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    pub sha256: String,
    pub md5: String,
    pub orphaned_at: Option<DateTime<Utc>>,
}

impl Store {
    pub fn remote_objects(&self, target: &str) -> Result<HashMap<String, RemoteObject>> {
        let mut stmt = self.conn.prepare(
            "SELECT path, sha256, md5, orphaned_at FROM publish_objects WHERE target = ?1",
        )?;
        let rows = stmt.query_map([target], |r| {
            Ok((
                r.get::<_, String>(0)?,
                RemoteObject {
                    sha256: r.get(1)?,
                    md5: r.get(2)?,
                    orphaned_at: r.get::<_, Option<i64>>(3)?.map(from_ts),
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Record that `path` now holds these bytes (hashes) on `target`.
    pub fn put_remote(&self, target: &str, path: &str, sha256: &str, md5: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO publish_objects (target, path, sha256, md5) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(target, path) DO UPDATE SET sha256 = excluded.sha256, md5 = excluded.md5, orphaned_at = NULL",
            params![target, path, sha256, md5],
        )?;
        Ok(())
    }

    pub fn orphan_remote(&self, target: &str, path: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE publish_objects SET orphaned_at = ?3 WHERE target = ?1 AND path = ?2 AND orphaned_at IS NULL",
            params![target, path, ts(at)],
        )?;
        Ok(())
    }

    pub fn delete_remote(&self, target: &str, path: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM publish_objects WHERE target = ?1 AND path = ?2",
            params![target, path],
        )?;
        Ok(())
    }

    /// Note an attempt's outcome; returns the number of failures in a row.
    pub fn publish_attempt(
        &self,
        target: &str,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<u32> {
        self.conn.execute(
            "INSERT INTO publish_state (target, attempts, last_error, last_attempt_at, last_success_at)
             VALUES (?1, CASE WHEN ?2 IS NULL THEN 0 ELSE 1 END, ?2, ?3, CASE WHEN ?2 IS NULL THEN ?3 END)
             ON CONFLICT(target) DO UPDATE SET
               attempts = CASE WHEN ?2 IS NULL THEN 0 ELSE attempts + 1 END,
               last_error = ?2, last_attempt_at = ?3,
               last_success_at = CASE WHEN ?2 IS NULL THEN ?3 ELSE last_success_at END",
            params![target, error, ts(at)],
        )?;
        Ok(self.conn.query_row(
            "SELECT attempts FROM publish_state WHERE target = ?1",
            [target],
            |r| r.get(0),
        )?)
    }
}
