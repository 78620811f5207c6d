//! Subscriber emails: written from the mail outbox at send time (so an unsubscribe or a new
//! choice of components applies before the next email), sent over pooled SMTP connections at a
//! bounded rate, marked sent right after the server accepts each (a crash in between repeats
//! that one email, with the same Message-ID).

use crate::config::{Config, Subscriptions};
use crate::escape::xml_escape as html_escape;
use crate::notify::channels::{Smtp, message, smtp_transport};
use crate::store::{MailJob, MailKind, Store};
use crate::subscriber::mask;
use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use std::collections::HashSet;
use std::time::Duration;

/// One email, written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The manage page, for `List-Unsubscribe` (none before the address is confirmed).
    pub unsubscribe: Option<String>,
}

fn base(config: &Config) -> String {
    config
        .site
        .base_url
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

/// The address of a capability page.
pub fn page_url(config: &Config, token: &str) -> String {
    format!("{}/{}", base(config), super::pages::capability_path(token))
}

/// Write the email `job` stands for. `logo` is the site's logo path (from the site root).
pub fn write(config: &Config, job: &MailJob, logo: Option<&str>) -> Option<Written> {
    let site = config.site.title.as_str();
    let sub = &job.subscriber;
    let manage = page_url(config, &sub.manage_token);
    let (subject, lead, body, link, link_label) = match job.kind {
        MailKind::Confirm => {
            let token = sub.confirm_token.as_deref()?;
            let expires = sub
                .expires_at
                .map(|t| t.with_timezone(&config.tz()).format("%Y-%m-%d %H:%M %Z").to_string())
                .unwrap_or_default();
            (
                format!("[{site}] Confirm your subscription"),
                "Confirm your subscription".to_string(),
                format!(
                    "Someone, hopefully you, asked to get status updates from {site} at this address. Open the link below and press \"Confirm\" to start receiving them. The link works until {expires}.\n\nIf you did not ask, ignore this email: nothing more will be sent."
                ),
                page_url(config, token),
                "Confirm your subscription",
            )
        }
        MailKind::Welcome => (
            format!("[{site}] You are subscribed"),
            "You are subscribed".to_string(),
            format!(
                "You will get an email when {site} opens, updates or resolves an incident, and about scheduled maintenance. Choose components or unsubscribe on your subscription page."
            ),
            manage.clone(),
            "Manage your subscription",
        ),
        MailKind::Already => (
            format!("[{site}] You are already subscribed"),
            "You are already subscribed".to_string(),
            "Someone asked to subscribe this address, which is subscribed already. Nothing changed. Choose components or unsubscribe on your subscription page.".to_string(),
            manage.clone(),
            "Manage your subscription",
        ),
        MailKind::Event => {
            let event = job.event.as_ref()?;
            // The subscriber's choice now, not when the email was queued.
            if !sub.follows(&event.components()) {
                return None;
            }
            let m = message(config, event);
            (
                format!("[{site}] {}", m.title),
                m.title,
                m.text,
                m.url,
                "View on the status page",
            )
        }
        MailKind::Reminder => {
            let w = job.maintenance.as_ref()?;
            let components: Vec<&str> = w.components.iter().map(String::as_str).collect();
            if !sub.follows(&components) {
                return None;
            }
            let when = |t: DateTime<Utc>| {
                t.with_timezone(&config.tz())
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            };
            let mut text = format!("Scheduled maintenance {} – {}.", when(w.from), when(w.until));
            if !w.description.trim().is_empty() {
                text.push_str(&format!("\n{}", w.description.trim()));
            }
            (
                format!("[{site}] Reminder: {} starts {}", w.title, when(w.from)),
                format!("Reminder: {}", w.title),
                text,
                format!("{}/maintenance/{}/index.html", base(config), w.id),
                "View on the status page",
            )
        }
    };
    let subscribed = sub.confirmed_at.is_some();
    let footer_text = if subscribed {
        format!(
            "You get this because you subscribed to {site} status updates.\nUnsubscribe or choose components: {manage}"
        )
    } else {
        format!("You get this because this address was entered on the {site} status page.")
    };
    let text = format!("{lead}\n\n{body}\n\n{link_label}: {link}\n\n-- \n{footer_text}\n");
    let logo = logo.map_or_else(
        || format!("<strong>{}</strong>", html_escape(site)),
        |l| {
            format!(
                "<img src=\"{}/{}\" alt=\"{}\" height=\"32\">",
                html_escape(&base(config)),
                html_escape(l),
                html_escape(site)
            )
        },
    );
    let footer_html = if subscribed {
        format!(
            "You get this because you subscribed to {} status updates. <a href=\"{}\">Unsubscribe or choose components</a>.",
            html_escape(site),
            html_escape(&manage)
        )
    } else {
        format!(
            "You get this because this address was entered on the {} status page.",
            html_escape(site)
        )
    };
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;max-width:36em\">\
<p><a href=\"{home}/index.html\">{logo}</a></p><h2>{lead}</h2><p>{body}</p>\
<p><a href=\"{link}\">{label}</a></p><hr><p style=\"font-size:small;color:#555\">{footer}</p></body></html>",
        home = html_escape(&base(config)),
        lead = html_escape(&lead),
        body = html_escape(&body).replace('\n', "<br>"),
        link = html_escape(&link),
        label = html_escape(link_label),
        footer = footer_html,
    );
    Some(Written {
        subject,
        text,
        html,
        unsubscribe: subscribed.then_some(manage),
    })
}

