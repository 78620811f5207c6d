//! A consistent view of everything the public site shows, at one `now`.
//!
//! [`Snapshot::derive`] is pure: it turns config facts, stored incidents/maintenance/rollups and
//! `now` into component statuses, maintenance instances and the page indicator. Rendering reads
//! only the snapshot.

use crate::config::Config;
use crate::model::{
    ComponentStatus, DailyRollup, Impact, Incident, Indicator, Maintenance, MaintenanceStatus,
    Update, Window,
};
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// Public site settings (nothing private from the config gets in here).
#[derive(Debug, Clone)]
pub struct SiteInfo {
    pub title: String,
    pub description: Option<String>,
    /// Without a trailing slash.
    pub base_url: String,
    pub tz: Tz,
    pub links: Vec<Link>,
    /// Logo file extension and bytes.
    pub logo: Option<(String, Vec<u8>)>,
    pub history_days: u32,
    pub recent_days: u32,
    pub freshness: Duration,
    pub stale_after: Duration,
    pub feed_entries: usize,
    /// Statuspage `page.id`: a stable short id derived from the base URL.
    pub page_id: String,
}

#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ComponentInfo {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub group: Option<String>,
    pub only_show_if_degraded: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ComponentState {
    pub info: ComponentInfo,
    /// 1-based, config order (Statuspage `position`).
    pub position: usize,
    pub status: ComponentStatus,
    pub updated_at: DateTime<Utc>,
}

/// One concrete maintenance window (a recurring maintenance yields one per occurrence).
#[derive(Debug, Clone)]
pub struct MaintenanceInstance {
    /// `<file id>` for one-off windows, `<file id>-<YYYYMMDDTHHMM>` (UTC start) for occurrences.
    pub id: String,
    pub source_id: String,
    pub title: String,
    pub components: Vec<String>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub status: MaintenanceStatus,
    /// The cron expression, for recurring windows.
    pub recurring: Option<String>,
    pub description_md: String,
    pub description_html: String,
    /// Newest first; includes the automatic scheduled / in progress / completed entries.
    pub updates: Vec<Update<MaintenanceStatus>>,
    pub created_at: DateTime<Utc>,
}

impl MaintenanceInstance {
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updates
            .first()
            .map(|u| u.at)
            .unwrap_or(self.created_at)
    }
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            MaintenanceStatus::InProgress | MaintenanceStatus::Verifying
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overall {
    pub indicator: Indicator,
    pub description: &'static str,
    /// The worst component status (drives the banner colour).
    pub worst: ComponentStatus,
}

/// Everything a render needs.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    /// `now` rounded down to `site.freshness`, or the last change if that is newer: the only
    /// clock reading that reaches the output ("Last updated", the widget's `generated_at`).
    pub stamp: DateTime<Utc>,
    /// The latest change of public state at or before `now`.
    pub last_change: DateTime<Utc>,
    pub site: SiteInfo,
    pub groups: Vec<GroupInfo>,
    pub components: Vec<ComponentState>,
    /// Newest first.
    pub incidents: std::sync::Arc<Vec<Incident>>,
    /// Sorted by start, then id.
    pub maintenances: Vec<MaintenanceInstance>,
    pub rollups: HashMap<String, BTreeMap<NaiveDate, DailyRollup>>,
    pub overall: Overall,
    /// Kept for the next derive (see [`StoredState::incident_summary`]).
    pub incident_summary: std::sync::Arc<IncidentSummary>,
    /// The newest component status changes (what notification channels were told), for the
    /// feeds: (idempotency key, event).
    pub component_events: Vec<(String, crate::event::Event)>,
    /// Since when monitoring cannot judge (no monitored target reachable: the daemon's own
    /// network may be down); statuses are the last known meanwhile.
    pub monitoring_impaired_since: Option<DateTime<Utc>>,
    /// Names of components removed from the config (history may still name them).
    pub removed_components: HashMap<String, String>,
    /// Incidents whose file was renamed: (old id, id now); the old page redirects.
    pub moved: std::sync::Arc<Vec<(String, String)>>,
    /// In a cluster: today's checks of each component by region (by component id).
    pub regions: BTreeMap<String, Vec<crate::store::RegionLatency>>,
    /// The signed subscribe form, when subscriptions are on (signed here, at `now`, so render
    /// stays a pure function of the snapshot).
    pub subscribe: Option<SubscribeInfo>,
}

