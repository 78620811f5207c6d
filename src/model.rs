//! Domain types shared by config, content, store and render.
//!
//! The enums carry Statuspage's exact wire names (serde `snake_case`), so the API files and the
//! content format use one vocabulary.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Statuspage component status, ordered from best to worst so `max` gives the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

/// Incident impact (Statuspage), ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

/// Incident lifecycle (Statuspage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Postmortem,
}

/// Scheduled maintenance lifecycle (Statuspage), in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceStatus {
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

/// The page-level indicator (Statuspage `status.indicator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

/// Enums with a wire name (`"partial_outage"`), for code generic over them (the store).
pub trait WireName: Copy + FromStr<Err = String> {
    fn wire(self) -> &'static str;
}

/// Parse/print the serde wire name of the enums above (`"partial_outage"`), for content files,
/// the store and error messages.
macro_rules! wire_names {
    ($ty:ty, $what:literal, [$($variant:ident = $name:literal),+ $(,)?]) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];
            pub const NAMES: &'static str = concat!($($name, " "),+);
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }
        }
        impl WireName for $ty {
            fn wire(self) -> &'static str {
                self.as_str()
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(<$ty>::$variant),)+
                    _ => {
                        let names: Vec<&str> = Self::NAMES.split_whitespace().collect();
                        let expected = format!("expected one of: {}", names.join(", "));
                        Err(match crate::suggest::closest(s, &names) {
                            Some(near) => format!(
                                "unknown {} {s:?} (did you mean {near:?}?; {expected})",
                                $what
                            ),
                            None => format!("unknown {} {s:?} ({expected})", $what),
                        })
                    }
                }
            }
        }
    };
}

wire_names!(
    ComponentStatus,
    "component status",
    [
        Operational = "operational",
        UnderMaintenance = "under_maintenance",
        DegradedPerformance = "degraded_performance",
        PartialOutage = "partial_outage",
        MajorOutage = "major_outage",
    ]
);
wire_names!(
    Impact,
    "impact",
    [
        None = "none",
        Minor = "minor",
        Major = "major",
        Critical = "critical"
    ]
);
wire_names!(
    IncidentStatus,
    "incident status",
    [
        Investigating = "investigating",
        Identified = "identified",
        Monitoring = "monitoring",
        Resolved = "resolved",
        Postmortem = "postmortem",
    ]
);
wire_names!(
    MaintenanceStatus,
    "maintenance status",
    [
        Scheduled = "scheduled",
        InProgress = "in_progress",
        Verifying = "verifying",
        Completed = "completed",
    ]
);
wire_names!(
    Indicator,
    "indicator",
    [
        None = "none",
        Minor = "minor",
        Major = "major",
        Critical = "critical"
    ]
);

impl ComponentStatus {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::UnderMaintenance => "Under maintenance",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
        }
    }

    /// The impact Statuspage derives for an incident whose worst effect is this status.
    pub fn implied_impact(self) -> Impact {
        match self {
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Impact::None,
            ComponentStatus::DegradedPerformance => Impact::Minor,
            ComponentStatus::PartialOutage => Impact::Major,
            ComponentStatus::MajorOutage => Impact::Critical,
        }
    }
}

impl IncidentStatus {
    pub fn label(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "Investigating",
            IncidentStatus::Identified => "Identified",
            IncidentStatus::Monitoring => "Monitoring",
            IncidentStatus::Resolved => "Resolved",
            IncidentStatus::Postmortem => "Postmortem",
        }
    }

    /// Resolved and postmortem incidents no longer affect components.
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentStatus::Resolved | IncidentStatus::Postmortem)
    }
}

impl MaintenanceStatus {
    pub fn label(self) -> &'static str {
        match self {
            MaintenanceStatus::Scheduled => "Scheduled",
            MaintenanceStatus::InProgress => "In progress",
            MaintenanceStatus::Verifying => "Verifying",
            MaintenanceStatus::Completed => "Completed",
        }
    }
}

impl Impact {
    pub fn label(self) -> &'static str {
        match self {
            Impact::None => "None",
            Impact::Minor => "Minor",
            Impact::Major => "Major",
            Impact::Critical => "Critical",
        }
    }
}

/// One timestamped entry of an incident's or a maintenance's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Update<S> {
    pub at: DateTime<Utc>,
    pub status: S,
    /// Markdown as the admin wrote it (also the Statuspage `body`).
    pub body_md: String,
    /// Sanitized HTML rendered from `body_md`.
    pub body_html: String,
}

