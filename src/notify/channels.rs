//! What each kind of channel sends, and sending it.
//!
//! Every message says what changed, to what, when, and links to the page. Errors never carry a
//! channel's address or credentials (reqwest errors are stripped of their URL).

use crate::config::{ChannelKind, Config, Notification, SmtpTls};
use crate::event::Event;
use crate::ids::delivery_id;
use crate::model::ComponentStatus;
use crate::model::EventKind;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// The webhook payload's version (the `version` field); bumped on incompatible changes.
pub const PAYLOAD_VERSION: u32 = 1;

/// A person-readable form of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// One line: "API: Major outage", "Incident resolved: Database slow".
    pub title: String,
    /// A few lines of plain text.
    pub text: String,
    /// The page that shows it.
    pub url: String,
    /// Red, orange, yellow, blue or green.
    pub colour: u32,
}

fn component_name(config: &Config, id: &str) -> String {
    config
        .components
        .iter()
        .find(|c| c.id.as_str() == id)
        .map(|c| c.name.to_string())
        .unwrap_or_else(|| id.to_string())
}

/// "\nAffects: A, B", or nothing for no components.
fn affects(names: impl Iterator<Item = String>) -> String {
    let names: Vec<String> = names.collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("\nAffects: {}", names.join(", "))
    }
}

fn colour(s: ComponentStatus) -> u32 {
    match s {
        ComponentStatus::Operational => 0x1f883d,
        ComponentStatus::UnderMaintenance => 0x0969da,
        ComponentStatus::DegradedPerformance => 0xd4a72c,
        ComponentStatus::PartialOutage => 0xfb8f44,
        ComponentStatus::MajorOutage => 0xcf222e,
    }
}

fn when(config: &Config, t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&config.tz())
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

pub fn message(config: &Config, e: &Event) -> Message {
    let base = config.site.base_url.as_str().trim_end_matches('/');
    match e {
        Event::Component { at, change: c } => {
            let name = component_name(config, &c.id);
            Message {
                title: format!("{name}: {}", c.new_status.label()),
                text: format!(
                    "{name} changed from {} to {} at {}.",
                    c.old_status.label(),
                    c.new_status.label(),
                    when(config, *at)
                ),
                url: format!("{base}/components/{}/index.html", c.id),
                colour: colour(c.new_status),
            }
        }
        Event::Incident {
            kind,
            at,
            incident: i,
        } => {
            let what = match kind {
                EventKind::IncidentOpened => "New incident",
                EventKind::IncidentResolved => "Resolved",
                _ => "Update",
            };
            let mut text = format!(
                "{} · {}\n{}",
                i.status.label(),
                when(config, *at),
                i.update.trim()
            );
            text.push_str(&affects(i.components.iter().map(|(c, s)| {
                format!("{} ({})", component_name(config, c), s.label())
            })));
            let worst = i.components.iter().map(|(_, s)| *s).max();
            Message {
                title: format!("{what}: {}", i.title),
                text,
                url: format!("{base}/incidents/{}/index.html", i.id),
                colour: if *kind == EventKind::IncidentResolved {
                    colour(ComponentStatus::Operational)
                } else {
                    colour(worst.unwrap_or(ComponentStatus::DegradedPerformance))
                },
            }
        }
        Event::Maintenance {
            kind,
            maintenance: m,
            ..
        } => {
            let what = match kind {
                EventKind::MaintenanceScheduled => "Maintenance scheduled",
                EventKind::MaintenanceStarted => "Maintenance started",
                _ => "Maintenance completed",
            };
            let mut text = format!("{} – {}", when(config, m.from), when(config, m.until));
            text.push_str(&affects(
                m.components.iter().map(|c| component_name(config, c)),
            ));
            if !m.description.trim().is_empty() {
                text.push_str(&format!("\n{}", m.description.trim()));
            }
            Message {
                title: format!("{what}: {}", m.title),
                text,
                url: format!("{base}/maintenance/{}/index.html", m.id),
                colour: if *kind == EventKind::MaintenanceCompleted {
                    colour(ComponentStatus::Operational)
                } else {
                    colour(ComponentStatus::UnderMaintenance)
                },
            }
        }
        Event::Content { problem: c, .. } if c.file == crate::event::CLUSTER => Message {
            title: "Monitoring problem: a region does not report".to_string(),
            text: format!(
                "{}\nIts checks do not count towards the quorum until it reports again.",
                c.problems.join("\n")
            ),
            url: format!("{base}/index.html"),
            colour: colour(ComponentStatus::DegradedPerformance),
        },
        Event::Content { problem: c, .. } => Message {
            title: format!("Content problem: {}", c.file),
            text: format!(
                "{}\nThe status page keeps the last good version of this file until it is fixed; everything else is published.",
                c.problems.join("\n")
            ),
            url: format!("{base}/index.html"),
            colour: colour(ComponentStatus::PartialOutage),
        },
    }
}

