//! The leader's view of the regions, and judging by quorum. Pure: the caller reads the reports
//! and says what time it is (its own monotonic clock; never a probe's).
//!
//! - A region is **live** while its report's `seq` moved within `silent_after`. A report seen
//!   for the first time is a baseline only: what it holds may be hours old (a probe that died),
//!   so it counts once it moves.
//! - A vote counts while it is **fresh**: its monitor's `n` moved within the window the caller
//!   gives (about one interval).
//! - A monitor's outcome is the `q`-th worst of the fresh votes (own included), where `q` is
//!   `quorum` (default: a majority of the live regions). Fewer votes than `q`: judged with those
//!   there are, and said so.

use super::report::{Report, Vote};
use crate::monitor::{CheckResult, Outcome, RegionResult};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

struct Region {
    instance: String,
    seq: u64,
    /// When its `seq` last moved (our clock); `None` while only its baseline was seen.
    heard: Option<Instant>,
    heard_wall: DateTime<Utc>,
    /// Each monitor's latest vote, and when its `n` last moved (`None`: baseline).
    votes: HashMap<String, (Vote, Option<Instant>)>,
    first_seen: Instant,
    /// Flagged silent (said once until it reports again).
    flagged: bool,
}

/// A change in which regions report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No report from `region` since `since` (our clock, wall time).
    Silent {
        region: String,
        since: DateTime<Utc>,
    },
    Back {
        region: String,
    },
}

/// One region as `pharos status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionState {
    pub region: String,
    pub live: bool,
    /// When it last reported (or was first seen).
    pub heard: DateTime<Utc>,
}

pub struct Regions {
    me: String,
    silent_after: Duration,
    regions: BTreeMap<String, Region>,
}

impl Regions {
    pub fn new(me: &str, silent_after: Duration) -> Regions {
        Regions {
            me: me.to_string(),
            silent_after,
            regions: BTreeMap::new(),
        }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    /// Take a report read at `now`.
    pub fn take(&mut self, report: Report, now: Instant, wall: DateTime<Utc>) {
        if report.region == self.me {
            return;
        }
        let fresh = |report: Report| Region {
            instance: report.instance,
            seq: report.seq,
            heard: None,
            heard_wall: wall,
            votes: report
                .results
                .into_iter()
                .map(|(m, v)| (m, (v, None)))
                .collect(),
            first_seen: now,
            flagged: false,
        };
        let Some(r) = self.regions.get_mut(&report.region) else {
            self.regions.insert(report.region.clone(), fresh(report));
            return;
        };
        if r.instance != report.instance {
            // Restarted: its counts begin again. It reports, so it is live from now on.
            let flagged = r.flagged;
            *r = fresh(report);
            r.flagged = flagged;
            r.heard = Some(now);
            r.heard_wall = wall;
            return;
        }
        if report.seq <= r.seq {
            return;
        }
        r.seq = report.seq;
        r.heard = Some(now);
        r.heard_wall = wall;
        for (m, v) in report.results {
            let moved = r.votes.get(&m).is_none_or(|(old, _)| v.n > old.n);
            if moved {
                r.votes.insert(m, (v, Some(now)));
            }
        }
    }

    fn is_live(&self, r: &Region, now: Instant) -> bool {
        r.heard
            .is_some_and(|h| now.saturating_duration_since(h) < self.silent_after)
    }

    /// Regions live at `now`, ours included.
    pub fn live(&self, now: Instant) -> usize {
        1 + self
            .regions
            .values()
            .filter(|r| self.is_live(r, now))
            .count()
    }

    /// Regions that fell silent or came back since the last call.
    pub fn changes(&mut self, now: Instant) -> Vec<Change> {
        let mut out = Vec::new();
        let silent_after = self.silent_after;
        for (name, r) in self.regions.iter_mut() {
            let live = r
                .heard
                .is_some_and(|h| now.saturating_duration_since(h) < silent_after);
            let waited = now.saturating_duration_since(r.heard.unwrap_or(r.first_seen));
            if live && r.flagged {
                r.flagged = false;
                out.push(Change::Back {
                    region: name.clone(),
                });
            } else if !live && !r.flagged && waited >= silent_after {
                r.flagged = true;
                out.push(Change::Silent {
                    region: name.clone(),
                    since: r.heard_wall,
                });
            }
        }
        out
    }

    /// Fresh votes of live regions for `monitor`: moved within `fresh` of `now`.
    pub fn votes(&self, monitor: &str, fresh: Duration, now: Instant) -> Vec<(String, Vote)> {
        self.regions
            .iter()
            .filter(|(_, r)| self.is_live(r, now))
            .filter_map(|(name, r)| {
                let (v, at) = r.votes.get(monitor)?;
                let at = (*at)?;
                (now.saturating_duration_since(at) < fresh).then(|| (name.clone(), v.clone()))
            })
            .collect()
    }

    /// Every other region's state, for `pharos status`.
    pub fn states(&self, now: Instant) -> Vec<RegionState> {
        self.regions
            .iter()
            .map(|(name, r)| RegionState {
                region: name.clone(),
                live: self.is_live(r, now),
                heard: r.heard_wall,
            })
            .collect()
    }
}

/// How a monitor was judged when fewer regions voted than the quorum asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    pub votes: usize,
    pub quorum: usize,
}

