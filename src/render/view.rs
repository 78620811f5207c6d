//! The public view: the only data templates ever see. Everything is pre-formatted text; domain
//! structs (with monitor URLs, headers, raw errors) never reach a template.

use crate::model::{ComponentStatus, DailyRollup, Incident, MaintenanceStatus, Update};
use crate::snapshot::{ComponentState, MaintenanceInstance, Snapshot};
use crate::time::{human, human_date, iso};
use chrono::{Datelike, Duration as ChronoDuration, NaiveDate};
use serde::Serialize;

/// Common to every page.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub title: String,
    pub description: Option<String>,
    pub base_url: String,
    pub links: Vec<LinkView>,
    /// Path of the logo relative to the site root, if any.
    pub logo: Option<String>,
    /// Path of the stylesheet relative to the site root.
    pub css: String,
    /// Time zone name, e.g. "Europe/Berlin".
    pub time_zone: String,
    /// A neutral `data:` URI favicon. Only the index gets one in the colour of the overall
    /// status (`status_favicon`): a status change must not rewrite every page of the history.
    pub favicon: String,
    /// Subscriptions are on: every page links to `subscribe/index.html`.
    pub subscribe: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverallView {
    /// Statuspage indicator: none, minor, major, critical.
    pub indicator: String,
    pub description: String,
    /// CSS class: ok, maintenance, minor, major, critical.
    pub class: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// Wire name, e.g. "partial_outage".
    pub code: String,
    /// For people, e.g. "Partial outage".
    pub label: String,
    /// CSS class: ok, maintenance, minor, major, critical.
    pub class: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimeView {
    /// `20 Nov 2026, 15:10 CET`
    pub human: String,
    /// `2026-11-20T14:10:00Z`, for `<time datetime>`.
    pub iso: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayView {
    /// x offset in the SVG (each day is 1 unit wide with no gap; the SVG scales).
    pub x: usize,
    pub width: usize,
    /// CSS class: ok, minor, major, critical, none (no data).
    pub class: String,
    /// Tooltip and accessible text, e.g. "20 Nov 2026: 99.93 % uptime (3 down checks)".
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UptimeView {
    /// "99.95 %" or "No data".
    pub percent: String,
    pub days: Vec<DayView>,
    /// Number of days shown (the SVG viewBox width).
    pub span: usize,
    /// SVG path data of the lines between days (the same for every bar of a page, so it costs
    /// next to nothing gzipped).
    pub ticks: String,
    pub from_label: String,
    /// Accessible summary of the bar, e.g. "Uptime over the last 90 days: 99.95 %".
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: StatusView,
    /// Link relative to the site root: `components/<id>/index.html`.
    pub url: String,
    pub uptime: UptimeView,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    /// `None` for components outside any group.
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: StatusView,
    pub components: Vec<ComponentView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateView {
    pub status: StatusView,
    pub at: TimeView,
    /// Sanitized HTML.
    pub body_html: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AffectedView {
    pub name: String,
    /// The effect while the incident is open.
    pub status: StatusView,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    pub id: String,
    pub title: String,
    /// `incidents/<id>/index.html`
    pub url: String,
    pub impact: StatusView,
    pub status: StatusView,
    pub open: bool,
    pub created: TimeView,
    pub updated: TimeView,
    pub resolved: Option<TimeView>,
    /// "2h 15m", for resolved incidents.
    pub duration: Option<String>,
    pub components: Vec<AffectedView>,
    /// Newest first.
    pub updates: Vec<UpdateView>,
    pub automatic: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceView {
    pub id: String,
    pub title: String,
    /// `maintenance/<id>/index.html`
    pub url: String,
    pub status: StatusView,
    pub from: TimeView,
    pub until: TimeView,
    /// The cron expression for recurring windows.
    pub recurring: Option<String>,
    pub description_html: String,
    pub components: Vec<String>,
    pub updates: Vec<UpdateView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonthLink {
    /// "November 2026"
    pub label: String,
    /// `history/2026-11/index.html`
    pub url: String,
    pub count: usize,
}

/// One region's checks of a component today (in a cluster).
#[derive(Debug, Clone, Serialize)]
pub struct RegionView {
    pub region: String,
    pub mean: String,
    pub checks: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatView {
    /// "Last 7 days"
    pub label: String,
    /// "99.95 %" or "No data"
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyChartView {
    /// SVG polyline points in a 0..width x 0..100 box, p50 and p95.
    pub p50_points: String,
    pub p95_points: String,
    pub width: usize,
    /// "max 420 ms"
    pub max_label: String,
    /// Accessible summary, e.g. "Median response time over 90 days: 85 ms to 240 ms".
    pub summary: String,
}

pub fn status_class(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "ok",
        ComponentStatus::UnderMaintenance => "maintenance",
        ComponentStatus::DegradedPerformance => "minor",
        ComponentStatus::PartialOutage => "major",
        ComponentStatus::MajorOutage => "critical",
    }
}

pub fn component_status(s: ComponentStatus) -> StatusView {
    StatusView {
        code: s.as_str().into(),
        label: s.label().into(),
        class: status_class(s).into(),
    }
}

fn incident_status(s: crate::model::IncidentStatus, open: bool) -> StatusView {
    StatusView {
        code: s.as_str().into(),
        label: s.label().into(),
        class: if open { "major" } else { "ok" }.into(),
    }
}

fn maintenance_status(s: MaintenanceStatus) -> StatusView {
    StatusView {
        code: s.as_str().into(),
        label: s.label().into(),
        class: match s {
            MaintenanceStatus::Completed => "ok",
            _ => "maintenance",
        }
        .into(),
    }
}

pub struct Views<'a> {
    pub snap: &'a Snapshot,
}

impl<'a> Views<'a> {
    pub fn time(&self, t: chrono::DateTime<chrono::Utc>) -> TimeView {
        TimeView {
            human: human(t, self.snap.site.tz),
            iso: iso(t),
        }
    }

    pub fn overall(&self) -> OverallView {
        let o = &self.snap.overall;
        let class = match o.indicator {
            crate::model::Indicator::None if o.worst == ComponentStatus::UnderMaintenance => {
                "maintenance"
            }
            crate::model::Indicator::None => "ok",
            crate::model::Indicator::Minor => "minor",
            crate::model::Indicator::Major => "major",
            crate::model::Indicator::Critical => "critical",
        };
        OverallView {
            indicator: o.indicator.as_str().into(),
            description: o.description.into(),
            class: class.into(),
        }
    }

    /// Daily bars for the last `days` days ending today (site time zone).
    pub fn uptime(&self, component: &str, days: u32) -> UptimeView {
        let today = self.snap.today();
        let days = days.max(1) as usize;
        let first = today - ChronoDuration::days(days as i64 - 1);
        let empty = Default::default();
        let data = self.snap.rollups.get(component).unwrap_or(&empty);
        let mut out: Vec<DayView> = Vec::new();
        let mut total = DailyRollup::default();
        for i in 0..days {
            let day = first + ChronoDuration::days(i as i64);
            let r = data.get(&day).copied().unwrap_or_default();
            total.up += r.up;
            total.degraded += r.degraded;
            total.down += r.down;
            let (class, label) = day_class(day, &r);
            // Runs of days without data, and of days without a failed or slow check, become one
            // bar (the day ticks are drawn over the whole bar): a fraction of the markup, the
            // same picture and meaning.
            if matches!(class, "none" | "ok")
                && let Some(last) = out.last_mut()
                && last.class == class
            {
                last.width += 1;
                let start = first + ChronoDuration::days(last.x as i64);
                let what = if class == "none" {
                    "no data"
                } else {
                    "100.00 % uptime"
                };
                last.label = format!("{} to {}: {what}", human_date(start), human_date(day));
                continue;
            }
            out.push(DayView {
                x: i,
                width: 1,
                class: class.into(),
                label,
            });
        }
        let percent = total
            .uptime_percent()
            .map(format_percent)
            .unwrap_or_else(|| "No data".into());
        UptimeView {
            summary: format!("Uptime over the last {days} days: {percent}"),
            percent,
            days: out,
            ticks: ticks(days),
            span: days,
            from_label: format!("{days} days ago"),
        }
    }

    /// Uptime over the last `days` days, from daily rollups.
    pub fn uptime_stat(&self, component: &str, days: i64, label: &str) -> StatView {
        let today = self.snap.today();
        let mut total = DailyRollup::default();
        if let Some(data) = self.snap.rollups.get(component) {
            for (_, r) in data.range(today - ChronoDuration::days(days - 1)..=today) {
                total.up += r.up;
                total.degraded += r.degraded;
                total.down += r.down;
            }
        }
        StatView {
            label: label.into(),
            value: total
                .uptime_percent()
                .map(format_percent)
                .unwrap_or_else(|| "No data".into()),
        }
    }

    pub fn latency_chart(&self, component: &str, days: u32) -> Option<LatencyChartView> {
        let today = self.snap.today();
        let days = days.max(1) as usize;
        let first = today - ChronoDuration::days(days as i64 - 1);
        let data = self.snap.rollups.get(component)?;
        let series: Vec<(usize, u32, u32)> = (0..days)
            .filter_map(|i| {
                let r = data.get(&(first + ChronoDuration::days(i as i64)))?;
                let p50 = r.latency_p50_ms?;
                Some((i, p50, r.latency_p95_ms.unwrap_or(p50)))
            })
            .collect();
        if series.is_empty() {
            return None;
        }
        let max = series
            .iter()
            .map(|(_, _, p95)| *p95)
            .max()
            .unwrap_or(1)
            .max(1);
        let points = |f: &dyn Fn(&(usize, u32, u32)) -> u32| {
            series
                .iter()
                .map(|s| {
                    format!(
                        "{}.5,{}",
                        s.0,
                        100 - (u64::from(f(s)) * 100 / u64::from(max))
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let lo = series.iter().map(|s| s.1).min().unwrap_or(0);
        let hi = series.iter().map(|s| s.1).max().unwrap_or(0);
        Some(LatencyChartView {
            p50_points: points(&|s| s.1),
            p95_points: points(&|s| s.2),
            width: days,
            max_label: format!("max {max} ms"),
            summary: format!("Median response time over the last {days} days: {lo} ms to {hi} ms"),
        })
    }

    pub fn component(&self, c: &ComponentState) -> ComponentView {
        ComponentView {
            id: c.info.id.clone(),
            name: c.info.name.clone(),
            description: c.info.description.clone(),
            status: component_status(c.status),
            url: format!("components/{}/index.html", c.info.id),
            uptime: self.uptime(&c.info.id, self.snap.site.history_days),
        }
    }

    /// Components by group, in config order; a group sits where its first component is.
    /// Components that only show when degraded are left out while operational.
    pub fn groups(&self) -> Vec<GroupView> {
        let mut out: Vec<(Option<&str>, GroupView)> = Vec::new();
        for c in &self.snap.components {
            if c.info.only_show_if_degraded && c.status == ComponentStatus::Operational {
                continue;
            }
            let key = c.info.group.as_deref();
            let view = self.component(c);
            match out.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
                Some((_, g)) => g.components.push(view),
                None => {
                    let info = key.and_then(|k| self.snap.groups.iter().find(|g| g.id == k));
                    out.push((
                        key,
                        GroupView {
                            name: info.map(|g| g.name.clone()),
                            description: info.and_then(|g| g.description.clone()),
                            status: component_status(ComponentStatus::Operational),
                            components: vec![view],
                        },
                    ));
                }
            }
        }
        for (key, g) in &mut out {
            if key.is_some() {
                let worst = self
                    .snap
                    .components
                    .iter()
                    .filter(|c| c.info.group.as_deref() == *key)
                    .map(|c| c.status)
                    .max()
                    .unwrap_or(ComponentStatus::Operational);
                g.status = component_status(worst);
            }
        }
        out.into_iter().map(|(_, g)| g).collect()
    }

    /// A component's name; one removed from the config (history may name it) as removed.
    pub fn component_name(&self, id: &str) -> String {
        match self.snap.component(id) {
            Some(c) => c.info.name.clone(),
            None => format!(
                "{} (removed)",
                self.snap
                    .removed_components
                    .get(id)
                    .map_or(id, String::as_str)
            ),
        }
    }

    pub fn incident(&self, i: &Incident) -> IncidentView {
        let open = i.status().is_open();
        let resolved = i.resolved_at();
        IncidentView {
            id: i.id.clone(),
            title: i.title.clone(),
            url: format!("incidents/{}/index.html", i.id),
            impact: StatusView {
                code: i.impact.as_str().into(),
                label: i.impact.label().into(),
                class: match i.impact {
                    crate::model::Impact::None => "ok",
                    crate::model::Impact::Minor => "minor",
                    crate::model::Impact::Major => "major",
                    crate::model::Impact::Critical => "critical",
                }
                .into(),
            },
            status: incident_status(i.status(), open),
            open,
            created: self.time(i.created_at()),
            updated: self.time(i.updated_at()),
            resolved: resolved.map(|t| self.time(t)),
            duration: resolved.map(|t| format_span(t - i.created_at())),
            components: i
                .components
                .iter()
                .map(|(id, s)| AffectedView {
                    name: self.component_name(id),
                    status: component_status(*s),
                })
                .collect(),
            updates: i
                .updates
                .iter()
                .map(|u| self.update(u, |s| incident_status(s, s.is_open())))
                .collect(),
            automatic: i.automatic,
        }
    }

    fn update<S: Copy>(&self, u: &Update<S>, status: impl Fn(S) -> StatusView) -> UpdateView {
        UpdateView {
            status: status(u.status),
            at: self.time(u.at),
            body_html: u.body_html.clone(),
        }
    }

    pub fn maintenance(&self, m: &MaintenanceInstance) -> MaintenanceView {
        MaintenanceView {
            id: m.id.clone(),
            title: m.title.clone(),
            url: format!("maintenance/{}/index.html", m.id),
            status: maintenance_status(m.status),
            from: self.time(m.from),
            until: self.time(m.until),
            recurring: m.recurring.clone(),
            description_html: m.description_html.clone(),
            components: m
                .components
                .iter()
                .map(|c| self.component_name(c))
                .collect(),
            updates: m
                .updates
                .iter()
                .map(|u| self.update(u, maintenance_status))
                .collect(),
        }
    }
}

/// `M1 0V10M2 0V10...`: a vertical line between each two of `days` days.
fn ticks(days: usize) -> String {
    (1..days).map(|x| format!("M{x} 0V10")).collect()
}

fn day_class(day: NaiveDate, r: &DailyRollup) -> (&'static str, String) {
    let date = human_date(day);
    match r.uptime_percent() {
        None => ("none", format!("{date}: no data")),
        Some(p) => {
            let class = if r.down == 0 && r.degraded == 0 {
                "ok"
            } else if r.down == 0 || p >= 99.0 {
                "minor"
            } else if p >= 95.0 {
                "major"
            } else {
                "critical"
            };
            let checks = |n: u32| if n == 1 { "check" } else { "checks" };
            let detail = match (r.down, r.degraded) {
                (0, 0) => String::new(),
                (d, 0) => format!(" ({d} failed {})", checks(d)),
                (0, g) => format!(" ({g} slow {})", checks(g)),
                (d, g) => format!(" ({d} failed, {g} slow {})", checks(g)),
            };
            (
                class,
                format!("{date}: {} uptime{detail}", format_percent(p)),
            )
        }
    }
}

/// Two decimals, never rounding a partial outage up to 100.
pub fn format_percent(p: f64) -> String {
    let floored = (p * 100.0).floor() / 100.0;
    format!("{floored:.2} %")
}

/// `2h 15m`, `3d 4h`, `45m`, `30s`.
pub fn format_span(d: ChronoDuration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// "November 2026"
pub fn month_label(year: i32, month: u32) -> String {
    NaiveDate::from_ymd_opt(year, month, 1)
        .map(|d| d.format("%B %Y").to_string())
        .unwrap_or_default()
}

/// (year, month) of a date.
pub fn year_month(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_never_round_up_to_perfect() {
        assert_eq!(format_percent(99.999), "99.99 %");
        assert_eq!(format_percent(100.0), "100.00 %");
        assert_eq!(format_span(ChronoDuration::minutes(135)), "2h 15m");
        assert_eq!(format_span(ChronoDuration::hours(76)), "3d 4h");
    }
}
