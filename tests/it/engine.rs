//! The store side of the monitor engine, driven with results directly (no waiting): confirmation
//! across restarts, flapping, maintenance suppression, rollups and pruning.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use pharos::config::Config;
use pharos::monitor::{self, CheckResult, Level, Monitor, Outcome};
use pharos::store::Store;
use std::collections::HashMap;
use std::path::Path;

fn monitors() -> HashMap<String, Monitor> {
    let text = "site:\n  title: T\n  base_url: https://t.test\ncomponents:\n  - id: api\n    name: API\nmonitors:\n  - id: m\n    component: api\n    kind: http\n    url: http://127.0.0.1:1/\n    interval: 1s\n    timeout: 1s\n";
    let c = Config::parse(text, Path::new("c.yaml")).unwrap();
    monitor::compile(&c)
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn result(i: i64, outcome: Outcome, latency_ms: u64) -> CheckResult {
    CheckResult {
        monitor: "m".into(),
        at: t0() + Duration::seconds(i),
        outcome,
        latency: Some(std::time::Duration::from_millis(latency_ms)),
        reason: None,
        reached: Some(true),
        regions: Vec::new(),
    }
}

/// Rollups with 1 day of raw results and 400 days of rollups kept.
fn rollup(s: &mut Store, now: DateTime<Utc>) {
    s.rollup(
        now,
        Tz::UTC,
        std::time::Duration::from_secs(86_400),
        std::time::Duration::from_secs(400 * 86_400),
    )
    .unwrap();
}

fn never(_: &str, _: DateTime<Utc>) -> bool {
    false
}

#[test]
fn confirmation_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let ms = monitors();
    let mut s = Store::open(&db).unwrap();
    let t = s
        .record(
            &[result(0, Outcome::Down, 1), result(1, Outcome::Down, 1)],
            &ms,
            Tz::UTC,
            &never,
        )
        .unwrap();
    assert!(t.is_empty(), "two of three failures");
    drop(s);
    let mut s = Store::open(&db).unwrap();
    let t = s
        .record(&[result(2, Outcome::Down, 1)], &ms, Tz::UTC, &never)
        .unwrap();
    assert_eq!(t.len(), 1, "the third failure after a restart confirms");
    assert_eq!((t[0].from, t[0].to), (Level::Up, Level::Down));
    let st = s.monitor_state("m").unwrap().unwrap();
    assert_eq!(st.status, pharos::model::ComponentStatus::MajorOutage);
    assert_eq!(
        s.monitor_statuses().unwrap()[0].1,
        pharos::model::ComponentStatus::MajorOutage
    );
}

#[test]
fn flapping_for_a_hundred_cycles_confirms_nothing() {
    let mut s = Store::open_in_memory().unwrap();
    let ms = monitors();
    let batch: Vec<CheckResult> = (0..200)
        .map(|i| {
            result(
                i,
                if i % 2 == 0 {
                    Outcome::Down
                } else {
                    Outcome::Up
                },
                5,
            )
        })
        .collect();
    assert!(s.record(&batch, &ms, Tz::UTC, &never).unwrap().is_empty());
    // And a blip among successes neither.
    let blip: Vec<CheckResult> = (200..220)
        .map(|i| result(i, if i == 210 { Outcome::Down } else { Outcome::Up }, 5))
        .collect();
    assert!(s.record(&blip, &ms, Tz::UTC, &never).unwrap().is_empty());
}

#[test]
fn maintenance_results_do_not_count_against_uptime() {
    let mut s = Store::open_in_memory().unwrap();
    let ms = monitors();
    let during = |_: &str, at: DateTime<Utc>| at < t0() + Duration::seconds(10);
    let batch: Vec<CheckResult> = (0..20)
        .map(|i| result(i, if i < 10 { Outcome::Down } else { Outcome::Up }, 5))
        .collect();
    let t = s.record(&batch, &ms, Tz::UTC, &during).unwrap();
    assert!(
        t[0].in_maintenance,
        "the outage was confirmed inside the window: no automatic incident"
    );
    let day = t0().date_naive();
    let r = s.daily_rollups(day, day).unwrap()["api"][&day];
    assert_eq!(
        (r.up, r.down),
        (10, 0),
        "failures during maintenance are not counted"
    );
}

#[test]
fn rollups_compute_percentiles_and_pruning_keeps_the_store_bounded() {
    let mut s = Store::open_in_memory().unwrap();
    let ms = monitors();
    // Two hours of results, one a second minute apart, latencies 1..=120 ms.
    let batch: Vec<CheckResult> = (0..120)
        .map(|i| result(i * 60, Outcome::Up, (i + 1) as u64))
        .collect();
    s.record(&batch, &ms, Tz::UTC, &never).unwrap();
    let now = t0() + Duration::hours(3);
    rollup(&mut s, now);
    let day = t0().date_naive();
    let r = s.daily_rollups(day, day).unwrap()["api"][&day];
    assert_eq!(r.up, 120);
    assert_eq!(
        (r.latency_p50_ms, r.latency_p95_ms, r.latency_p99_ms),
        (Some(60), Some(114), Some(119))
    );
    // Idempotent.
    rollup(&mut s, now);
    assert_eq!(s.daily_rollups(day, day).unwrap()["api"][&day], r);
    // Raw results older than the retention go; the rollups stay.
    rollup(&mut s, t0() + Duration::days(2));
    assert_eq!(s.raw_result_count().unwrap(), 0);
    assert_eq!(s.daily_rollups(day, day).unwrap()["api"][&day].up, 120);
}
