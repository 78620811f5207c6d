//! What a region saw: one signed results object per region, `results/<region>.json`, rewritten
//! every report period with the latest result of each monitor.
//!
//! Judging never reads the probe's clock: each write bumps `seq`, each new result of a monitor
//! bumps its `n`, and the leader notes when (by its own clock) it first saw each. `instance` is
//! new at every start, so a restarted probe's counts starting again are not taken for old ones.

use super::remote::Remote;
use crate::monitor::{CheckResult, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

pub const KIND: &str = "results";
pub const DIR: &str = "results/";
/// At most this many characters of a failure's (private) reason travel in a report.
const REASON_MAX: usize = 200;

/// Where `region` reports.
pub fn path(region: &str) -> String {
    format!("{DIR}{region}.json")
}

/// One region's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub region: String,
    pub instance: String,
    pub seq: u64,
    /// The latest result of each monitor, by monitor id.
    pub results: BTreeMap<String, Vote>,
}

/// A region's latest result for one monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// How many results of this monitor this instance has reported.
    pub n: u64,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Whether the target answered at all (network checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The report this process builds from its checks.
pub struct Reporter {
    report: Mutex<Report>,
}

/// How often a region writes its report: a quarter of the shortest monitor interval, between
/// 1 and 5 seconds.
pub fn period(shortest_interval: Duration) -> Duration {
    (shortest_interval / 4).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

impl Reporter {
    pub fn new(region: &str) -> Arc<Reporter> {
        Arc::new(Reporter {
            report: Mutex::new(Report {
                region: region.to_string(),
                instance: crate::subscriber::new_token()[..16].to_string(),
                seq: 0,
                results: BTreeMap::new(),
            }),
        })
    }

    /// Note one of our results (heartbeats are the leader's alone: not reported).
    pub fn note(&self, r: &CheckResult) {
        if r.reached.is_none() {
            return;
        }
        let mut report = self.report.lock().unwrap();
        let n = report.results.get(&r.monitor).map_or(0, |v| v.n) + 1;
        report.results.insert(
            r.monitor.clone(),
            Vote {
                n,
                outcome: r.outcome,
                latency_ms: r.latency.map(|l| l.as_millis() as u64),
                reached: r.reached,
                reason: r
                    .reason
                    .as_ref()
                    .map(|s| s.chars().take(REASON_MAX).collect()),
            },
        );
    }

    /// The next report to write (its `seq` bumped).
    fn next(&self) -> Report {
        let mut report = self.report.lock().unwrap();
        report.seq += 1;
        report.clone()
    }

    /// Write the report every `period` until the task is aborted. A failed write is said once
    /// until one succeeds again (the leader then sees this region silent).
    pub async fn write_forever(self: Arc<Self>, remote: Arc<Remote>, period: Duration) {
        let mut failing = false;
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let report = self.next();
            let path = path(&report.region);
            let bytes = super::envelope::seal(remote.secret(), KIND, &report);
            match remote.put_raw(&path, bytes).await {
                Ok(()) if failing => {
                    failing = false;
                    info!(region = %report.region, "results reach the cluster store again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    warn!(region = %report.region, "cannot write results to the cluster store (the leader will see this region silent): {e:#}");
                }
                Err(_) => {}
            }
        }
    }
}
