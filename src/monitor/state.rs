//! Confirmation: a monitor's level changes only after enough consecutive results agree.
//!
//! A worse level needs `failure_threshold` results in a row, a better one `success_threshold`.
//! Inconclusive results (our own network failed, so we cannot judge) neither count nor reset.
//! Pure: [`confirm`] advances the states by a batch of results; the store reads the states
//! and writes what `confirm` decided inside the transaction that records the batch.

use super::{CheckResult, Monitor};
use crate::event::{ComponentChange, Event};
use crate::model::ComponentStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Up,
    Degraded,
    Down,
    /// We could not judge (e.g. our own resolver or network is down).
    Inconclusive,
}

/// A confirmed level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Up,
    Degraded,
    Down,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Up => "up",
            Level::Degraded => "degraded",
            Level::Down => "down",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "up" => Some(Level::Up),
            "degraded" => Some(Level::Degraded),
            "down" => Some(Level::Down),
            _ => None,
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "up",
            Outcome::Degraded => "degraded",
            Outcome::Down => "down",
            Outcome::Inconclusive => "inconclusive",
        }
    }
    fn level(self) -> Option<Level> {
        match self {
            Outcome::Up => Some(Level::Up),
            Outcome::Degraded => Some(Level::Degraded),
            Outcome::Down => Some(Level::Down),
            Outcome::Inconclusive => None,
        }
    }
}

/// Per-monitor streak state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    pub confirmed: Level,
    /// The level the recent results point to, and how many in a row.
    pub candidate: Level,
    pub count: u32,
}

impl Default for Streak {
    fn default() -> Self {
        Streak {
            confirmed: Level::Up,
            candidate: Level::Up,
            count: 0,
        }
    }
}

impl Streak {
    /// Apply one result; returns the new confirmed level if it changed.
    pub fn apply(
        &mut self,
        outcome: Outcome,
        failure_threshold: u32,
        success_threshold: u32,
    ) -> Option<Level> {
        let level = outcome.level()?;
        if level == self.candidate {
            self.count = self.count.saturating_add(1);
        } else {
            self.candidate = level;
            self.count = 1;
        }
        if self.candidate == self.confirmed {
            return None;
        }
        let needed = if self.candidate > self.confirmed {
            failure_threshold
        } else {
            success_threshold
        };
        if self.count >= needed.max(1) {
            self.confirmed = self.candidate;
            Some(self.confirmed)
        } else {
            None
        }
    }
}

/// What the store keeps of a monitor.
/// A monitor's confirmed level changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub monitor: String,
    pub component: String,
    pub from: Level,
    pub to: Level,
    pub at: DateTime<Utc>,
    /// The component was in a maintenance window: no automatic incident.
    pub in_maintenance: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorState {
    pub component: String,
    pub streak: Streak,
    pub status: ComponentStatus,
    pub since: DateTime<Utc>,
    pub open_incident: Option<String>,
    pub last_check_at: Option<DateTime<Utc>>,
}

impl MonitorState {
    /// A monitor's state before its first result (at `at`).
    pub fn new(component: &str, at: DateTime<Utc>) -> MonitorState {
        MonitorState {
            component: component.to_string(),
            streak: Streak::default(),
            status: ComponentStatus::Operational,
            since: at,
            open_incident: None,
            last_check_at: None,
        }
    }
}

/// One result of a batch, with what confirmation needs to know about it.
pub struct Judged<'a> {
    pub result: &'a CheckResult,
    pub monitor: &'a Monitor,
    /// The component is in a maintenance window at the result's time.
    pub in_maintenance: bool,
}

/// What a batch changed.
#[derive(Debug, Default, PartialEq)]
pub struct Confirmed {
    /// Confirmed level changes, in result order.
    pub transitions: Vec<Transition>,
    /// The public events they make, with their idempotency keys: a component's new status
    /// (none for private monitors).
    pub events: Vec<(String, Event)>,
}