/// What the public subscribe pages show: the signed form, and how long a visitor has to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscribeInfo {
    pub form: crate::postform::Form,
    pub expire: Duration,
}

/// What the store holds, as the snapshot needs it.
pub struct StoredState {
    pub incidents: std::sync::Arc<Vec<Incident>>,
    pub maintenances: std::sync::Arc<Vec<Maintenance>>,
    pub rollups: HashMap<String, BTreeMap<NaiveDate, DailyRollup>>,
    pub component_created: HashMap<String, DateTime<Utc>>,
    /// (component, status, since) confirmed by monitors.
    pub monitor_statuses: Vec<(String, ComponentStatus, DateTime<Utc>)>,
    /// What the incidents contribute to the state, if known from an earlier derive of the same
    /// list ([`IncidentSummary::of`] otherwise).
    pub incident_summary: Option<std::sync::Arc<IncidentSummary>>,
    /// The newest component status changes from the outbox: (idempotency key, event).
    pub component_events: Vec<(String, crate::event::Event)>,
    /// Names of components removed from the config (history may still name them).
    pub removed_components: HashMap<String, String>,
    /// Incidents whose file was renamed: (old id, id now).
    pub moved: std::sync::Arc<Vec<(String, String)>>,
    /// In a cluster: today's checks of each component by region.
    pub regions: BTreeMap<String, Vec<crate::store::RegionLatency>>,
}

/// What the incidents contribute to the components' state at a moment, in one pass over the
/// history; the same for every moment before `valid_until` (the next update written ahead of
/// time), so a long-running daemon makes it once per content change.
#[derive(Debug)]
pub struct IncidentSummary {
    /// The list it summarizes.
    pub incidents: std::sync::Arc<Vec<Incident>>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    /// The worst effect of open incidents, by component.
    worst: HashMap<String, ComponentStatus>,
    /// The newest update (up to the moment) of an incident naming the component.
    touched: HashMap<String, DateTime<Utc>>,
    open_impact: Option<crate::model::Impact>,
    /// The newest incident update up to the moment.
    latest: Option<DateTime<Utc>>,
}

impl IncidentSummary {
    pub fn of(incidents: &std::sync::Arc<Vec<Incident>>, now: DateTime<Utc>) -> IncidentSummary {
        let mut s = IncidentSummary {
            incidents: incidents.clone(),
            valid_from: now,
            valid_until: None,
            worst: HashMap::new(),
            touched: HashMap::new(),
            open_impact: None,
            latest: None,
        };
        for i in incidents.iter() {
            let open = i.status().is_open();
            if open {
                s.open_impact = s.open_impact.max(Some(i.impact));
            }
            // The latest update so far touches every component the incident names.
            let latest = i.updates.iter().map(|u| u.at).filter(|t| *t <= now).max();
            if let Some(ahead) = i.updates.iter().map(|u| u.at).filter(|t| *t > now).min() {
                s.valid_until = Some(s.valid_until.map_or(ahead, |v| v.min(ahead)));
            }
            s.latest = s.latest.max(Some(i.updated_at()).filter(|t| *t <= now));
            for (cid, effect) in &i.components {
                if open {
                    let e = s
                        .worst
                        .entry(cid.clone())
                        .or_insert(ComponentStatus::Operational);
                    *e = (*e).max(*effect);
                }
                if let Some(t) = latest {
                    let e = s.touched.entry(cid.clone()).or_insert(t);
                    *e = (*e).max(t);
                }
            }
        }
        s
    }

    /// Whether this summary holds for `incidents` at `now`.
    pub fn holds(&self, incidents: &std::sync::Arc<Vec<Incident>>, now: DateTime<Utc>) -> bool {
        std::sync::Arc::ptr_eq(&self.incidents, incidents)
            && now >= self.valid_from
            && self.valid_until.is_none_or(|t| now < t)
    }
}