fn severity(o: Outcome) -> u8 {
    match o {
        Outcome::Down => 2,
        Outcome::Degraded => 1,
        Outcome::Up | Outcome::Inconclusive => 0,
    }
}

/// Our result for a monitor, judged with the other regions' fresh `votes`; `live` regions
/// (ours included) set the default quorum.
pub fn combine(
    own: CheckResult,
    me: &str,
    votes: Vec<(String, Vote)>,
    quorum: Option<u32>,
    live: usize,
) -> (CheckResult, Option<Short>) {
    let mut all: Vec<RegionResult> = std::iter::once(RegionResult {
        region: me.to_string(),
        outcome: own.outcome,
        latency: own.latency,
    })
    .chain(votes.iter().map(|(region, v)| RegionResult {
        region: region.clone(),
        outcome: v.outcome,
        latency: v.latency_ms.map(Duration::from_millis),
    }))
    .collect();
    all.sort_by(|a, b| a.region.cmp(&b.region));
    let q = quorum.map_or(live / 2 + 1, |q| q as usize).max(1);
    let mut conclusive: Vec<&RegionResult> = all
        .iter()
        .filter(|r| r.outcome != Outcome::Inconclusive)
        .collect();
    let mut out = own.clone();
    out.regions = all.clone();
    if conclusive.is_empty() {
        return (out, None);
    }
    let short = (conclusive.len() < q).then_some(Short {
        votes: conclusive.len(),
        quorum: q,
    });
    conclusive.sort_by_key(|r| std::cmp::Reverse(severity(r.outcome)));
    let verdict = conclusive[q.min(conclusive.len()) - 1].outcome;
    out.outcome = verdict;
    if votes.iter().any(|(_, v)| v.reached == Some(true)) {
        out.reached = Some(true);
    }
    out.reason = match verdict {
        Outcome::Down | Outcome::Degraded => {
            let seen: Vec<&str> = all
                .iter()
                .filter(|r| severity(r.outcome) >= severity(verdict))
                .map(|r| r.region.as_str())
                .collect();
            let why = if severity(own.outcome) >= severity(verdict) {
                own.reason.clone()
            } else {
                votes
                    .iter()
                    .find(|(_, v)| severity(v.outcome) >= severity(verdict))
                    .and_then(|(_, v)| v.reason.clone())
            };
            Some(format!(
                "seen from {}: {}",
                seen.join(", "),
                why.unwrap_or_else(|| verdict.as_str().to_string())
            ))
        }
        _ => None,
    };
    (out, short)
}

