//! Confirmation: a monitor's level changes only after enough consecutive results agree.
//!
//! A worse level needs `failure_threshold` results in a row, a better one `success_threshold`.
//! Inconclusive results (our own network failed, so we cannot judge) neither count nor reset.
//! Pure: the store keeps this per monitor and applies it inside the write transaction.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::Outcome::*;
    use super::*;

    fn run(outcomes: &[Outcome]) -> (Vec<Option<Level>>, Streak) {
        let mut s = Streak::default();
        let changes = outcomes.iter().map(|o| s.apply(*o, 3, 2)).collect();
        (changes, s)
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