impl SiteInfo {
    pub fn from_config(c: &Config, logo: Option<(String, Vec<u8>)>) -> SiteInfo {
        use sha2::{Digest, Sha256};
        let base_url = c.site.base_url.trim_end_matches('/').to_string();
        let page_id = crate::ids::hex(&Sha256::digest(base_url.as_bytes()))[..12].to_string();
        SiteInfo {
            title: c.site.title.to_string(),
            description: c.site.description.as_ref().map(|d| d.to_string()),
            base_url,
            tz: c.tz(),
            links: c
                .site
                .links
                .iter()
                .map(|l| Link {
                    title: l.title.to_string(),
                    url: l.url.to_string(),
                })
                .collect(),
            logo,
            history_days: c.site.history_days,
            recent_days: c.site.recent_days,
            freshness: c.site.freshness.0,
            stale_after: c.site.stale_after.0,
            feed_entries: c.site.feed_entries,
            page_id,
        }
    }
}

/// Components and groups as configured.
pub fn structure(
    c: &Config,
    created: &HashMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Vec<GroupInfo>, Vec<ComponentInfo>) {
    let groups = c
        .groups
        .iter()
        .map(|g| GroupInfo {
            id: g.id.to_string(),
            name: g.name.to_string(),
            description: g.description.as_ref().map(|d| d.to_string()),
        })
        .collect();
    let components = c
        .components
        .iter()
        .map(|x| ComponentInfo {
            id: x.id.to_string(),
            name: x.name.to_string(),
            description: x.description.as_ref().map(|d| d.to_string()),
            group: x.group.as_ref().map(|g| g.to_string()),
            only_show_if_degraded: x.only_show_if_degraded,
            created_at: created.get(x.id.as_str()).copied().unwrap_or(now),
        })
        .collect();
    (groups, components)
}

impl Snapshot {
    /// Derive the public state. Pure: no I/O, no clock.
    pub fn derive(
        site: SiteInfo,
        groups: Vec<GroupInfo>,
        components: Vec<ComponentInfo>,
        stored: StoredState,
        now: DateTime<Utc>,
    ) -> Snapshot {
        let tz = site.tz;
        let maintenances = expand_maintenances(&stored.maintenances, tz, now);

        // Each component's status is the worst of what affects it now; it last changed at the
        // latest moment (not after `now`) something touched it.
        let mut status: HashMap<String, ComponentStatus> = HashMap::new();
        let mut changed: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut worsen = |id: &str, s: ComponentStatus| {
            let e = status
                .entry(id.to_string())
                .or_insert(ComponentStatus::Operational);
            *e = (*e).max(s);
        };
        let mut touch = |id: &str, t: DateTime<Utc>| {
            if t <= now {
                match changed.get_mut(id) {
                    Some(e) => *e = (*e).max(t),
                    None => {
                        changed.insert(id.to_string(), t);
                    }
                }
            }
        };
        let summary = match stored.incident_summary.clone() {
            Some(known) if known.holds(&stored.incidents, now) => known,
            _ => std::sync::Arc::new(IncidentSummary::of(&stored.incidents, now)),
        };
        for (cid, effect) in &summary.worst {
            worsen(cid, *effect);
        }
        for (cid, t) in &summary.touched {
            touch(cid, *t);
        }
        for m in &maintenances {
            for cid in &m.components {
                if m.is_active() {
                    worsen(cid, ComponentStatus::UnderMaintenance);
                }
                touch(cid, m.from);
                touch(cid, m.until);
            }
        }
        for (cid, s, since) in &stored.monitor_statuses {
            worsen(cid, *s);
            touch(cid, *since);
        }

        let states: Vec<ComponentState> = components
            .iter()
            .enumerate()
            .map(|(i, info)| ComponentState {
                position: i + 1,
                status: status
                    .get(info.id.as_str())
                    .copied()
                    .unwrap_or(ComponentStatus::Operational),
                updated_at: changed
                    .get(info.id.as_str())
                    .copied()
                    .unwrap_or(info.created_at)
                    .max(info.created_at),
                info: info.clone(),
            })
            .collect();

        let open_impact = summary.open_impact;
        let overall = overall(
            &states.iter().map(|c| c.status).collect::<Vec<_>>(),
            open_impact,
        );

        let last_change = summary
            .latest
            .into_iter()
            .chain(states.iter().map(|c| c.updated_at))
            .chain(
                maintenances
                    .iter()
                    .flat_map(|m| m.updates.iter().map(|u| u.at)),
            )
            .filter(|t| *t <= now)
            .max()
            .unwrap_or_default();

        Snapshot {
            now,
            // Never older than the newest change the page shows.
            stamp: crate::time::floor_to(now, site.freshness).max(last_change),
            last_change,
            site,
            groups,
            components: states,
            incidents: stored.incidents,
            maintenances,
            rollups: stored.rollups,
            overall,
            incident_summary: summary,
            component_events: stored.component_events,
            monitoring_impaired_since: None,
            removed_components: stored.removed_components,
            moved: stored.moved,
            regions: stored.regions,
            subscribe: None,
        }
    }

