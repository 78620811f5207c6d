//! Maintenance windows from the CLI: time zones and what a note does to the window.

use super::*;

#[test]
fn maintenance_times_follow_the_site_time_zone_across_a_dst_change() {
    let site = init_site("Europe/Berlin");
    let dir = site.path();
    // Clocks go back from 03:00 CEST to 02:00 CET on 25 October 2026: 01:00 to 04:00 local
    // is four hours.
    let id = created(
        dir,
        &[
            "maintenance",
            "new",
            "Database upgrade",
            "-C",
            "api",
            "--from",
            "2026-10-25 01:00",
            "--until",
            "2026-10-25 04:00",
            "-m",
            "Upgrade.",
        ],
    );
    assert_eq!(
        id, "2026-10-25-database-upgrade",
        "dated by the local start"
    );
    let text = read(dir, &format!("content/maintenance/{id}.md"));
    assert!(text.contains("scheduled_for: \"2026-10-25 01:00 +02:00\"\nscheduled_until: \"2026-10-25 04:00 +01:00\"\n"), "{text}");
    // An ambiguous wall time (02:30 happens twice) is the first one, as people mean it.
    let failover = created(
        dir,
        &[
            "maintenance",
            "new",
            "Failover",
            "-C",
            "api",
            "--from",
            "2026-10-25 02:30",
            "--until",
            "+10000d",
            "-m",
            "x",
        ],
    );
    let text = read(dir, &format!("content/maintenance/{failover}.md"));
    assert!(
        text.contains("scheduled_for: \"2026-10-25 02:30 +02:00\""),
        "{text}"
    );
    // A recurring window in the site time zone, then an update and a cancellation.
    let weekly = created(
        dir,
        &[
            "maintenance",
            "new",
            "Weekly patching",
            "-C",
            "website",
            "--cron",
            "0 3 * * Sun",
            "--duration",
            "30m",
            "-m",
            "Routine.",
        ],
    );
    let list = json(&ok(dir, &["maintenance", "list", "--json"]));
    let next = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["source_id"] == weekly.as_str())
        .expect("listed");
    let from: chrono::DateTime<chrono::Utc> = next["from"].as_str().unwrap().parse().unwrap();
    let local = from.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.format("%a %H:%M").to_string(), "Sun 03:00", "{from}");
    ok(
        dir,
        &[
            "maintenance",
            "update",
            &weekly,
            "--status",
            "scheduled",
            "-m",
            "Moved to **04:00** this week.",
        ],
    );
    let text = read(dir, &format!("content/maintenance/{weekly}.md"));
    assert!(
        text.contains("Routine.\n\n## ")
            && text.contains("· scheduled\nMoved to **04:00** this week.\n"),
        "{text}"
    );
    ok(dir, &["maintenance", "cancel", &weekly]);
    assert!(
        read(dir, &format!("content/maintenance/{weekly}.md")).contains("cancelled: true\n---\n")
    );
    let list = json(&ok(dir, &["maintenance", "list", "--json"]));
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["source_id"] == weekly.as_str()),
        "cancelled"
    );
    ok(dir, &["validate"]);
}

/// Issue 15, defect 5: a note on a window ahead keeps it scheduled; starting it early takes an
/// explicit `--status in_progress`, which says what it did.
#[test]
fn a_maintenance_note_keeps_the_window_status() {
    let site = init_site("Europe/Berlin");
    let dir = site.path();
    let id = created(
        dir,
        &[
            "maintenance",
            "new",
            "Database upgrade",
            "-C",
            "api",
            "--from",
            "+2d",
            "--until",
            "+2d2h",
            "-m",
            "Writes may pause.",
        ],
    );
    let status = |dir: &Path| {
        json(&ok(dir, &["maintenance", "list", "--json"]))
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["source_id"] == id.as_str())
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let out = ok(
        dir,
        &["maintenance", "update", &id, "-m", "Replicas first."],
    );
    assert!(!out.contains("in progress"), "{out}");
    assert!(
        read(dir, &format!("content/maintenance/{id}.md")).contains("· scheduled\nReplicas first.")
    );
    assert_eq!(status(dir), "scheduled");
    ok(dir, &["build"]);
    assert!(
        json(&read(
            dir,
            "publish/api/v2/scheduled-maintenances/active.json"
        ))["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing in progress"
    );
    let out = ok(
        dir,
        &[
            "maintenance",
            "update",
            &id,
            "--status",
            "in_progress",
            "-m",
            "Starting early.",
        ],
    );
    assert!(
        out.contains("in progress from") && out.contains("scheduled to start"),
        "{out}"
    );
    assert_eq!(status(dir), "in_progress");
}
