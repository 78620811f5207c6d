//! A maintenance file: its window (`scheduled_for`/`scheduled_until`, or `schedule` and
//! `duration`), the components it covers, its description and its updates.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceFront {
    title: String,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    scheduled_for: Option<String>,
    #[serde(default)]
    scheduled_until: Option<String>,
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    cancelled: bool,
}

const MAINTENANCE_EXAMPLE: &str = "2026-12-01 02:30 UTC · in_progress";

pub fn parse_maintenance(
    src: &SourceFile,
    ctx: &ParseContext,
) -> Result<Parsed<Maintenance>, Vec<Problem>> {
    let file = src.path.as_path();
    let entity = format!("maintenance {:?}", src.id);
    let (yaml, body, body_line) =
        split_front_matter(&src.text, file, &entity).map_err(|p| vec![p])?;
    let (fm, doc, mut problems) = front::<MaintenanceFront>(yaml, file, &entity);
    let mut unknown_components = Vec::new();
    let Some(fm) = fm else {
        // The body is checked all the same (its updates' headings).
        let (_, _, secs) = sections(body, body_line);
        if let Err(mut p) = too_many_updates(secs.len(), ctx, file, body_line, &entity) {
            problems.append(&mut p);
            return Err(problems);
        }
        for s in &secs {
            if let Err(p) =
                parse_heading::<MaintenanceStatus>(s, ctx.tz, file, &entity, MAINTENANCE_EXAMPLE)
            {
                problems.push(p);
            }
        }
        return Err(with_unknown(problems, unknown_components));
    };
    if fm.title.trim().is_empty() && !doc.touched("title") {
        problems.push(at(file, doc.at("title"), &entity, "title is empty"));
    }
    for (i, c) in fm.components.iter().enumerate() {
        let path = format!("components[{i}]");
        if !ctx.components.contains(c) && !doc.touched(&path) {
            unknown_components.push(at(
                file,
                doc.at(&path),
                &entity,
                unknown_component(c, &ctx.components),
            ));
        }
    }
    let time = |field: &str, v: &str, problems: &mut Vec<Problem>| {
        crate::time::parse_timestamp(v, ctx.tz)
            .map_err(|e| problems.push(at(file, doc.at(field), &entity, format!("{field}: {e}"))))
            .ok()
    };
    let window_fields = ["scheduled_for", "scheduled_until", "schedule", "duration"];
    let window = match (
        &fm.scheduled_for,
        &fm.scheduled_until,
        &fm.schedule,
        &fm.duration,
    ) {
        (Some(f), Some(u), None, None) => {
            let from = time("scheduled_for", f, &mut problems);
            let until = time("scheduled_until", u, &mut problems);
            match (from, until) {
                (Some(from), Some(until)) if until > from => Some(Window::Once { from, until }),
                (Some(_), Some(_)) => {
                    problems.push(at(
                        file,
                        doc.at("scheduled_until"),
                        &entity,
                        "scheduled_until must be after scheduled_for",
                    ));
                    None
                }
                _ => None,
            }
        }
        (None, None, Some(s), Some(d)) => {
            if let Err(e) = crate::schedule::parse_cron(s) {
                problems.push(at(file, doc.at("schedule"), &entity, e));
            }
            match crate::time::parse_duration(d) {
                Ok(dur) if dur.as_secs() >= 60 => Some(Window::Recurring {
                    schedule: s.trim().to_string(),
                    duration_secs: dur.as_secs() as i64,
                }),
                Ok(_) => {
                    problems.push(at(
                        file,
                        doc.at("duration"),
                        &entity,
                        "duration must be at least 1m",
                    ));
                    None
                }
                Err(e) => {
                    problems.push(at(file, doc.at("duration"), &entity, e));
                    None
                }
            }
        }
        // A field serde refused was reported already.
        _ if window_fields.iter().any(|f| doc.touched(f)) => None,
        _ => {
            problems.push(at(
                file,
                Pos { line: 2, col: 1 },
                &entity,
                "set either scheduled_for and scheduled_until (one window), or schedule (cron) and duration (recurring)",
            ));
            None
        }
    };

    let (description, _, secs) = sections(body, body_line);
    if let Err(mut p) = too_many_updates(secs.len(), ctx, file, body_line, &entity) {
        problems.append(&mut p);
        return Err(with_unknown(problems, unknown_components));
    }
    let mut updates = Vec::new();
    for s in &secs {
        match parse_heading::<MaintenanceStatus>(s, ctx.tz, file, &entity, MAINTENANCE_EXAMPLE) {
            Ok((at, status)) => {
                let md = s.body.trim().to_string();
                updates.push(Update {
                    at,
                    status,
                    body_html: render_markdown(&md),
                    body_md: md,
                });
            }
            Err(p) => problems.push(p),
        }
    }
    match window {
        Some(window) if problems.is_empty() => {
            updates.sort_by_key(|u| std::cmp::Reverse(u.at));
            let item = Maintenance {
                id: src.id.clone(),
                title: fm.title.trim().to_string(),
                components: fm.components,
                window,
                cancelled: fm.cancelled,
                description_html: render_markdown(&description),
                description_md: description,
                updates,
                first_seen: None,
            };
            Ok(Parsed {
                item,
                unknown_components,
            })
        }
        _ => Err(with_unknown(problems, unknown_components)),
    }
}
