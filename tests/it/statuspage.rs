//! The API files deserialize into structs that mirror Atlassian Statuspage's documented v2 schema
//! (no unknown keys, documented enum values), and every documented key is present even when null.

use crate::common;

use common::{TestSite, seed_rollups};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Page {
    id: String,
    name: String,
    url: String,
    time_zone: String,
    updated_at: String,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ComponentStatus {
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
    UnderMaintenance,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Component {
    id: String,
    name: String,
    status: ComponentStatus,
    created_at: String,
    updated_at: String,
    position: u32,
    description: Option<String>,
    showcase: bool,
    start_date: Option<String>,
    group_id: Option<String>,
    page_id: String,
    group: bool,
    only_show_if_degraded: bool,
    #[serde(default)]
    components: Option<Vec<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
enum Impact {
    None,
    Minor,
    Major,
    Critical,
    Maintenance,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
enum Status {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Postmortem,
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AffectedComponent {
    code: String,
    name: String,
    old_status: ComponentStatus,
    new_status: ComponentStatus,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct IncidentUpdate {
    id: String,
    status: Status,
    body: String,
    incident_id: String,
    created_at: String,
    updated_at: String,
    display_at: String,
    affected_components: Option<Vec<AffectedComponent>>,
    deliver_notifications: bool,
    custom_tweet: Option<String>,
    tweet_id: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Incident {
    id: String,
    name: String,
    status: Status,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    impact: Impact,
    shortlink: String,
    started_at: String,
    page_id: String,
    incident_updates: Vec<IncidentUpdate>,
    components: Vec<Component>,
    #[serde(default)]
    scheduled_for: Option<String>,
    #[serde(default)]
    scheduled_until: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StatusObj {
    indicator: Indicator,
    description: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Summary {
    page: Page,
    components: Vec<Component>,
    incidents: Vec<Incident>,
    scheduled_maintenances: Vec<Incident>,
    status: StatusObj,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StatusDoc {
    page: Page,
    status: StatusObj,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Components {
    page: Page,
    components: Vec<Component>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Incidents {
    page: Page,
    incidents: Vec<Incident>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Maintenances {
    page: Page,
    scheduled_maintenances: Vec<Incident>,
}

/// Keys that must be present (even when null): `Option` fields would accept a missing key.
fn assert_keys(what: &str, v: &Value, keys: &[&str]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object"));
    for k in keys {
        assert!(obj.contains_key(*k), "{what} lacks the key {k:?}");
    }
}

const INCIDENT_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
];
const UPDATE_KEYS: &[&str] = &[
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
];
const COMPONENT_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
];

fn check_incidents(what: &str, list: &Value, maintenance: bool) {
    for i in list.as_array().unwrap() {
        assert_keys(what, i, INCIDENT_KEYS);
        if maintenance {
            assert_keys(what, i, &["scheduled_for", "scheduled_until"]);
            assert_eq!(i["impact"], "maintenance");
        }
        for u in i["incident_updates"].as_array().unwrap() {
            assert_keys(what, u, UPDATE_KEYS);
        }
        for c in i["components"].as_array().unwrap() {
            assert_keys(what, c, COMPONENT_KEYS);
        }
    }
}

#[test]
fn api_files_follow_the_statuspage_schema() {
    let site = TestSite::fixture("basic");
    seed_rollups(&site);
    site.build();
    let read = |rel: &str| site.read(&format!("api/v2/{rel}"));

    let summary: Summary = serde_json::from_str(&read("summary.json")).expect("summary.json");
    assert!(!summary.incidents.is_empty() && !summary.scheduled_maintenances.is_empty());
    serde_json::from_str::<StatusDoc>(&read("status.json")).expect("status.json");
    let comps: Components =
        serde_json::from_str(&read("components.json")).expect("components.json");
    assert!(
        comps
            .components
            .iter()
            .any(|c| c.group && c.components.as_ref().is_some_and(|m| m.len() == 2))
    );
    let incidents: Incidents =
        serde_json::from_str(&read("incidents.json")).expect("incidents.json");
    assert_eq!(incidents.incidents.len(), 3);
    serde_json::from_str::<Incidents>(&read("incidents/unresolved.json")).expect("unresolved.json");
    for rel in [
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    ] {
        serde_json::from_str::<Maintenances>(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    }

    let summary: Value = serde_json::from_str(&read("summary.json")).unwrap();
    assert_keys(
        "summary",
        &summary,
        &[
            "page",
            "components",
            "incidents",
            "scheduled_maintenances",
            "status",
        ],
    );
    for c in summary["components"].as_array().unwrap() {
        assert_keys("component", c, COMPONENT_KEYS);
    }
    check_incidents("summary incident", &summary["incidents"], false);
    check_incidents(
        "summary maintenance",
        &summary["scheduled_maintenances"],
        true,
    );
    let all: Value = serde_json::from_str(&read("incidents.json")).unwrap();
    check_incidents("incident", &all["incidents"], false);
    let open = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "identified")
        .unwrap();
    assert_eq!(
        open["resolved_at"],
        Value::Null,
        "an open incident has resolved_at: null"
    );
}

#[test]
fn empty_lists_and_nulls_are_still_present() {
    let site = TestSite::empty();
    site.write("config.yaml", "site:\n  title: Quiet\n  base_url: https://quiet.test\ncomponents:\n  - id: api\n    name: API\n");
    site.build();
    let summary: Value = site.json("api/v2/summary.json");
    assert_eq!(summary["incidents"], Value::Array(vec![]));
    assert_eq!(summary["scheduled_maintenances"], Value::Array(vec![]));
    assert_eq!(summary["status"]["description"], "All Systems Operational");
    assert_eq!(summary["components"][0]["description"], Value::Null);
    serde_json::from_value::<Summary>(summary).unwrap();
}