/// The documented webhook payload (README, "Notifications").
pub fn webhook_payload(config: &Config, id: &str, e: &Event) -> Value {
    let m = message(config, e);
    let e = crate::event::Wire::from(e.clone());
    let base = config.site.base_url.as_str().trim_end_matches('/');
    json!({
        "version": PAYLOAD_VERSION,
        "id": id,
        "event": e.kind.as_str(),
        "at": crate::time::iso(e.at),
        "page": {"title": config.site.title.as_str(), "url": format!("{base}/")},
        "title": m.title,
        "text": m.text,
        "url": m.url,
        "component": e.component.as_ref().map(|c| json!({
            "id": c.id,
            "name": component_name(config, &c.id),
            "old_status": c.old_status,
            "new_status": c.new_status,
        })),
        "incident": e.incident.as_ref().map(|i| json!({
            "id": i.id,
            "title": i.title,
            "status": i.status,
            "impact": i.impact,
            "update": i.update,
            "components": i.components.iter().map(|(c, s)| json!({"id": c, "name": component_name(config, c), "status": s})).collect::<Vec<_>>(),
        })),
        "maintenance": e.maintenance.as_ref().map(|mt| json!({
            "id": mt.id,
            "title": mt.title,
            "from": crate::time::iso(mt.from),
            "until": crate::time::iso(mt.until),
            "components": mt.components,
            "description": mt.description,
        })),
        "content": e.content.as_ref().map(|c| json!({"file": c.file, "problems": c.problems})),
    })
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", crate::ids::hex(&mac.finalize().into_bytes()))
}

fn html_escape(s: &str) -> String {
    crate::escape::xml_escape(s)
}

/// The body a chat channel posts.
pub fn chat_payload(kind: ChannelKind, ch: &Notification, m: &Message) -> Value {
    match kind {
        ChannelKind::Slack => json!({
            "text": format!("{}: {}", m.title, m.url),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": m.title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&m.text)}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{}|View on the status page>", m.url)}]},
            ],
        }),
        ChannelKind::Mattermost => json!({
            "text": format!("#### {}\n{}\n[View on the status page]({})", m.title, m.text, m.url),
        }),
        ChannelKind::Discord => json!({
            "embeds": [{
                "title": m.title,
                "description": m.text,
                "url": m.url,
                "color": m.colour,
            }],
            "allowed_mentions": {"parse": []},
        }),
        ChannelKind::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "size": "Large", "weight": "Bolder", "text": m.title, "wrap": true},
                        {"type": "TextBlock", "text": m.text, "wrap": true},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "View on the status page", "url": m.url}],
                },
            }],
        }),
        ChannelKind::GoogleChat => json!({
            "text": format!("*{}*\n{}\n<{}|View on the status page>", m.title, m.text, m.url),
        }),
        ChannelKind::Telegram => json!({
            "chat_id": ch.chat_id.as_ref().map(|c| c.as_str()).unwrap_or_default(),
            "text": format!("<b>{}</b>\n{}\n<a href=\"{}\">View on the status page</a>", html_escape(&m.title), html_escape(&m.text), html_escape(&m.url)),
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        }),
        ChannelKind::Webhook | ChannelKind::Email => Value::Null,
    }
}

/// Slack's mrkdwn treats `<`, `>` and `&` as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Deliver one event to one channel. `Ok` carries the receiver's answer ("HTTP 200: ok",
/// "SMTP 250: queued"); `Err` says what failed. Either way the channel's secrets are taken out:
/// a receiver may echo the URL or token it was sent.
pub async fn send(
    config: &Config,
    ch: &Notification,
    key: &str,
    e: &Event,
    timeout: Duration,
) -> Result<String, String> {
    let r = redactor(ch);
    match send_raw(config, ch, key, e, timeout).await {
        Ok(answer) => Ok(r.apply(&answer)),
        Err(error) => Err(r.apply(&error)),
    }
}

/// The secrets of a channel: its address, signing secret, header values, tokens, SMTP login and
/// recipients.
pub fn redactor(ch: &Notification) -> crate::redact::Redactor {
    let secrets = [
        &ch.url,
        &ch.secret,
        &ch.bot_token,
        &ch.smtp_username,
        &ch.smtp_password,
    ];
    crate::redact::Redactor::new(
        secrets
            .into_iter()
            .flatten()
            .map(|s| s.expose())
            .chain(ch.headers.values().map(|v| v.expose()))
            .chain(ch.to.iter().map(|t| t.as_str())),
    )
}

async fn send_raw(
    config: &Config,
    ch: &Notification,
    key: &str,
    e: &Event,
    timeout: Duration,
) -> Result<String, String> {
    let id = delivery_id(key);
    match ch.kind {
        ChannelKind::Email => send_email(config, ch, &id, e, timeout).await,
        kind => {
            let (url, body) = match kind {
                ChannelKind::Webhook => (
                    ch.url.as_ref().map(|u| u.expose().to_string()),
                    webhook_payload(config, &id, e),
                ),
                ChannelKind::Telegram => (
                    ch.bot_token.as_ref().map(|t| {
                        format!(
                            "{}/bot{}/sendMessage",
                            ch.api_url
                                .as_ref()
                                .map_or("https://api.telegram.org", |u| u.as_str())
                                .trim_end_matches('/'),
                            t.expose()
                        )
                    }),
                    chat_payload(kind, ch, &message(config, e)),
                ),
                _ => (
                    ch.url.as_ref().map(|u| u.expose().to_string()),
                    chat_payload(kind, ch, &message(config, e)),
                ),
            };
            let url = url.ok_or("the channel has no address")?;
            post(ch, &url, &id, e, &body, timeout).await
        }
    }
}

