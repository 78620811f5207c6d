//! Whether the daemon's own network works, judged from all network checks together.
//!
//! When every network monitor (HTTP, TCP, DNS, TLS) fails to reach its target at once, and they
//! point at two or more different endpoints, the likelier story is that this machine lost its
//! network (or its resolver) than that every service went down together. Pharos then cannot
//! judge: such failures become inconclusive (they neither confirm an outage nor reset a
//! streak), components keep their last known status, and the page says monitoring is impaired.
//! As soon as any target answers, checks count again. Heartbeats are not network checks: they
//! keep counting.

use super::{CheckResult, Outcome};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The reason given for a failure that could not be judged.
pub const CANNOT_JUDGE: &str = "cannot judge: no monitored target is reachable (this machine's network or resolver may be down)";

#[derive(Debug, Default)]
pub struct NetworkJudge {
    /// Network monitors by id: whether their latest check reached the target.
    reached: HashMap<String, bool>,
    /// How many of them did not (kept up to date: judging is O(1) per result, it runs for
    /// every check of tens of thousands of monitors).
    unreachable: usize,
    /// How many different endpoints they check.
    endpoints: usize,
    /// Since when no target has been reachable.
    impaired_since: Option<DateTime<Utc>>,
}

impl NetworkJudge {
    /// A judge for these network monitors (id, endpoint), all presumed reachable until a check
    /// says otherwise.
    pub fn new(monitors: impl IntoIterator<Item = (String, String)>) -> NetworkJudge {
        let mut reached = HashMap::new();
        let mut endpoints = HashSet::new();
        for (id, endpoint) in monitors {
            reached.insert(id, true);
            endpoints.insert(endpoint);
        }
        NetworkJudge {
            reached,
            unreachable: 0,
            endpoints: endpoints.len(),
            impaired_since: None,
        }
    }

    /// Note each result and, while nothing is reachable, turn failures to reach into
    /// inconclusive results.
    pub fn judge(&mut self, results: &mut [CheckResult]) {
        for r in results.iter_mut() {
            let Some(reached) = r.reached else { continue };
            let Some(last) = self.reached.get_mut(&r.monitor) else {
                continue;
            };
            if *last != reached {
                *last = reached;
                if reached {
                    self.unreachable -= 1;
                } else {
                    self.unreachable += 1;
                }
            }
            if self.endpoints >= 2 && self.unreachable == self.reached.len() {
                self.impaired_since.get_or_insert(r.at);
                if r.outcome == Outcome::Down {
                    r.outcome = Outcome::Inconclusive;
                    r.reason = Some(CANNOT_JUDGE.to_string());
                }
            } else {
                self.impaired_since = None;
            }
        }
    }

    /// Since when no target has been reachable, while that lasts.
    pub fn impaired_since(&self) -> Option<DateTime<Utc>> {
        self.impaired_since
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(m: &str, reached: bool, s: i64) -> CheckResult {
        CheckResult {
            monitor: m.into(),
            at: DateTime::from_timestamp(s, 0).unwrap(),
            outcome: if reached { Outcome::Up } else { Outcome::Down },
            latency: None,
            reason: None,
            reached: Some(reached),
            regions: Vec::new(),
        }
    }

    #[test]
    fn all_unreachable_is_inconclusive_until_one_answers() {
        let mut j = NetworkJudge::new([
            ("a".to_string(), "a.test:443".to_string()),
            ("b".to_string(), "b.test:443".to_string()),
            ("c".to_string(), "c.test:443".to_string()),
        ]);
        // The first failures, while others still answered: real downs.
        let mut batch = vec![result("a", false, 1), result("b", false, 2)];
        j.judge(&mut batch);
        assert!(batch.iter().all(|r| r.outcome == Outcome::Down));
        assert_eq!(j.impaired_since(), None);
        // The last one fails too: from now on nothing can be judged.
        let mut batch = vec![result("c", false, 3), result("a", false, 4)];
        j.judge(&mut batch);
        assert!(
            batch.iter().all(|r| r.outcome == Outcome::Inconclusive),
            "{batch:?}"
        );
        assert_eq!(batch[0].reason.as_deref(), Some(CANNOT_JUDGE));
        assert_eq!(
            j.impaired_since(),
            Some(DateTime::from_timestamp(3, 0).unwrap())
        );
        // One answers: the others' failures count again.
        let mut batch = vec![result("b", true, 5), result("c", false, 6)];
        j.judge(&mut batch);
        assert_eq!(batch[1].outcome, Outcome::Down);
        assert_eq!(j.impaired_since(), None);
    }

    #[test]
    fn one_endpoint_is_never_judged_impaired() {
        // Two monitors of one service that went down: that is an outage, not our network.
        let mut j = NetworkJudge::new([
            ("a".to_string(), "api.test:443".to_string()),
            ("b".to_string(), "api.test:443".to_string()),
        ]);
        let mut batch = vec![result("a", false, 1), result("b", false, 2)];
        j.judge(&mut batch);
        assert!(batch.iter().all(|r| r.outcome == Outcome::Down));
    }
}
