//! Badges: `badges/<component>.svg` (flat, shields-style) and shields.io endpoint JSON
//! `badges/<component>.json`; `badge.svg` / `badge.json` at the root for the whole page.

use super::{CacheClass, RenderError, Site, content_type_for, public_json};
use crate::escape::xml_escape;
use crate::model::{ComponentStatus, Indicator};
use crate::snapshot::Snapshot;
use serde_json::json;

/// (message, shields colour name, hex fill)
fn look(s: ComponentStatus) -> (&'static str, &'static str, &'static str) {
    match s {
        ComponentStatus::Operational => ("operational", "brightgreen", "#1f883d"),
        ComponentStatus::UnderMaintenance => ("maintenance", "blue", "#0969da"),
        ComponentStatus::DegradedPerformance => ("degraded", "yellow", "#9a6700"),
        ComponentStatus::PartialOutage => ("partial outage", "orange", "#bc4c00"),
        ComponentStatus::MajorOutage => ("major outage", "red", "#cf222e"),
    }
}

/// Approximate width of text in 11px Verdana (what shields uses), in pixels.
fn text_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '!' | '\'' | '|' => 4,
            'f' | 't' | 'r' | 'I' | ' ' | '(' | ')' | '-' => 5,
            'm' | 'w' | 'M' | 'W' => 10,
            c if c.is_ascii_uppercase() => 8,
            c if c.is_ascii() => 7,
            _ => 8,
        })
        .sum()
}

pub fn svg(label: &str, message: &str, fill: &str) -> String {
    let (lw, mw) = (text_width(label) + 12, text_width(message) + 12);
    let w = lw + mw;
    let (label, message) = (xml_escape(label), xml_escape(message));
    format!(
        concat!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" aria-label=\"{l}: {m}\">",
            "<title>{l}: {m}</title>",
            "<rect width=\"{lw}\" height=\"20\" fill=\"#555\"/>",
            "<rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{fill}\"/>",
            "<g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\" text-anchor=\"middle\">",
            "<text x=\"{lx}\" y=\"14\">{l}</text><text x=\"{mx}\" y=\"14\">{m}</text></g></svg>\n"
        ),
        w = w,
        lw = lw,
        mw = mw,
        fill = fill,
        l = label,
        m = message,
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

pub fn render(snap: &Snapshot, site: &mut Site) -> Result<(), RenderError> {
    for c in &snap.components {
        let (message, colour, fill) = look(c.status);
        let name = &c.info.name;
        site.add(
            format!("badges/{}.svg", c.info.id),
            svg(name, message, fill).into_bytes(),
            content_type_for("svg"),
            CacheClass::Short,
        );
        let endpoint =
            json!({"schemaVersion": 1, "label": name, "message": message, "color": colour});
        site.add(
            format!("badges/{}.json", c.info.id),
            public_json("badge", &endpoint)?,
            content_type_for("json"),
            CacheClass::Short,
        );
    }
    let o = &snap.overall;
    let (colour, fill) = match o.indicator {
        Indicator::None if o.worst == ComponentStatus::UnderMaintenance => ("blue", "#0969da"),
        Indicator::None => ("brightgreen", "#1f883d"),
        Indicator::Minor => ("yellow", "#9a6700"),
        Indicator::Major => ("orange", "#bc4c00"),
        Indicator::Critical => ("red", "#cf222e"),
    };
    let message = o.description.to_lowercase();
    site.add(
        "badge.svg",
        svg("status", &message, fill).into_bytes(),
        content_type_for("svg"),
        CacheClass::Short,
    );
    let endpoint =
        json!({"schemaVersion": 1, "label": "status", "message": message, "color": colour});
    site.add(
        "badge.json",
        public_json("badge", &endpoint)?,
        content_type_for("json"),
        CacheClass::Short,
    );
    Ok(())
}
