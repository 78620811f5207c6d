//! `maintenance.ics`: every maintenance window as an iCalendar event (RFC 5545), so visitors can
//! subscribe in their calendar. Recurring windows appear as their current and next occurrence
//! (cron cannot always be expressed as an RRULE); the file is republished as time moves on.

use super::{CacheClass, Site, content_type_for};
use crate::snapshot::Snapshot;
use chrono::{DateTime, Utc};

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping (RFC 5545 3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Fold lines longer than 75 octets (RFC 5545 3.1), never splitting a UTF-8 character.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

pub fn render(snap: &Snapshot, site: &mut Site) {
    let base = &snap.site.base_url;
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .split('/')
        .next()
        .unwrap_or("pharos");
    let mut out = String::new();
    let mut line = |l: &str| push_line(&mut out, l);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//Pharos//Status page//EN");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line(&format!(
        "X-WR-CALNAME:{}",
        text(&format!("{} maintenance", snap.site.title))
    ));
    for m in &snap.maintenances {
        let components: Vec<String> = m
            .components
            .iter()
            .map(|c| {
                snap.component(c)
                    .map(|x| x.info.name.clone())
                    .unwrap_or_else(|| c.clone())
            })
            .collect();
        let mut description = m.description_md.clone();
        if !components.is_empty() {
            description.push_str(&format!("\n\nAffected: {}", components.join(", ")));
        }
        line("BEGIN:VEVENT");
        line(&format!("UID:{}@{}", m.id, text(host)));
        line(&format!("DTSTAMP:{}", stamp(m.updated_at())));
        line(&format!("CREATED:{}", stamp(m.created_at)));
        line(&format!("LAST-MODIFIED:{}", stamp(m.updated_at())));
        line(&format!("DTSTART:{}", stamp(m.from)));
        line(&format!("DTEND:{}", stamp(m.until)));
        line(&format!(
            "SUMMARY:{}",
            text(&format!("Maintenance: {}", m.title))
        ));
        line(&format!("DESCRIPTION:{}", text(description.trim())));
        line(&format!("URL:{base}/maintenance/{}/index.html", m.id));
        line("STATUS:CONFIRMED");
        line("TRANSP:TRANSPARENT");
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    site.add(
        "maintenance.ics",
        out.into_bytes(),
        content_type_for("ics"),
        CacheClass::Short,
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn folds_long_lines_on_char_boundaries() {
        let mut out = String::new();
        super::push_line(&mut out, &format!("DESCRIPTION:{}", "é".repeat(60)));
        for l in out.split("\r\n") {
            assert!(l.len() <= 75, "{l}");
        }
        assert_eq!(super::text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
