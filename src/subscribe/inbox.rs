//! Reading the inbox bucket: LIST, GET each object, record its request in SQLite, then DELETE
//! it. An object read again after a crash before its DELETE is recognised by its done mark
//! (key hash, ETag, time) and only deleted. Keys are visitors' addresses: logs never show one.

use crate::config::Config;
use crate::publisher::s3::S3Target;
use crate::store::{Outcome, Store};
use crate::subscriber::{TOKEN_KEY_PREFIX, mask, parse_request};
use anyhow::Result;
use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// The largest inbox object read (the forms post a word; the policy allows at most 32 bytes).
pub const MAX_OBJECT: usize = 1024;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects listed (at most `per_poll`).
    pub listed: usize,
    /// Requests recorded that changed something (a subscriber, an email queued).
    pub changed: usize,
    pub malformed: usize,
    pub refused: usize,
    pub limited: usize,
    /// Objects recorded before a crash, deleted now.
    pub duplicates: usize,
}

/// How a key appears in logs: a masked address, or that it is a token (never the token).
pub fn shown(key: &str) -> String {
    if key.starts_with(TOKEN_KEY_PREFIX) {
        "a token form".into()
    } else {
        mask(key)
    }
}

/// An S3 error's text with the key taken out.
fn scrubbed(e: &anyhow::Error, key: &str) -> String {
    let encoded: String = key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{e:#}")
        .replace(key, &shown(key))
        .replace(&encoded, &shown(key))
        .replace(&encoded.to_lowercase(), &shown(key))
}

/// Test hook: `PHAROS_FAILPOINT=inbox-after-read` aborts after reading a request and before
/// recording it (the crash the issue asks to lose nothing in).
fn failpoint() {
    crate::notify::failpoint("inbox-after-read");
}

/// Requests to the inbox in flight at once (GETs, then DELETEs).
const PARALLEL: usize = 16;
/// Refused and malformed objects logged one by one per poll; the rest only in a summary.
const LOGGED_PER_POLL: usize = 10;

/// GET each of `keys` (at most [`PARALLEL`] at once), in their order: `None` for an object
/// that is gone or cannot be read (logged; the next poll tries again).
async fn fetch_all(
    inbox: &S3Target,
    keys: Vec<String>,
) -> Vec<(
    String,
    Option<(Option<Vec<u8>>, std::collections::HashMap<String, String>)>,
)> {
    let mut out: Vec<_> = keys.iter().map(|k| (k.clone(), None)).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < keys.len() || !running.is_empty() {
        while next < keys.len() && running.len() < PARALLEL {
            let (i, key, inbox) = (next, keys[next].clone(), inbox.clone());
            running.spawn(async move { (i, inbox.get_small(&key, MAX_OBJECT).await) });
            next += 1;
        }
        if let Some(Ok((i, got))) = running.join_next().await {
            match got {
                Ok(got) => out[i].1 = got,
                Err(e) => {
                    let key = &keys[i];
                    warn!(key = %shown(key), "cannot read an inbox object: {}", scrubbed(&e, key));
                }
            }
        }
    }
    out
}

/// DELETE `keys`, at most [`PARALLEL`] at once.
async fn delete_all(inbox: &S3Target, keys: Vec<String>) {
    let mut running = tokio::task::JoinSet::new();
    for key in keys {
        if running.len() >= PARALLEL {
            running.join_next().await;
        }
        let inbox = inbox.clone();
        running.spawn(async move { delete(&inbox, &key).await });
    }
    while running.join_next().await.is_some() {}
}

/// Whether a listed object can hold a request at all (judged from the listing alone, so junk
/// costs one DELETE: no GET, no transaction, no done mark).
fn plausible(o: &crate::publisher::s3::Listed) -> bool {
    let key = o.path.as_str();
    o.size as usize <= MAX_OBJECT
        && key.len() <= crate::subscriber::MAX_ADDRESS + 64
        && (key.starts_with(TOKEN_KEY_PREFIX) || key.contains('@'))
}

/// Handle up to `per_poll` inbox objects: token forms first (confirm, update, unsubscribe
/// must not wait behind a flood of sign-ups), then the rest from where the last poll stopped
/// (`cursor`), so keys that sort first cannot starve the others. Each request is recorded in
/// its own transaction, then the objects are deleted.
pub async fn poll(
    inbox: &S3Target,
    store: &mut Store,
    config: &Config,
    cursor: &mut Option<String>,
    now: DateTime<Utc>,
) -> Result<Report> {
    let Some(s) = config.subscriptions() else {
        return Ok(Report::default());
    };
    let components: Vec<&str> = config.components.iter().map(|c| c.id.as_str()).collect();
    let mut listed = inbox
        .list_some(TOKEN_KEY_PREFIX, None, s.per_poll.div_ceil(2))
        .await?;
    let room = s.per_poll - listed.len();
    let rest = inbox.list_some("", cursor.as_deref(), room).await?;
    // The end of the listing: the next poll starts from the beginning again.
    *cursor = if rest.len() < room {
        None
    } else {
        rest.last().map(|o| o.path.clone())
    };
    listed.extend(
        rest.into_iter()
            .filter(|o| !o.path.starts_with(TOKEN_KEY_PREFIX)),
    );
    let mut report = Report {
        listed: listed.len(),
        ..Report::default()
    };
    let (listed, junk): (Vec<_>, Vec<_>) = listed.into_iter().partition(plausible);
    report.malformed += junk.len();
    store.note_junk(junk.len())?;
    let mut logged = 0;
    let mut done: Vec<String> = junk.into_iter().map(|o| o.path).collect();
    let mut fresh = Vec::new();
    for o in &listed {
        if store.inbox_done(&o.path, &o.etag, o.modified_ms)? {
            report.duplicates += 1;
            done.push(o.path.clone());
        } else {
            fresh.push(o);
        }
    }
    let fetched = fetch_all(inbox, fresh.iter().map(|o| o.path.clone()).collect()).await;
    for (o, (key, got)) in fresh.iter().zip(fetched) {
        let Some(got) = got else {
            continue;
        };
        let request = match got {
            (Some(body), metadata) => parse_request(&key, &body, &metadata, &components),
            (None, _) => Err("object too large"),
        };
        failpoint();
        let outcome = store.record_request(
            (&key, &o.etag, o.modified_ms),
            request.as_ref().ok(),
            s,
            now,
        )?;
        let say = logged < LOGGED_PER_POLL;
        match (&request, outcome) {
            (Err(why), _) => {
                report.malformed += 1;
                if say {
                    logged += 1;
                    warn!(size = o.size, "inbox: a malformed object, deleted: {why}");
                }
            }
            (Ok(_), Outcome::Duplicate) => report.duplicates += 1,
            (Ok(_), Outcome::Refused) => {
                report.refused += 1;
                if say {
                    logged += 1;
                    info!(key = %shown(&key), "inbox: refused ({})", outcome.as_str());
                }
            }
            (Ok(_), Outcome::Limited) => {
                report.limited += 1;
                if say {
                    logged += 1;
                    warn!(key = %shown(&key), "inbox: dropped, over a rate limit");
                }
            }
            (Ok(_), _) => {
                report.changed += 1;
                info!(key = %shown(&key), "inbox: {}", outcome.as_str());
            }
        }
        done.push(key);
    }
    let quiet = (report.malformed + report.refused + report.limited).saturating_sub(logged);
    if quiet > 0 {
        warn!(
            malformed = report.malformed,
            refused = report.refused,
            limited = report.limited,
            "inbox: {quiet} more objects refused or malformed, deleted"
        );
    }
    delete_all(inbox, done).await;
    Ok(report)
}

async fn delete(inbox: &S3Target, key: &str) {
    if let Err(e) = inbox.delete(key).await {
        // Recorded already: the next poll finds its done mark and deletes it again.
        warn!(key = %shown(key), "cannot delete an inbox object: {}", scrubbed(&e, key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_logs_never_show_an_address_or_a_token() {
        let e = anyhow::anyhow!(
            "GET http://s3/inbox/jane%2Bx%40example.com failed for jane+x@example.com"
        );
        let text = scrubbed(&e, "jane+x@example.com");
        assert!(!text.contains("jane"), "{text}");
        assert!(text.contains("j***@example.com"));
        let token = format!("t/{}", crate::subscriber::new_token());
        assert_eq!(shown(&token), "a token form");
    }
}
