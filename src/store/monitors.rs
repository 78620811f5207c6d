//! The monitor engine's side of the store: results in batches, confirmation decided inside the
//! write transaction that records them, live rollup counts, percentiles and pruning.

use super::{Store, from_ts, ts};
use crate::monitor::state::{Judged, MonitorState, Transition, confirm};
use crate::monitor::{CheckResult, Level, Monitor, Outcome, Streak};
use anyhow::Result;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;
use std::time::Duration;

fn level(s: String) -> Level {
    Level::parse(&s).unwrap_or(Level::Up)
}

fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600) * 3600
}

/// p50, p95, p99 of sorted values (nearest rank).
fn percentiles(sorted: &[i64]) -> (Option<i64>, Option<i64>, Option<i64>) {
    if sorted.is_empty() {
        return (None, None, None);
    }
    let at =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    (Some(at(0.50)), Some(at(0.95)), Some(at(0.99)))
}

/// Days of per-region figures kept (the component page shows the last day).
const REGION_DAYS: i64 = 8;

impl Store {
    pub fn monitor_state(&self, id: &str) -> Result<Option<MonitorState>> {
        Store::read_state(&self.conn, id)
    }

    /// Make `monitor_state` match the configured monitors: new ones start up, removed ones go
    /// (with them their effect on components), a moved one follows its component.
    pub fn sync_monitors(&mut self, monitors: &[Monitor], now: DateTime<Utc>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let ids: Vec<String> = tx
                .prepare("SELECT monitor_id FROM monitor_state")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in ids
                .iter()
                .filter(|id| !monitors.iter().any(|m| &m.id == *id))
            {
                tx.execute("DELETE FROM monitor_state WHERE monitor_id = ?1", [id])?;
            }
            let mut upsert = tx.prepare(
                "INSERT INTO monitor_state (monitor_id, component_id, status, since, private, created_ms) VALUES (?1, ?2, 'operational', ?3, ?4, ?5)
                 ON CONFLICT(monitor_id) DO UPDATE SET component_id = excluded.component_id, private = excluded.private",
            )?;
            for m in monitors {
                upsert.execute(params![
                    m.id,
                    m.component,
                    ts(now),
                    m.private,
                    now.timestamp_millis()
                ])?;
            }
            // A changed down_status applies to a monitor that is down now.
            let mut fix = tx.prepare(
                "UPDATE monitor_state SET status = ?2 WHERE monitor_id = ?1 AND level = ?3",
            )?;
            for m in monitors {
                for l in [Level::Down, Level::Degraded] {
                    fix.execute(params![m.id, m.component_status(l).as_str(), l.as_str()])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Record a batch of results in one transaction and advance each monitor's confirmation.
    /// Returns the confirmed transitions, in result order.
    pub fn record(
        &mut self,
        results: &[CheckResult],
        monitors: &HashMap<String, Monitor>,
        tz: Tz,
        in_maintenance: &dyn Fn(&str, DateTime<Utc>) -> bool,
    ) -> Result<Vec<Transition>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let transitions;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO check_results (monitor_id, component_id, at_ms, outcome, latency_ms, reason, in_maintenance, private)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut hourly = tx.prepare_cached(
                "INSERT INTO hourly_rollups (monitor_id, component_id, hour, up, degraded, down) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(monitor_id, hour) DO UPDATE SET up = up + excluded.up, degraded = degraded + excluded.degraded,
                   down = down + excluded.down",
            )?;
            let mut daily = tx.prepare_cached(
                "INSERT INTO daily_rollups (component_id, day, up, degraded, down) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(component_id, day) DO UPDATE SET up = up + excluded.up, degraded = degraded + excluded.degraded,
                   down = down + excluded.down",
            )?;
            let mut regional = tx.prepare_cached(
                "INSERT INTO region_daily (component_id, region, day, checks, down, latency_sum_ms, latency_n) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)
                 ON CONFLICT(component_id, day, region) DO UPDATE SET checks = checks + 1, down = down + excluded.down,
                   latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, latency_n = latency_n + excluded.latency_n",
            )?;
            // Each monitor's state as stored (a fresh one at its first result), advanced by the
            // batch in a pure function; what it decides is written below, in this transaction.
            let mut judged = Vec::with_capacity(results.len());
            let mut states: HashMap<String, MonitorState> = HashMap::new();
            for r in results {
                let Some(m) = monitors.get(&r.monitor) else {
                    continue;
                };
                let maintenance = in_maintenance(&m.component, r.at);
                insert.execute(params![
                    m.id,
                    m.component,
                    r.at.timestamp_millis(),
                    r.outcome.as_str(),
                    r.latency.map(|l| l.as_millis() as i64),
                    r.reason,
                    maintenance,
                    m.private
                ])?;
                // Uptime counts what visitors could have experienced, outside maintenance.
                let counts = match r.outcome {
                    Outcome::Up => Some((1, 0, 0)),
                    Outcome::Degraded => Some((0, 1, 0)),
                    Outcome::Down => Some((0, 0, 1)),
                    Outcome::Inconclusive => None,
                };
                // A private monitor counts towards nothing public.
                if let (Some((u, g, d)), false, false) = (counts, maintenance, m.private) {
                    hourly.execute(params![m.id, m.component, hour_of(r.at), u, g, d])?;
                    let day = crate::time::local_day(r.at, tz).to_string();
                    daily.execute(params![m.component, day, u, g, d])?;
                    // What each region saw (a cluster leader's judged results).
                    for seen in &r.regions {
                        if seen.outcome == Outcome::Inconclusive {
                            continue;
                        }
                        let ms = seen.latency.map(|l| l.as_millis() as i64);
                        regional.execute(params![
                            m.component,
                            seen.region,
                            day,
                            i64::from(seen.outcome == Outcome::Down),
                            ms.unwrap_or(0),
                            i64::from(ms.is_some())
                        ])?;
                    }
                }
                if !states.contains_key(&m.id)
                    && let Some(s) = Store::read_state(&tx, &m.id)?
                {
                    states.insert(m.id.clone(), s);
                }
                judged.push(Judged {
                    result: r,
                    monitor: m,
                    in_maintenance: maintenance,
                });
            }
            let confirmed = confirm(&mut states, &judged);
            for (key, event) in &confirmed.events {
                super::notify::push(&tx, key, event, event.at())?;
            }
            transitions = confirmed.transitions;
            let mut save = tx.prepare_cached(
                "INSERT INTO monitor_state (monitor_id, component_id, status, since, last_check_at, level, candidate, streak, open_incident)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(monitor_id) DO UPDATE SET component_id = excluded.component_id, status = excluded.status,
                   since = excluded.since, last_check_at = excluded.last_check_at, level = excluded.level,
                   candidate = excluded.candidate, streak = excluded.streak",
            )?;
            for (id, s) in &states {
                save.execute(params![
                    id,
                    s.component,
                    s.status.as_str(),
                    ts(s.since),
                    s.last_check_at.map(ts),
                    s.streak.confirmed.as_str(),
                    s.streak.candidate.as_str(),
                    s.streak.count,
                    s.open_incident
                ])?;
            }
        }
        tx.commit()?;
        Ok(transitions)
    }

    fn read_state(conn: &rusqlite::Connection, id: &str) -> Result<Option<MonitorState>> {
        Ok(conn
            .query_row(
                "SELECT component_id, level, candidate, streak, status, since, open_incident, last_check_at
                 FROM monitor_state WHERE monitor_id = ?1",
                [id],
                |r| {
                    Ok(MonitorState {
                        component: r.get(0)?,
                        streak: Streak {
                            confirmed: level(r.get(1)?),
                            candidate: level(r.get(2)?),
                            count: r.get(3)?,
                        },
                        status: super::parse_enum(r.get(4)?)?,
                        since: from_ts(r.get(5)?),
                        open_incident: r.get(6)?,
                        last_check_at: r.get::<_, Option<i64>>(7)?.map(from_ts),
                    })
                },
            )
            .optional()?)
    }

    /// For each monitor: its last accepted ping, and how long a daemon has listened to its
    /// silence since then (or since the monitor was configured, if it never pinged), up to
    /// the moment a daemon was last alive.
    pub fn heartbeat_silences(&self) -> Result<crate::monitor::Silences> {
        let alive: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM daemon_state WHERE name = 'alive_ms'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let mut stmt = self
            .conn
            .prepare("SELECT monitor_id, last_ping_ms, created_ms FROM monitor_state")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, ping, created) = row?;
            let listened = match (alive, ping.or(created)) {
                (Some(alive), Some(from)) => chrono::Duration::milliseconds((alive - from).max(0)),
                _ => chrono::Duration::zero(),
            };
            out.insert(
                id,
                (ping.and_then(DateTime::from_timestamp_millis), listened),
            );
        }
        Ok(out)
    }

    /// Remember that a daemon is alive (listening for pings) at `now`.
    pub fn note_alive(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO daemon_state (name, value) VALUES ('alive_ms', ?1)
             ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
            [now.timestamp_millis()],
        )?;
        Ok(())
    }

    /// The last accepted ping of each heartbeat monitor that has one.
    pub fn last_pings(&self) -> Result<HashMap<String, DateTime<Utc>>> {
        let mut stmt = self.conn.prepare(
            "SELECT monitor_id, last_ping_ms FROM monitor_state WHERE last_ping_ms IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, ms) = row?;
            if let Some(t) = DateTime::from_timestamp_millis(ms) {
                out.insert(id, t);
            }
        }
        Ok(out)
    }

    /// Keep heartbeat pings (monitor id -> time), and that a daemon listened until `alive`, in
    /// one transaction; a time never goes back.
    pub fn record_pings(
        &mut self,
        pings: &HashMap<String, DateTime<Utc>>,
        alive: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO daemon_state (name, value) VALUES ('alive_ms', ?1)
             ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
            [alive.timestamp_millis()],
        )?;
        {
            let mut set = tx.prepare_cached(
                "UPDATE monitor_state SET last_ping_ms = max(coalesce(last_ping_ms, 0), ?2) WHERE monitor_id = ?1",
            )?;
            for (id, at) in pings {
                set.execute(params![id, at.timestamp_millis()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Remember (or forget) the automatic incident a monitor has open.
    pub fn set_open_incident(&mut self, monitor: &str, incident: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE monitor_state SET open_incident = ?2 WHERE monitor_id = ?1",
            params![monitor, incident],
        )?;
        Ok(())
    }

    /// Latency percentiles for finished hours and for the days up to today; pruning of raw
    /// results and old rollups. Idempotent: safe to run at any time, any number of times.
    pub fn rollup(
        &mut self,
        now: DateTime<Utc>,
        tz: Tz,
        raw_retention: Duration,
        rollup_retention: Duration,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let done: i64 = tx
                .query_row(
                    "SELECT value FROM rollup_progress WHERE name = 'hourly'",
                    [],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let current = hour_of(now);
            let oldest_raw: Option<i64> =
                tx.query_row("SELECT MIN(at_ms) FROM check_results", [], |r| r.get(0))?;
            let start = match oldest_raw {
                Some(ms) => done.max(ms.div_euclid(3_600_000) * 3600),
                None => current,
            };
            let mut hour = start;
            while hour < current {
                let mut by_monitor: HashMap<String, Vec<i64>> = HashMap::new();
                let mut stmt = tx.prepare_cached(
                    "SELECT monitor_id, latency_ms FROM check_results
                     WHERE at_ms >= ?1 AND at_ms < ?2 AND latency_ms IS NOT NULL AND in_maintenance = 0 AND outcome != 'inconclusive' AND private = 0",
                )?;
                for row in stmt.query_map(params![hour * 1000, (hour + 3600) * 1000], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })? {
                    let (m, l) = row?;
                    by_monitor.entry(m).or_default().push(l);
                }
                let mut upd = tx.prepare_cached(
                    "UPDATE hourly_rollups SET latency_p50_ms = ?3, latency_p95_ms = ?4, latency_p99_ms = ?5 WHERE monitor_id = ?1 AND hour = ?2",
                )?;
                for (m, mut v) in by_monitor {
                    v.sort_unstable();
                    let (a, b, c) = percentiles(&v);
                    upd.execute(params![m, hour, a, b, c])?;
                }
                hour += 3600;
            }
            tx.execute(
                "INSERT INTO rollup_progress (name, value) VALUES ('hourly', ?1) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [current],
            )?;

            // Daily percentiles per component, for every day that still has raw results.
            let today = crate::time::local_day(now, tz);
            let mut day = oldest_raw
                .and_then(DateTime::from_timestamp_millis)
                .map(|t| crate::time::local_day(t, tz))
                .unwrap_or(today);
            let done_day: Option<String> = tx
                .query_row(
                    "SELECT value FROM rollup_progress WHERE name = 'daily'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
                .map(|d| {
                    NaiveDate::from_num_days_from_ce_opt(d as i32)
                        .unwrap_or(today)
                        .to_string()
                });
            if let Some(d) = done_day.and_then(|d| d.parse::<NaiveDate>().ok()) {
                day = day.max(d);
            }
            while day <= today {
                let (from, until) = day_bounds(day, tz);
                let mut by_component: HashMap<String, Vec<i64>> = HashMap::new();
                let mut stmt = tx.prepare_cached(
                    "SELECT component_id, latency_ms FROM check_results
                     WHERE at_ms >= ?1 AND at_ms < ?2 AND latency_ms IS NOT NULL AND in_maintenance = 0 AND outcome != 'inconclusive' AND private = 0",
                )?;
                for row in stmt.query_map(
                    params![from.timestamp_millis(), until.timestamp_millis()],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )? {
                    let (c, l) = row?;
                    by_component.entry(c).or_default().push(l);
                }
                let mut upd = tx.prepare_cached(
                    "UPDATE daily_rollups SET latency_p50_ms = ?3, latency_p95_ms = ?4, latency_p99_ms = ?5 WHERE component_id = ?1 AND day = ?2",
                )?;
                for (c, mut v) in by_component {
                    v.sort_unstable();
                    let (a, b, cc) = percentiles(&v);
                    upd.execute(params![c, day.to_string(), a, b, cc])?;
                }
                day += ChronoDuration::days(1);
            }
            // Days before today are final.
            use chrono::Datelike;
            tx.execute(
                "INSERT INTO rollup_progress (name, value) VALUES ('daily', ?1) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [i64::from(today.num_days_from_ce())],
            )?;

            let raw_cutoff =
                now - ChronoDuration::from_std(raw_retention).unwrap_or(ChronoDuration::days(7));
            tx.execute(
                "DELETE FROM check_results WHERE at_ms < ?1",
                [raw_cutoff.timestamp_millis()],
            )?;
            let keep =
                ChronoDuration::from_std(rollup_retention).unwrap_or(ChronoDuration::days(400));
            tx.execute(
                "DELETE FROM hourly_rollups WHERE hour < ?1",
                [(now - keep).timestamp()],
            )?;
            tx.execute(
                "DELETE FROM daily_rollups WHERE day < ?1",
                [crate::time::local_day(now - keep, tz).to_string()],
            )?;
            // Per-region figures are shown for recent days only.
            tx.execute(
                "DELETE FROM region_daily WHERE day < ?1",
                [
                    crate::time::local_day(now - chrono::Duration::days(REGION_DAYS), tz)
                        .to_string(),
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Rows in check_results (tests, benchmarks).
    pub fn raw_result_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM check_results", [], |r| r.get(0))?)
    }
}

/// The UTC bounds of a local calendar day.
fn day_bounds(day: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| crate::time::day_start(d, tz);
    (start(day), start(day + ChronoDuration::days(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentiles(&v), (Some(50), Some(95), Some(99)));
        assert_eq!(percentiles(&[7]), (Some(7), Some(7), Some(7)));
        assert_eq!(percentiles(&[]), (None, None, None));
    }
}
