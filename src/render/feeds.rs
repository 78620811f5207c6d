//! `history.atom` and `history.rss`: incidents, maintenance windows and component status changes
//! (the events notification channels get), newest change first, with every update in the entry;
//! and `components/<id>/feed.atom`, the same entries for one component, for those who follow only
//! that one. Timestamps come from the data, never from the clock.

use super::{CacheClass, Site, content_type_for};
use crate::escape::xml_escape;
use crate::model::{Incident, Update};
use crate::snapshot::Snapshot;
use crate::time::{human, iso};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub struct Entry {
    pub id: String,
    pub title: String,
    pub url: String,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// HTML (sanitized parts only), escaped again when written into XML.
    pub html: String,
}

/// An entry's text stops after the update that takes it past this many bytes (the first update
/// always shows): a feed stays small whatever the content holds.
pub const ENTRY_MAX_BYTES: usize = 16 * 1024;

fn timeline<S: Copy>(
    snap: &Snapshot,
    updates: &[Update<S>],
    label: impl Fn(S) -> &'static str,
    url: &str,
) -> String {
    let shown: Vec<&Update<S>> = updates.iter().filter(|u| u.at <= snap.now).collect();
    let mut out = String::new();
    for (i, u) in shown.iter().enumerate() {
        if i > 0 && out.len() >= ENTRY_MAX_BYTES {
            out.push_str(&format!(
                "<p>{} earlier updates: <a href=\"{}\">the whole timeline</a></p>\n",
                shown.len() - i,
                xml_escape(url)
            ));
            break;
        }
        out.push_str(&format!(
            "<p><strong>{}</strong> · {}</p>\n{}",
            label(u.status),
            xml_escape(&human(u.at, snap.site.tz)),
            u.body_html
        ));
    }
    out
}

/// Feed entries, newest change first, at most `site.feed_entries`: of `incidents`, and of the
/// maintenance windows and status changes that concern `component` (all of them without one).
fn entries(snap: &Snapshot, mut incidents: Vec<&Incident>, component: Option<&str>) -> Vec<Entry> {
    let base = &snap.site.base_url;
    let concerns = |id: &str| component.is_none_or(|c| c == id);
    // Only the newest `feed_entries` incidents can make it into the feed: pick them before
    // building any text, so a long history costs a sort of keys, not 10,000 timelines.
    let n = snap.site.feed_entries;
    let newer_first =
        |a: &&Incident, b: &&Incident| (b.updated_at(), &b.id).cmp(&(a.updated_at(), &a.id));
    if incidents.len() > n {
        incidents.select_nth_unstable_by(n, newer_first);
        incidents.truncate(n);
    }
    let mut out: Vec<Entry> = incidents
        .into_iter()
        .map(|i| {
            let url = format!("{base}/incidents/{}/index.html", i.id);
            Entry {
                id: format!("{base}/incidents/{}/", i.id),
                title: format!("{} ({})", i.title, i.status().label()),
                html: timeline(snap, &i.updates, |s| s.label(), &url),
                url,
                published: i.created_at(),
                updated: i.updated_at(),
            }
        })
        .chain(
            snap.maintenances
                .iter()
                .filter(|m| component.is_none_or(|c| m.components.iter().any(|x| x == c)))
                .map(|m| {
                    let window = format!(
                        "<p>Scheduled from {} to {}</p>\n",
                        xml_escape(&human(m.from, snap.site.tz)),
                        xml_escape(&human(m.until, snap.site.tz))
                    );
                    let url = format!("{base}/maintenance/{}/index.html", m.id);
                    Entry {
                        id: format!("{base}/maintenance/{}/", m.id),
                        title: format!("Maintenance: {} ({})", m.title, m.status.label()),
                        html: window + &timeline(snap, &m.updates, |s| s.label(), &url),
                        url,
                        published: m.created_at,
                        updated: m.updated_at(),
                    }
                }),
        )
        .chain(
            snap.component_events
                .iter()
                .filter(|(_, e)| e.at() <= snap.now)
                .filter_map(|(key, e)| {
                    let crate::event::Event::Component { change: c, .. } = e else {
                        return None;
                    };
                    if !concerns(&c.id) {
                        return None;
                    }
                    let name = snap
                        .component(&c.id)
                        .map_or(c.id.as_str(), |x| x.info.name.as_str());
                    Some(Entry {
                        id: format!(
                            "{base}/components/{}/#{}",
                            c.id,
                            crate::ids::delivery_id(key)
                        ),
                        title: format!("{name}: {}", c.new_status.label()),
                        url: format!("{base}/components/{}/index.html", c.id),
                        published: e.at(),
                        updated: e.at(),
                        html: format!(
                            "<p>{} changed from {} to {} · {}</p>\n",
                            xml_escape(name),
                            c.old_status.label(),
                            c.new_status.label(),
                            xml_escape(&human(e.at(), snap.site.tz))
                        ),
                    })
                }),
        )
        .collect();
    out.sort_by(|a, b| (b.updated, &b.id).cmp(&(a.updated, &a.id)));
    out.truncate(snap.site.feed_entries);
    out
}

