//! Events: what changed, as recorded in the outbox and sent to channels.

use crate::config::EventKind;
use crate::model::{ComponentStatus, Impact, IncidentStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One change the public should hear about. Stored as JSON in the outbox; what a channel sends
/// is made from this and the config at send time (names, page address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// When the change happened.
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceChange>,
    /// For operators: a content file's problems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentProblem>,
}

/// A content file that does not parse (or an open incident whose file went away): the site
/// keeps its last good version until it is fixed.
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
    /// How bad it is, for `min_impact`: an incident's impact; for a component, the worse of its
    /// old and new status (so the all-clear reaches whoever heard of the outage).
    pub fn impact(&self) -> Impact {
        if let Some(i) = &self.incident {
            return i.impact;
        }
        if let Some(c) = &self.component {
            return c.old_status.max(c.new_status).implied_impact();
        }
        Impact::None
    }

    /// The components it concerns.
    pub fn components(&self) -> Vec<&str> {
        if let Some(c) = &self.component {
            return vec![c.id.as_str()];
        }
        if let Some(i) = &self.incident {
            return i.components.iter().map(|(c, _)| c.as_str()).collect();
        }
        if let Some(m) = &self.maintenance {
            return m.components.iter().map(String::as_str).collect();
        }
        Vec::new()
    }
}