/// "eu-west", "eu-west and us-east", "ap-south, eu-west and us-east".
pub fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn own(outcome: Outcome) -> CheckResult {
        CheckResult {
            monitor: "api".into(),
            at: DateTime::from_timestamp(1_000, 0).unwrap(),
            outcome,
            latency: Some(Duration::from_millis(20)),
            reason: (outcome == Outcome::Down).then(|| "HTTP 503".to_string()),
            reached: Some(true),
            regions: Vec::new(),
        }
    }

    fn vote(n: u64, outcome: Outcome) -> Vote {
        Vote {
            n,
            outcome,
            latency_ms: Some(30),
            reached: Some(true),
            reason: (outcome == Outcome::Down).then(|| "HTTP 503".to_string()),
        }
    }

    fn report(region: &str, instance: &str, seq: u64, votes: &[(&str, Vote)]) -> Report {
        Report {
            region: region.into(),
            instance: instance.into(),
            seq,
            results: votes
                .iter()
                .map(|(m, v)| (m.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn one_region_failing_alone_is_no_outage_two_of_three_are() {
        let up = [("b".to_string(), vote(1, Outcome::Up))];
        let down = [("b".to_string(), vote(1, Outcome::Down))];
        let c = [("c".to_string(), vote(1, Outcome::Up))];
        let (r, short) = combine(
            own(Outcome::Down),
            "a",
            up.iter().chain(&c).cloned().collect(),
            None,
            3,
        );
        assert_eq!((r.outcome, short), (Outcome::Up, None));
        assert_eq!(r.regions.len(), 3);
        let (r, _) = combine(
            own(Outcome::Down),
            "a",
            down.iter().chain(&c).cloned().collect(),
            None,
            3,
        );
        assert_eq!(r.outcome, Outcome::Down);
        assert_eq!(r.reason.as_deref(), Some("seen from a, b: HTTP 503"));
        // Our own region is fine, two others see it down: down.
        let (r, _) = combine(
            own(Outcome::Up),
            "a",
            vec![
                ("b".to_string(), vote(1, Outcome::Down)),
                ("c".to_string(), vote(1, Outcome::Down)),
            ],
            None,
            3,
        );
        assert_eq!(r.outcome, Outcome::Down);
        assert_eq!(r.reason.as_deref(), Some("seen from b, c: HTTP 503"));
    }

    #[test]
    fn fewer_votes_than_the_quorum_judge_with_those_there_are_and_say_so() {
        let (r, short) = combine(own(Outcome::Down), "a", Vec::new(), Some(2), 1);
        assert_eq!(r.outcome, Outcome::Down);
        assert_eq!(
            short,
            Some(Short {
                votes: 1,
                quorum: 2
            })
        );
        // Inconclusive votes are not votes.
        let (r, _) = combine(
            own(Outcome::Inconclusive),
            "a",
            vec![("b".to_string(), vote(1, Outcome::Up))],
            None,
            2,
        );
        assert_eq!(r.outcome, Outcome::Up);
    }

    #[test]
    fn a_region_counts_once_its_report_moves_and_falls_silent_when_it_stops() {
        let t0 = Instant::now();
        let wall = DateTime::from_timestamp(1_000, 0).unwrap();
        let silent = Duration::from_secs(15);
        let mut regions = Regions::new("a", silent);
        // First sight: a baseline (maybe hours old), not a vote.
        regions.take(
            report("b", "i1", 7, &[("api", vote(40, Outcome::Down))]),
            t0,
            wall,
        );
        assert_eq!(regions.live(t0), 1);
        assert!(regions.votes("api", silent, t0).is_empty());
        // It moves: live, and the monitor's new result counts.
        let t1 = t0 + Duration::from_secs(2);
        regions.take(
            report("b", "i1", 8, &[("api", vote(41, Outcome::Down))]),
            t1,
            wall,
        );
        assert_eq!(regions.live(t1), 2);
        assert_eq!(regions.votes("api", silent, t1).len(), 1);
        // The same seq again (or an older one) is no news.
        regions.take(
            report("b", "i1", 8, &[("api", vote(42, Outcome::Up))]),
            t1,
            wall,
        );
        assert_eq!(regions.votes("api", silent, t1)[0].1.outcome, Outcome::Down);
        // A vote older than the window is stale even while the region reports.
        let t2 = t1 + Duration::from_secs(10);
        regions.take(
            report("b", "i1", 9, &[("api", vote(41, Outcome::Down))]),
            t2,
            wall,
        );
        assert!(regions.votes("api", Duration::from_secs(5), t2).is_empty());
        // It stops: silent once, then back when it reports again (a restart: new instance).
        assert!(regions.changes(t2).is_empty());
        let t3 = t2 + silent;
        assert_eq!(
            regions.changes(t3),
            vec![Change::Silent {
                region: "b".into(),
                since: wall
            }]
        );
        assert!(regions.changes(t3).is_empty(), "said once");
        assert_eq!(regions.live(t3), 1);
        regions.take(
            report("b", "i2", 1, &[("api", vote(1, Outcome::Up))]),
            t3,
            wall,
        );
        assert_eq!(
            regions.changes(t3),
            vec![Change::Back { region: "b".into() }]
        );
        // Our own region's report is not another region.
        regions.take(report("a", "x", 5, &[]), t3, wall);
        assert_eq!(regions.states(t3).len(), 1);
    }

    #[test]
    fn a_region_never_heard_is_flagged_after_the_silence_window() {
        let t0 = Instant::now();
        let wall = DateTime::from_timestamp(1_000, 0).unwrap();
        let mut regions = Regions::new("a", Duration::from_secs(15));
        regions.take(report("b", "i1", 3, &[]), t0, wall);
        assert!(regions.changes(t0 + Duration::from_secs(14)).is_empty());
        assert_eq!(regions.changes(t0 + Duration::from_secs(15)).len(), 1);
    }

    #[test]
    fn lists_read_as_english() {
        let s = |v: &[&str]| and_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["eu-west"]), "eu-west");
        assert_eq!(s(&["eu-west", "us-east"]), "eu-west and us-east");
        assert_eq!(s(&["a", "b", "c"]), "a, b and c");
    }
}