    pub fn today(&self) -> NaiveDate {
        crate::time::local_day(self.now, self.site.tz)
    }

    pub fn component(&self, id: &str) -> Option<&ComponentState> {
        self.components.iter().find(|c| c.info.id == id)
    }

    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.iter().filter(|i| i.status().is_open())
    }

    pub fn active_maintenances(&self) -> impl Iterator<Item = &MaintenanceInstance> {
        self.maintenances.iter().filter(|m| m.is_active())
    }

    pub fn upcoming_maintenances(&self) -> impl Iterator<Item = &MaintenanceInstance> {
        self.maintenances
            .iter()
            .filter(|m| m.status == MaintenanceStatus::Scheduled)
    }
}

/// Statuspage's top-level status: "blend" the component statuses. When no component is affected
/// but an unresolved incident is open, its impact sets the indicator (a page with an open
/// critical incident is not "All Systems Operational").
pub fn overall(statuses: &[ComponentStatus], open_incident_impact: Option<Impact>) -> Overall {
    use ComponentStatus::*;
    let all = |s| !statuses.is_empty() && statuses.iter().all(|x| *x == s);
    let any = |s| statuses.contains(&s);
    let worst = statuses.iter().copied().max().unwrap_or(Operational);
    let (mut indicator, mut description) = match statuses {
        [] => (Indicator::None, "All Systems Operational"),
        [one] => match one {
            Operational => (Indicator::None, "All Systems Operational"),
            UnderMaintenance => (Indicator::None, "Service Under Maintenance"),
            DegradedPerformance => (Indicator::Minor, "Partially Degraded Service"),
            PartialOutage => (Indicator::Major, "Partial System Outage"),
            MajorOutage => (Indicator::Critical, "Major System Outage"),
        },
        _ if all(MajorOutage) => (Indicator::Critical, "Major System Outage"),
        _ if any(MajorOutage) || all(PartialOutage) => (Indicator::Major, "Partial System Outage"),
        _ if any(PartialOutage) => (Indicator::Minor, "Minor Service Outage"),
        _ if all(DegradedPerformance) => (Indicator::Minor, "Degraded System Service"),
        _ if any(DegradedPerformance) => (Indicator::Minor, "Partially Degraded Service"),
        _ if any(UnderMaintenance) => (Indicator::None, "Service Under Maintenance"),
        _ => (Indicator::None, "All Systems Operational"),
    };
    let from_incidents = match open_incident_impact {
        Some(Impact::Critical) => Indicator::Critical,
        Some(Impact::Major) => Indicator::Major,
        Some(Impact::Minor) => Indicator::Minor,
        _ => Indicator::None,
    };
    if worst <= UnderMaintenance && from_incidents > indicator {
        indicator = from_incidents;
        description = match from_incidents {
            Indicator::Critical => "Major System Outage",
            Indicator::Major => "Partial System Outage",
            _ => "Minor Service Outage",
        };
    }
    Overall {
        indicator,
        description,
        worst,
    }
}