/// The lettre message for `job`.
pub fn build(s: &Subscriptions, job: &MailJob, w: &Written) -> Result<lettre::Message, String> {
    let from: Mailbox = s
        .from
        .parse()
        .map_err(|e| format!("invalid from address: {e}"))?;
    // The address was validated when recorded; lettre checks it again (no CR/LF gets into a
    // header either way).
    let to: Mailbox = job
        .subscriber
        .address
        .parse()
        .map_err(|_| "the address does not parse".to_string())?;
    let mut mail = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(w.subject.clone())
        .message_id(Some(format!(
            "<{}@pharos>",
            crate::ids::delivery_id(&job.key)
        )))
        .multipart(MultiPart::alternative_plain_html(
            w.text.clone(),
            w.html.clone(),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))?;
    let headers = mail.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".into(),
    ));
    if let Some(u) = &w.unsubscribe {
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{u}>"),
        ));
    }
    Ok(mail)
}

/// The SMTP server's answer or error, without the recipient's address.
fn scrub(text: &str, address: &str) -> String {
    // ASCII lowercasing keeps byte offsets (Unicode lowercasing can change lengths).
    let lower = text.to_ascii_lowercase();
    let needle = address.to_ascii_lowercase();
    let mut out = String::new();
    let mut rest = 0;
    while let Some(i) = lower[rest..].find(&needle) {
        out.push_str(&text[rest..rest + i]);
        out.push_str(&mask(address));
        rest += i + needle.len();
    }
    out.push_str(&text[rest..]);
    out.chars().take(300).collect()
}

/// Attempts before an email that keeps failing is given up: with the backoff's 5 minutes at
/// most, about a day of an SMTP server that does not answer.
const MAX_ATTEMPTS: u32 = 300;

/// The subscriptions' SMTP server, as the transport takes it.
pub fn smtp(s: &Subscriptions) -> Smtp<'_> {
    Smtp {
        host: s.smtp_host.as_str(),
        port: s.smtp_port,
        tls: s.smtp_tls,
        username: s.smtp_username.as_ref(),
        password: s.smtp_password.as_ref(),
    }
}

type Sent = (MailJob, Result<(), (bool, String)>);

fn finish(
    store: &mut Store,
    server: &str,
    done: Result<Sent, tokio::task::JoinError>,
    running: &mut HashSet<i64>,
) {
    let Ok((job, result)) = done else {
        return;
    };
    running.remove(&job.id);
    let now = Utc::now();
    let to = mask(&job.subscriber.address);
    let r = match result {
        Ok(()) => {
            crate::notify::failpoint("mail-after-send");
            tracing::info!(mail = job.kind.as_str(), to = %to, delivery = %crate::ids::delivery_id(&job.key), "subscriber email sent");
            crate::fence::changed();
            store.mail_sent(job.id, now)
        }
        Err((permanent, e)) => {
            let e = scrub(&e, &job.subscriber.address);
            let attempts = job.attempts + 1;
            let give_up = permanent || attempts >= MAX_ATTEMPTS;
            let wait = crate::notify::backoff(attempts);
            let next = if give_up {
                now + chrono::Duration::days(36_500)
            } else {
                now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(1))
            };
            tracing::warn!(mail = job.kind.as_str(), to = %to, attempts, given_up = give_up, "subscriber email failed at {server} (subscriptions.smtp_host): {e}");
            store.mail_failed(job.id, &e, attempts, next)
        }
    };
    if let Err(e) = r {
        tracing::error!("subscriptions: mail outbox: {e:#}");
    }
}