/// Advance `states` (by monitor id; one missing starts fresh at its first result) by `batch`,
/// in order. Every result moves its monitor's streak; a confirmed change sets the component
/// status the monitor gives and makes a transition, and an event when that status changed.
pub fn confirm(states: &mut HashMap<String, MonitorState>, batch: &[Judged]) -> Confirmed {
    let mut out = Confirmed::default();
    for j in batch {
        let (r, m) = (j.result, j.monitor);
        let s = states
            .entry(m.id.clone())
            .or_insert_with(|| MonitorState::new(&m.component, r.at));
        s.component = m.component.clone();
        s.last_check_at = Some(r.at);
        let before = s.streak.confirmed;
        let Some(to) = s
            .streak
            .apply(r.outcome, m.failure_threshold, m.success_threshold)
        else {
            continue;
        };
        let old_status = s.status;
        s.status = m.component_status(to);
        s.since = r.at;
        if s.status != old_status && !m.private {
            let key = format!(
                "component:{}:{}:{}",
                m.id,
                r.at.timestamp_millis(),
                s.status.as_str()
            );
            let event = Event::Component {
                at: r.at,
                change: ComponentChange {
                    id: m.component.clone(),
                    old_status,
                    new_status: s.status,
                },
            };
            out.events.push((key, event));
        }
        out.transitions.push(Transition {
            monitor: m.id.clone(),
            component: m.component.clone(),
            from: before,
            to,
            at: r.at,
            in_maintenance: j.in_maintenance,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;
    use super::*;

    fn run(outcomes: &[Outcome]) -> (Vec<Option<Level>>, Streak) {
        let mut s = Streak::default();
        let changes = outcomes.iter().map(|o| s.apply(*o, 3, 2)).collect();
        (changes, s)
    }

    fn monitor(id: &str, thresholds: (u32, u32), private: bool) -> Monitor {
        Monitor {
            id: id.into(),
            component: format!("c-{id}"),
            kind: crate::monitor::Kind::Tcp(crate::monitor::TcpSpec {
                host: "127.0.0.1".into(),
                port: 9,
                send: None,
                expect: None,
            }),
            interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(1),
            failure_threshold: thresholds.0,
            success_threshold: thresholds.1,
            down_status: ComponentStatus::MajorOutage,
            degraded_above: None,
            conditions: vec![],
            redactor: Default::default(),
            incident: crate::monitor::IncidentTemplate {
                open: true,
                auto_resolve: crate::config::AutoResolve::Untouched,
                title: String::new(),
                message: String::new(),
                recovery: String::new(),
                monitoring: String::new(),
            },
            private,
        }
    }

    /// Run `batch` ((monitor index, outcome, maintenance), one second apart) through
    /// [`confirm`] on fresh states: the transitions as (monitor, from, to, second, maintenance)
    /// and the events as (component, old, new).
    #[allow(clippy::type_complexity)]
    fn table(
        monitors: &[Monitor],
        batch: &[(usize, Outcome, bool)],
    ) -> (
        Vec<(String, Level, Level, i64, bool)>,
        Vec<(String, ComponentStatus, ComponentStatus)>,
    ) {
        let t0 = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let results: Vec<CheckResult> = batch
            .iter()
            .enumerate()
            .map(|(n, (m, o, _))| CheckResult {
                monitor: monitors[*m].id.clone(),
                at: t0 + chrono::Duration::seconds(n as i64),
                outcome: *o,
                latency: None,
                reason: None,
                reached: None,
                regions: Vec::new(),
            })
            .collect();
        let judged: Vec<Judged> = results
            .iter()
            .zip(batch)
            .map(|(r, (m, _, maint))| Judged {
                result: r,
                monitor: &monitors[*m],
                in_maintenance: *maint,
            })
            .collect();
        let mut states = HashMap::new();
        let c = confirm(&mut states, &judged);
        (
            c.transitions
                .iter()
                .map(|t| {
                    (
                        t.monitor.clone(),
                        t.from,
                        t.to,
                        (t.at - t0).num_seconds(),
                        t.in_maintenance,
                    )
                })
                .collect(),
            c.events
                .iter()
                .map(|(_, e)| match e {
                    Event::Component { change, .. } => {
                        (change.id.clone(), change.old_status, change.new_status)
                    }
                    other => panic!("{other:?}"),
                })
                .collect(),
        )
    }

    #[test]
    fn confirm_is_a_table_of_batches_to_transitions_and_events() {
        use ComponentStatus::{
            DegradedPerformance as Deg, MajorOutage as Major, Operational as Op,
        };
        let ms = [
            monitor("a", (3, 2), false),
            monitor("b", (1, 1), false),
            monitor("p", (1, 1), true),
        ];
        type Row = (
            &'static str,
            Vec<(usize, Outcome, bool)>,
            Vec<(&'static str, Level, Level, i64, bool)>,
            Vec<(&'static str, ComponentStatus, ComponentStatus)>,
        );
        let rows: Vec<Row> = vec![
            (
                "three failures confirm, two successes recover, in one batch",
                vec![
                    (0, Down, false),
                    (0, Down, false),
                    (0, Down, false),
                    (0, Up, false),
                    (0, Up, false),
                ],
                vec![
                    ("a", Level::Up, Level::Down, 2, false),
                    ("a", Level::Down, Level::Up, 4, false),
                ],
                vec![("c-a", Op, Major), ("c-a", Major, Op)],
            ),
            (
                "monitors keep their own streaks",
                vec![
                    (0, Down, false),
                    (1, Down, false),
                    (0, Down, false),
                    (1, Up, false),
                    (0, Down, false),
                ],
                vec![
                    ("b", Level::Up, Level::Down, 1, false),
                    ("b", Level::Down, Level::Up, 3, false),
                    ("a", Level::Up, Level::Down, 4, false),
                ],
                vec![("c-b", Op, Major), ("c-b", Major, Op), ("c-a", Op, Major)],
            ),
            (
                "a private monitor changes state but tells nobody",
                vec![(2, Down, false), (2, Up, false)],
                vec![
                    ("p", Level::Up, Level::Down, 0, false),
                    ("p", Level::Down, Level::Up, 1, false),
                ],
                vec![],
            ),
            (
                "degraded, then down: two changes; maintenance is carried",
                vec![(1, Degraded, true), (1, Down, true)],
                vec![
                    ("b", Level::Up, Level::Degraded, 0, true),
                    ("b", Level::Degraded, Level::Down, 1, true),
                ],
                vec![("c-b", Op, Deg), ("c-b", Deg, Major)],
            ),
            (
                "inconclusive results change nothing",
                vec![(1, Inconclusive, false), (1, Inconclusive, false)],
                vec![],
                vec![],
            ),
        ];
        for (what, batch, transitions, events) in rows {
            let (t, e) = table(&ms, &batch);
            let want_t: Vec<_> = transitions
                .into_iter()
                .map(|(m, f, to, at, mt)| (m.to_string(), f, to, at, mt))
                .collect();
            let want_e: Vec<_> = events
                .into_iter()
                .map(|(c, o, n)| (c.to_string(), o, n))
                .collect();
            assert_eq!((t, e), (want_t, want_e), "{what}");
        }
    }

    #[test]
    fn one_blip_is_not_an_outage() {
        let (changes, s) = run(&[Up, Down, Up, Up, Down, Down, Up]);
        assert!(changes.iter().all(Option::is_none));
        assert_eq!(s.confirmed, Level::Up);
    }

    #[test]
    fn three_failures_confirm_and_two_successes_recover() {
        let (changes, _) = run(&[Down, Down, Down, Down, Up, Up]);
        assert_eq!(
            changes,
            [None, None, Some(Level::Down), None, None, Some(Level::Up)]
        );
    }

    #[test]
    fn flapping_never_confirms() {
        let flaps: Vec<Outcome> = (0..200)
            .map(|i| if i % 2 == 0 { Down } else { Up })
            .collect();
        let (changes, s) = run(&flaps);
        assert!(changes.iter().all(Option::is_none));
        assert_eq!(s.confirmed, Level::Up);
    }

    #[test]
    fn inconclusive_results_neither_count_nor_reset() {
        let (changes, _) = run(&[Down, Inconclusive, Down, Inconclusive, Down]);
        assert_eq!(changes[4], Some(Level::Down));
    }

    #[test]
    fn degraded_is_confirmed_like_down() {
        let (changes, s) = run(&[Degraded, Degraded, Degraded, Down, Down, Down]);
        assert_eq!(changes[2], Some(Level::Degraded));
        assert_eq!(changes[5], Some(Level::Down));
        assert_eq!(s.confirmed, Level::Down);
    }
}