/// Turn stored maintenances into concrete windows around `now`: one-off windows as they are,
/// recurring ones as the occurrence in progress (if any) and the next one. Cancelled windows
/// are left out.
pub fn expand_maintenances(
    ms: &[Maintenance],
    tz: Tz,
    now: DateTime<Utc>,
) -> Vec<MaintenanceInstance> {
    let mut out = Vec::new();
    for m in ms.iter().filter(|m| !m.cancelled) {
        match &m.window {
            Window::Once { from, until } => {
                out.push(instance(m, m.id.clone(), *from, *until, None, now))
            }
            Window::Recurring {
                schedule,
                duration_secs,
            } => {
                let Ok(cron) = crate::schedule::parse_cron(schedule) else {
                    continue;
                };
                let dur = ChronoDuration::seconds(*duration_secs);
                // Starts after (now - duration) are either running now or upcoming.
                for start in crate::schedule::occurrences_after(&cron, tz, now - dur).take(2) {
                    let id = format!("{}-{}", m.id, start.format("%Y%m%dt%H%M"));
                    let running = start <= now;
                    out.push(instance(
                        m,
                        id,
                        start,
                        start + dur,
                        Some(schedule.clone()),
                        now,
                    ));
                    if !running {
                        break;
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
    out
}

fn instance(
    m: &Maintenance,
    id: String,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    recurring: Option<String>,
    now: DateTime<Utc>,
) -> MaintenanceInstance {
    let by_time = if now < from {
        MaintenanceStatus::Scheduled
    } else if now < until {
        MaintenanceStatus::InProgress
    } else {
        MaintenanceStatus::Completed
    };
    // Admin updates that belong to this window (for a recurring one: those within it).
    let explicit: Vec<&Update<MaintenanceStatus>> = m
        .updates
        .iter()
        .filter(|u| u.at <= now && (recurring.is_none() || (u.at >= from && u.at <= until)))
        .collect();
    // An admin can move a window forward (start early, verify, complete early), not back.
    let status = explicit
        .first()
        .map(|u| u.status)
        .map_or(by_time, |s| s.max(by_time));
    let created_at = m.first_seen.unwrap_or(from).min(from);

    let mut updates: Vec<Update<MaintenanceStatus>> = explicit.into_iter().cloned().collect();
    let has =
        |s: MaintenanceStatus, ups: &[Update<MaintenanceStatus>]| ups.iter().any(|u| u.status == s);
    let auto = |at, status, text: &str| Update {
        at,
        status,
        body_md: text.to_string(),
        body_html: format!("<p>{text}</p>\n"),
    };
    if status >= MaintenanceStatus::InProgress
        && !has(MaintenanceStatus::InProgress, &updates)
        && now >= from
    {
        updates.push(auto(
            from,
            MaintenanceStatus::InProgress,
            "Scheduled maintenance is currently in progress.",
        ));
    }
    if status == MaintenanceStatus::Completed && !has(MaintenanceStatus::Completed, &updates) {
        updates.push(auto(
            until.min(now),
            MaintenanceStatus::Completed,
            "The scheduled maintenance has been completed.",
        ));
    }
    updates.push(Update {
        at: created_at,
        status: MaintenanceStatus::Scheduled,
        body_md: m.description_md.clone(),
        body_html: m.description_html.clone(),
    });
    updates.sort_by_key(|u| std::cmp::Reverse((u.at, u.status)));
    MaintenanceInstance {
        id,
        source_id: m.id.clone(),
        title: m.title.clone(),
        components: m.components.clone(),
        from,
        until,
        status,
        recurring,
        description_md: m.description_md.clone(),
        description_html: m.description_html.clone(),
        updates,
        created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    #[test]
    fn top_level_status_follows_statuspage() {
        let cases: &[(&[ComponentStatus], Option<Impact>, Indicator, &str)] = &[
            (&[], None, Indicator::None, "All Systems Operational"),
            (
                &[],
                Some(Impact::Major),
                Indicator::Major,
                "Partial System Outage",
            ),
            (
                &[DegradedPerformance],
                None,
                Indicator::Minor,
                "Partially Degraded Service",
            ),
            (
                &[UnderMaintenance],
                None,
                Indicator::None,
                "Service Under Maintenance",
            ),
            (
                &[PartialOutage],
                None,
                Indicator::Major,
                "Partial System Outage",
            ),
            (
                &[MajorOutage],
                None,
                Indicator::Critical,
                "Major System Outage",
            ),
            (
                &[Operational, Operational],
                None,
                Indicator::None,
                "All Systems Operational",
            ),
            (
                &[MajorOutage, MajorOutage],
                None,
                Indicator::Critical,
                "Major System Outage",
            ),
            (
                &[MajorOutage, Operational],
                None,
                Indicator::Major,
                "Partial System Outage",
            ),
            (
                &[PartialOutage, PartialOutage],
                None,
                Indicator::Major,
                "Partial System Outage",
            ),
            (
                &[PartialOutage, Operational],
                None,
                Indicator::Minor,
                "Minor Service Outage",
            ),
            (
                &[DegradedPerformance, DegradedPerformance],
                None,
                Indicator::Minor,
                "Degraded System Service",
            ),
            (
                &[DegradedPerformance, Operational],
                None,
                Indicator::Minor,
                "Partially Degraded Service",
            ),
            (
                &[UnderMaintenance, Operational],
                None,
                Indicator::None,
                "Service Under Maintenance",
            ),
            (
                &[Operational, Operational],
                Some(Impact::Critical),
                Indicator::Critical,
                "Major System Outage",
            ),
            (
                &[Operational, Operational],
                Some(Impact::None),
                Indicator::None,
                "All Systems Operational",
            ),
            (
                &[DegradedPerformance, Operational],
                Some(Impact::Major),
                Indicator::Minor,
                "Partially Degraded Service",
            ),
        ];
        for (statuses, impact, indicator, description) in cases {
            let o = overall(statuses, *impact);
            assert_eq!(
                (o.indicator, o.description),
                (*indicator, *description),
                "{statuses:?} {impact:?}"
            );
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn maintenance(window: Window) -> Maintenance {
        Maintenance {
            id: "db".into(),
            title: "DB".into(),
            components: vec!["db".into()],
            window,
            cancelled: false,
            description_md: "Upgrade".into(),
            description_html: "<p>Upgrade</p>".into(),
            updates: vec![],
            first_seen: Some(t("2026-11-01T00:00:00Z")),
        }
    }

    #[test]
    fn maintenance_status_follows_the_clock() {
        let m = maintenance(Window::Once {
            from: t("2026-12-01T02:00:00Z"),
            until: t("2026-12-01T04:00:00Z"),
        });
        let at = |now| expand_maintenances(std::slice::from_ref(&m), Tz::UTC, t(now))[0].status;
        assert_eq!(at("2026-12-01T01:59:59Z"), MaintenanceStatus::Scheduled);
        assert_eq!(at("2026-12-01T02:00:00Z"), MaintenanceStatus::InProgress);
        assert_eq!(at("2026-12-01T04:00:00Z"), MaintenanceStatus::Completed);
        let done =
            &expand_maintenances(std::slice::from_ref(&m), Tz::UTC, t("2026-12-02T00:00:00Z"))[0];
        let statuses: Vec<_> = done.updates.iter().map(|u| u.status).collect();
        assert_eq!(
            statuses,
            [
                MaintenanceStatus::Completed,
                MaintenanceStatus::InProgress,
                MaintenanceStatus::Scheduled
            ]
        );

        let mut cancelled = m.clone();
        cancelled.cancelled = true;
        assert!(expand_maintenances(&[cancelled], Tz::UTC, t("2026-12-01T03:00:00Z")).is_empty());
    }

    #[test]
    fn recurring_maintenance_yields_current_and_next() {
        let m = maintenance(Window::Recurring {
            schedule: "0 3 * * *".into(),
            duration_secs: 3600,
        });
        let during =
            expand_maintenances(std::slice::from_ref(&m), Tz::UTC, t("2026-12-01T03:30:00Z"));
        assert_eq!(during.len(), 2);
        assert_eq!(during[0].id, "db-20261201t0300");
        assert_eq!(during[0].status, MaintenanceStatus::InProgress);
        assert_eq!(during[1].status, MaintenanceStatus::Scheduled);
        let between =
            expand_maintenances(std::slice::from_ref(&m), Tz::UTC, t("2026-12-01T05:00:00Z"));
        assert_eq!(between.len(), 1);
        assert_eq!(between[0].from, t("2026-12-02T03:00:00Z"));
    }
}