/// An incident as stored: content files and (later) monitors produce these.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub impact: Impact,
    /// Component id -> status while the incident is open, in file order.
    pub components: Vec<(String, ComponentStatus)>,
    /// Newest first.
    pub updates: Vec<Update<IncidentStatus>>,
    /// Opened by a monitor rather than written by a person.
    pub automatic: bool,
    /// `impact` was written in the file. Otherwise it is the worst the incident reached (the
    /// store keeps the peak of the components' effects across edits).
    pub explicit_impact: bool,
}

impl Incident {
    /// The impact the current component effects imply (Statuspage's rule).
    pub fn implied_impact(&self) -> Impact {
        self.components
            .iter()
            .map(|(_, s)| s.implied_impact())
            .max()
            .unwrap_or(Impact::None)
    }

    pub fn status(&self) -> IncidentStatus {
        self.updates
            .first()
            .map(|u| u.status)
            .unwrap_or(IncidentStatus::Investigating)
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.updates.last().map(|u| u.at).unwrap_or_default()
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updates.first().map(|u| u.at).unwrap_or_default()
    }
    /// Time of the newest update with this status.
    pub fn time_of(&self, status: IncidentStatus) -> Option<DateTime<Utc>> {
        self.updates
            .iter()
            .find(|u| u.status == status)
            .map(|u| u.at)
    }
    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        if self.status().is_open() {
            return None;
        }
        // The oldest resolved update is when it was resolved; a postmortem comes later.
        self.updates
            .iter()
            .rev()
            .find(|u| u.status == IncidentStatus::Resolved)
            .or_else(|| self.updates.first())
            .map(|u| u.at)
    }
}

/// When a maintenance happens: once, or on a cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    Once {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// A cron expression (6 or 7 fields, evaluated in the site time zone) and a duration.
    Recurring {
        schedule: String,
        duration_secs: i64,
    },
}

/// A maintenance as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub id: String,
    pub title: String,
    pub components: Vec<String>,
    pub window: Window,
    pub cancelled: bool,
    pub description_md: String,
    pub description_html: String,
    /// Explicit updates written by an admin, newest first.
    pub updates: Vec<Update<MaintenanceStatus>>,
    /// When Pharos first imported the file (kept across edits); `None` before import.
    pub first_seen: Option<DateTime<Utc>>,
}

/// One day of checks for one component (hourly rollups are the monitor issue's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DailyRollup {
    pub up: u32,
    pub degraded: u32,
    pub down: u32,
    pub latency_p50_ms: Option<u32>,
    pub latency_p95_ms: Option<u32>,
    pub latency_p99_ms: Option<u32>,
}

impl DailyRollup {
    pub fn total(&self) -> u32 {
        self.up + self.degraded + self.down
    }
    /// Share of checks that were not down, in percent (degraded counts as up, as Statuspage does).
    pub fn uptime_percent(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| f64::from(self.up + self.degraded) * 100.0 / f64::from(total))
    }
}

/// The kinds of monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    Http,
    Tcp,
    Dns,
    Tls,
    Heartbeat,
}

/// What an event (a notification, a feed entry) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ComponentStatus,
    IncidentOpened,
    IncidentUpdated,
    IncidentResolved,
    MaintenanceScheduled,
    MaintenanceStarted,
    MaintenanceCompleted,
    /// For operators only: a content file has problems (the site keeps its last good version).
    ContentProblem,
}

impl EventKind {
    /// Events for the people who run the page, not its visitors: only channels with
    /// `operator: true` get them, and no public file shows them.
    pub fn is_operator(self) -> bool {
        matches!(self, EventKind::ContentProblem)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ContentProblem => "content_problem",
            EventKind::ComponentStatus => "component_status",
            EventKind::IncidentOpened => "incident_opened",
            EventKind::IncidentUpdated => "incident_updated",
            EventKind::IncidentResolved => "incident_resolved",
            EventKind::MaintenanceScheduled => "maintenance_scheduled",
            EventKind::MaintenanceStarted => "maintenance_started",
            EventKind::MaintenanceCompleted => "maintenance_completed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_wins() {
        use ComponentStatus::*;
        assert_eq!(
            [Operational, UnderMaintenance, DegradedPerformance]
                .into_iter()
                .max(),
            Some(DegradedPerformance)
        );
        assert!(MajorOutage > PartialOutage && UnderMaintenance > Operational);
        assert_eq!(
            "partial_outage".parse::<ComponentStatus>(),
            Ok(PartialOutage)
        );
        assert!(
            "down"
                .parse::<ComponentStatus>()
                .unwrap_err()
                .contains("major_outage")
        );
    }
}