async fn post(
    ch: &Notification,
    url: &str,
    id: &str,
    e: &Event,
    body: &Value,
    timeout: Duration,
) -> Result<String, String> {
    let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .user_agent(concat!(
            "Pharos/",
            env!("CARGO_PKG_VERSION"),
            " (notifications)"
        ))
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build HTTP client: {}", e.without_url()))?;
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("idempotency-key", id)
        .header("x-pharos-event", e.kind().as_str())
        .header("x-pharos-delivery", id);
    if ch.kind == ChannelKind::Webhook {
        if let Some(secret) = &ch.secret {
            let t = chrono::Utc::now().timestamp();
            req = req.header("x-pharos-signature", signature(secret.expose(), t, &body));
        }
        for (name, value) in &ch.headers {
            req = req.header(name.as_str(), value.expose());
        }
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| crate::error_chain(&e.without_url()))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.trim().chars().take(200).collect();
    let answer = format!("HTTP {}: {}", status.as_u16(), text);
    if status.is_success() {
        Ok(answer)
    } else {
        Err(answer)
    }
}

async fn send_email(
    config: &Config,
    ch: &Notification,
    id: &str,
    e: &Event,
    timeout: Duration,
) -> Result<String, String> {
    use lettre::AsyncTransport;
    use lettre::message::{Mailbox, MultiPart};

    let m = message(config, e);
    let host = ch.smtp_host.as_ref().ok_or("no smtp_host")?.as_str();
    let from: Mailbox = ch
        .from
        .as_ref()
        .ok_or("no from address")?
        .parse()
        .map_err(|e| format!("invalid from address: {e}"))?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(format!("[{}] {}", config.site.title.as_str(), m.title))
        .message_id(Some(format!("<{id}@pharos>")));
    for to in &ch.to {
        builder = builder.to(to
            .parse()
            .map_err(|e| format!("invalid address {:?}: {e}", to.as_str()))?);
    }
    let plain = format!("{}\n\n{}\n\n{}\n", m.title, m.text, m.url);
    let html = format!(
        "<!doctype html><html><body><h2>{}</h2><p>{}</p><p><a href=\"{}\">View on the status page</a></p></body></html>",
        html_escape(&m.title),
        html_escape(&m.text).replace('\n', "<br>"),
        html_escape(&m.url)
    );
    let mail = builder
        .multipart(MultiPart::alternative_plain_html(plain, html))
        .map_err(|e| format!("cannot build the message: {e}"))?;
    let transport = smtp_transport(
        &Smtp {
            host,
            port: ch.smtp_port,
            tls: ch.smtp_tls,
            username: ch.smtp_username.as_ref(),
            password: ch.smtp_password.as_ref(),
        },
        timeout,
        1,
    )?;
    let resp = transport
        .send(mail)
        .await
        .map_err(|e| format!("SMTP: {e}"))?;
    Ok(format!(
        "SMTP {}: {}",
        resp.code(),
        resp.message().collect::<Vec<_>>().join(" ")
    ))
}

/// Where and how to reach an SMTP server (an email channel's or the subscriptions').
pub struct Smtp<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub tls: Option<SmtpTls>,
    pub username: Option<&'a crate::config::Secret>,
    pub password: Option<&'a crate::config::Secret>,
}

impl Smtp<'_> {
    /// The port: as configured, else 587 for STARTTLS (the default), 465 for TLS, 25 without.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(match self.tls.unwrap_or(SmtpTls::Starttls) {
                SmtpTls::Tls => 465,
                SmtpTls::Starttls => 587,
                SmtpTls::None => 25,
            })
    }
}

/// An SMTP transport keeping up to `pool` connections open (STARTTLS on 587 by default).
pub fn smtp_transport(
    s: &Smtp,
    timeout: Duration,
    pool: u32,
) -> Result<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, String> {
    use lettre::transport::smtp::PoolConfig;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    let tls = s.tls.unwrap_or(SmtpTls::Starttls);
    let port = s.port();
    let transport = match tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(s.host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(s.host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            s.host,
        )),
    }
    .map_err(|e| format!("SMTP setup: {e}"))?
    .port(port)
    .timeout(Some(timeout))
    .pool_config(PoolConfig::new().max_size(pool.max(1)));
    Ok(match (s.username, s.password) {
        (Some(u), Some(p)) => transport.credentials(Credentials::new(
            u.expose().to_string(),
            p.expose().to_string(),
        )),
        _ => transport,
    }
    .build())
}