/// When a feed last changed: its newest entry, or `empty`, a time from the data.
fn updated(entries: &[Entry], empty: DateTime<Utc>) -> DateTime<Utc> {
    entries.iter().map(|e| e.updated).max().unwrap_or(empty)
}

/// An Atom document: `path` is where it lives, `page` the HTML page it stands for (both from the
/// site root).
fn atom(
    snap: &Snapshot,
    title: &str,
    path: &str,
    page: &str,
    updated: DateTime<Utc>,
    entries: &[Entry],
) -> String {
    let base = &snap.site.base_url;
    let mut atom = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>{}</title>\n<id>{b}/{path}</id>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{b}/{page}\"/>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{b}/{path}\"/>\n\
         <updated>{}</updated>\n<author><name>{}</name></author>\n<generator>Pharos</generator>\n",
        xml_escape(title),
        iso(updated),
        xml_escape(&snap.site.title),
        b = xml_escape(base),
        path = xml_escape(path),
        page = xml_escape(page),
    );
    for e in entries {
        atom.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>{}</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n\
             <published>{}</published>\n<updated>{}</updated>\n<content type=\"html\">{}</content>\n</entry>\n",
            xml_escape(&e.title),
            xml_escape(&e.id),
            xml_escape(&e.url),
            iso(e.published),
            iso(e.updated),
            xml_escape(&e.html),
        ));
    }
    atom.push_str("</feed>\n");
    atom
}

/// `components/<id>/feed.atom` for every component with a page (removed components have none).
/// The incidents are sorted to their components in one pass over the history.
fn component_feeds(snap: &Snapshot, site: &mut Site) {
    let mut by_component: HashMap<&str, Vec<&Incident>> = HashMap::new();
    for i in snap.incidents.iter() {
        for (k, (cid, _)) in i.components.iter().enumerate() {
            // An incident that names a component twice is one entry.
            if i.components[..k].iter().all(|(c, _)| c != cid) {
                by_component.entry(cid.as_str()).or_default().push(i);
            }
        }
    }
    for c in &snap.components {
        let info = &c.info;
        let incidents = by_component.remove(info.id.as_str()).unwrap_or_default();
        let entries = entries(snap, incidents, Some(&info.id));
        let path = format!("components/{}/feed.atom", info.id);
        let feed = atom(
            snap,
            &format!("{}: {}", snap.site.title, info.name),
            &path,
            &format!("components/{}/index.html", info.id),
            // Without entries, the component's own latest change: news elsewhere leaves this
            // feed alone.
            updated(&entries, c.updated_at),
            &entries,
        );
        site.add(
            path,
            feed.into_bytes(),
            content_type_for("atom"),
            CacheClass::Short,
        );
    }
}

pub fn render(snap: &Snapshot, site: &mut Site) {
    let entries = entries(snap, snap.incidents.iter().collect(), None);
    let base = &snap.site.base_url;
    let title = xml_escape(&format!("{} incident history", snap.site.title));
    let updated = updated(&entries, snap.last_change);
    let atom = atom(
        snap,
        &format!("{} incident history", snap.site.title),
        "history.atom",
        "index.html",
        updated,
        &entries,
    );
    site.add(
        "history.atom",
        atom.into_bytes(),
        content_type_for("atom"),
        CacheClass::Short,
    );
    component_feeds(snap, site);

    let mut rss = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n\
         <title>{title}</title>\n<link>{b}/index.html</link>\n<description>{}</description>\n\
         <atom:link href=\"{b}/history.rss\" rel=\"self\" type=\"application/rss+xml\"/>\n\
         <lastBuildDate>{}</lastBuildDate>\n<generator>Pharos</generator>\n",
        xml_escape(&format!(
            "Incidents and maintenance for {}",
            snap.site.title
        )),
        updated.to_rfc2822(),
        b = xml_escape(base),
    );
    for e in &entries {
        rss.push_str(&format!(
            "<item>\n<title>{}</title>\n<link>{}</link>\n<guid isPermaLink=\"false\">{}</guid>\n\
             <pubDate>{}</pubDate>\n<description>{}</description>\n</item>\n",
            xml_escape(&e.title),
            xml_escape(&e.url),
            xml_escape(&e.id),
            e.updated.to_rfc2822(),
            xml_escape(&e.html),
        ));
    }
    rss.push_str("</channel>\n</rss>\n");
    site.add(
        "history.rss",
        rss.into_bytes(),
        content_type_for("rss"),
        CacheClass::Short,
    );
}
