//! What a cluster leader keeps of the regions: each one's last report and silence flag (for
//! `pharos status`), and per-region response times (for the component pages).

use super::Store;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;
use std::collections::BTreeMap;

/// One other region as the leader last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionRow {
    pub region: String,
    pub heard: DateTime<Utc>,
    pub silent: bool,
}

/// One region's checks of a component on a day.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionLatency {
    pub region: String,
    pub checks: i64,
    pub down: i64,
    /// Mean response time, when any check measured one.
    pub mean_ms: Option<i64>,
}

impl Store {
    /// Forget the raw results and hourly rollups (a new leader's own are the only ones that
    /// count from the takeover on: a stale local copy must not be rolled into the days the
    /// mirror brought).
    pub fn forget_raw(&mut self) -> Result<()> {
        self.conn
            .execute_batch("DELETE FROM check_results; DELETE FROM hourly_rollups;")?;
        Ok(())
    }

    /// Replace the leader's view of the other regions.
    pub fn note_regions(&mut self, rows: &[RegionRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM cluster_regions", [])?;
        for r in rows {
            tx.execute(
                "INSERT INTO cluster_regions (region, heard_ms, silent) VALUES (?1, ?2, ?3)",
                params![r.region, r.heard.timestamp_millis(), r.silent],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The other regions as the leader last saw them, by name.
    pub fn regions(&self) -> Result<Vec<RegionRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT region, heard_ms, silent FROM cluster_regions ORDER BY region")?;
        let rows = stmt.query_map([], |r| {
            Ok(RegionRow {
                region: r.get(0)?,
                heard: DateTime::from_timestamp_millis(r.get(1)?).unwrap_or_default(),
                silent: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Each component's checks by region on `day`, regions by name.
    pub fn region_latency(&self, day: NaiveDate) -> Result<BTreeMap<String, Vec<RegionLatency>>> {
        let mut stmt = self.conn.prepare(
            "SELECT component_id, region, checks, down, latency_sum_ms, latency_n FROM region_daily
             WHERE day = ?1 ORDER BY component_id, region",
        )?;
        let mut out: BTreeMap<String, Vec<RegionLatency>> = BTreeMap::new();
        let rows = stmt.query_map([day.to_string()], |r| {
            let (sum, n): (i64, i64) = (r.get(4)?, r.get(5)?);
            Ok((
                r.get::<_, String>(0)?,
                RegionLatency {
                    region: r.get(1)?,
                    checks: r.get(2)?,
                    down: r.get(3)?,
                    mean_ms: (n > 0).then(|| sum / n),
                },
            ))
        })?;
        for row in rows {
            let (c, l) = row?;
            out.entry(c).or_default().push(l);
        }
        Ok(out)
    }
}