/// The sender: turns new outbox events into emails, and sends what is due, at most `s.rate` per second over `s.connections` pooled
/// connections and `s.per_hour` per hour (what is over waits). Runs until aborted.
pub async fn run(config: std::sync::Arc<Config>) {
    let Some(s) = config.subscriptions().cloned() else {
        return;
    };
    let mut store = match Store::connect(&config.database_path()) {
        Ok(st) => st,
        Err(e) => return tracing::error!("subscriptions: cannot open the store: {e:#}"),
    };
    let logo = crate::build::read_logo(&config)
        .ok()
        .flatten()
        .map(|(ext, bytes)| {
            format!(
                "assets/{}",
                crate::render::hashed_name("logo", &ext, &bytes)
            )
        });
    let transport = match smtp_transport(&smtp(&s), Duration::from_secs(30), s.connections as u32) {
        Ok(t) => t,
        Err(e) => return tracing::error!("subscriptions: {e}"),
    };
    let server = format!("{}:{}", s.smtp_host.as_str(), smtp(&s).port());
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(s.rate.max(1))));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running = tokio::task::JoinSet::new();
    let mut in_flight: HashSet<i64> = HashSet::new();
    loop {
        let now = Utc::now();
        // New events become emails here, not in the worker: a long sync of capability pages
        // never holds up the news.
        match store.fan_out(now) {
            Ok(0) => {}
            Ok(n) => tracing::info!(emails = n, "subscriber emails queued"),
            Err(e) => tracing::warn!("subscriptions: cannot queue emails: {e:#}"),
        }
        let room = match store.mails_sent_since(now - chrono::Duration::hours(1)) {
            Ok(sent) => {
                let budget = (i64::from(s.per_hour) - sent - running.len() as i64).max(0) as usize;
                s.connections.saturating_sub(running.len()).min(budget)
            }
            Err(e) => {
                tracing::error!("subscriptions: mail outbox: {e:#}");
                0
            }
        };
        // Each email asks the lease first (fencing): a deposed leader sends nothing more.
        if room > 0 && crate::fence::allowed() {
            let jobs = store
                .due_mails(now, room + in_flight.len())
                .unwrap_or_else(|e| {
                    tracing::error!("subscriptions: mail outbox: {e:#}");
                    Vec::new()
                });
            let fresh: Vec<MailJob> = jobs
                .into_iter()
                .filter(|j| !in_flight.contains(&j.id))
                .take(room)
                .collect();
            for job in fresh {
                let Some(w) = write(&config, &job, logo.as_deref()) else {
                    // Moot (its event cannot be read, or the subscriber follows it no more).
                    let _ = store.mail_sent(job.id, Utc::now());
                    continue;
                };
                let mail = match build(&s, &job, &w) {
                    Ok(m) => m,
                    Err(e) => {
                        let far = now + chrono::Duration::days(36_500);
                        let _ = store.mail_failed(job.id, &e, job.attempts + 1, far);
                        continue;
                    }
                };
                pace.tick().await;
                if !crate::fence::allowed() {
                    break;
                }
                let t = transport.clone();
                in_flight.insert(job.id);
                running.spawn(async move {
                    use lettre::AsyncTransport;
                    let r = t.send(mail).await;
                    (
                        job,
                        r.map(|_| ()).map_err(|e| (e.is_permanent(), e.to_string())),
                    )
                });
            }
        }
        if running.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        // Wait for one to end, or a short while to start more as the outbox fills.
        if let Ok(Some(done)) =
            tokio::time::timeout(Duration::from_millis(200), running.join_next()).await
        {
            finish(&mut store, &server, done, &mut in_flight);
            while let Some(done) = running.try_join_next() {
                finish(&mut store, &server, done, &mut in_flight);
            }
        }
    }
}
