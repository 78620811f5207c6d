//! Events: what changed, as recorded in the outbox, sent to channels and shown in the feeds.
//! Depends only on `model`.

use crate::model::EventKind;
use crate::model::{ComponentStatus, Impact, IncidentStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One change the public (or, for [`Event::Content`], the operators) should hear about. Stored
/// as JSON in the outbox, in the shape of [`Wire`] (what earlier versions wrote); what a
/// channel sends is made from this and the config at send time (names, page address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub enum Event {
    /// A monitor confirmed a component's new status.
    Component {
        at: DateTime<Utc>,
        change: ComponentChange,
    },
    /// An incident was opened, updated or resolved.
    Incident {
        kind: EventKind,
        at: DateTime<Utc>,
        incident: IncidentChange,
    },
    /// A maintenance window was scheduled, started or completed.
    Maintenance {
        kind: EventKind,
        at: DateTime<Utc>,
        maintenance: MaintenanceChange,
    },
    /// For operators: a content file's problems.
    Content {
        at: DateTime<Utc>,
        problem: ContentProblem,
    },
}

/// How an event is stored: the kind, the time and the one part that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wire {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentProblem>,
}

impl From<Event> for Wire {
    fn from(e: Event) -> Wire {
        let mut w = Wire {
            kind: e.kind(),
            at: e.at(),
            component: None,
            incident: None,
            maintenance: None,
            content: None,
        };
        match e {
            Event::Component { change, .. } => w.component = Some(change),
            Event::Incident { incident, .. } => w.incident = Some(incident),
            Event::Maintenance { maintenance, .. } => w.maintenance = Some(maintenance),
            Event::Content { problem, .. } => w.content = Some(problem),
        }
        w
    }
}

impl TryFrom<Wire> for Event {
    type Error = String;
    fn try_from(w: Wire) -> Result<Event, String> {
        use EventKind as K;
        let at = w.at;
        match (w.kind, w.component, w.incident, w.maintenance, w.content) {
            (K::ComponentStatus, Some(change), None, None, None) => {
                Ok(Event::Component { at, change })
            }
            (
                kind @ (K::IncidentOpened | K::IncidentUpdated | K::IncidentResolved),
                None,
                Some(incident),
                None,
                None,
            ) => Ok(Event::Incident { kind, at, incident }),
            (
                kind @ (K::MaintenanceScheduled | K::MaintenanceStarted | K::MaintenanceCompleted),
                None,
                None,
                Some(maintenance),
                None,
            ) => Ok(Event::Maintenance {
                kind,
                at,
                maintenance,
            }),
            (K::ContentProblem, None, None, None, Some(problem)) => {
                Ok(Event::Content { at, problem })
            }
            (kind, ..) => Err(format!("a {} event without its details", kind.as_str())),
        }
    }
}

/// The `file` of a [`ContentProblem`] that is about the cluster's regions, not a file.
pub const CLUSTER: &str = "(cluster)";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentProblem {
    /// The file, as the config names paths.
    pub file: String,
    /// Each problem as `file:line:col: entity: what is wrong`.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentChange {
    pub id: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentChange {
    pub id: String,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    /// The update's text (Markdown).
    pub update: String,
    /// (component, status while the incident is open)
    pub components: Vec<(String, ComponentStatus)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceChange {
    pub id: String,
    pub title: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub components: Vec<String>,
    /// The description (Markdown).
    pub description: String,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Component { .. } => EventKind::ComponentStatus,
            Event::Content { .. } => EventKind::ContentProblem,
            Event::Incident { kind, .. } | Event::Maintenance { kind, .. } => *kind,
        }
    }

    /// When the change happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Event::Component { at, .. }
            | Event::Incident { at, .. }
            | Event::Maintenance { at, .. }
            | Event::Content { at, .. } => *at,
        }
    }

    /// How bad it is, for `min_impact`: an incident's impact; for a component, the worse of its
    /// old and new status (so the all-clear reaches whoever heard of the outage); `None` for
    /// what has no impact to filter by (maintenance, operator events).
    pub fn impact(&self) -> Option<Impact> {
        match self {
            Event::Incident { incident, .. } => Some(incident.impact),
            Event::Component { change, .. } => {
                Some(change.old_status.max(change.new_status).implied_impact())
            }
            Event::Maintenance { .. } | Event::Content { .. } => None,
        }
    }

    /// The components it concerns.
    pub fn components(&self) -> Vec<&str> {
        match self {
            Event::Component { change, .. } => vec![change.id.as_str()],
            Event::Incident { incident, .. } => incident
                .components
                .iter()
                .map(|(c, _)| c.as_str())
                .collect(),
            Event::Maintenance { maintenance, .. } => {
                maintenance.components.iter().map(String::as_str).collect()
            }
            Event::Content { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_from_the_stored_shape_and_refuse_a_mismatch() {
        let at = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let e = Event::Component {
            at,
            change: ComponentChange {
                id: "api".into(),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::MajorOutage,
            },
        };
        let json = serde_json::to_string(&e).unwrap();
        // The shape earlier versions stored in the outbox.
        assert_eq!(
            json,
            r#"{"kind":"component_status","at":"2026-11-26T12:00:00Z","component":{"id":"api","old_status":"operational","new_status":"major_outage"}}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        let mismatch = r#"{"kind":"incident_opened","at":"2026-11-26T12:00:00Z","component":{"id":"api","old_status":"operational","new_status":"major_outage"}}"#;
        assert!(serde_json::from_str::<Event>(mismatch).is_err());
    }
}
