//! `subscriptions:` visitors subscribe to updates by email through a private inbox bucket (see
//! [`crate::subscribe`]).

use super::env::{Secret, Text};
use super::values::Dur;
use super::{ChecksumMode, SmtpTls, Target, TargetKind};
use serde::Deserialize;

/// A bucket the daemon reads and writes (the subscription inbox; the cluster store): the
/// fields of an S3 publish target, without its name and kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub bucket: Text,
    #[serde(default)]
    pub prefix: Option<Text>,
    #[serde(default)]
    pub region: Option<Text>,
    #[serde(default)]
    pub endpoint: Option<Text>,
    #[serde(default)]
    pub path_style: Option<bool>,
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    #[serde(default)]
    pub checksum: Option<ChecksumMode>,
    #[serde(default = "super::default_connect_timeout")]
    pub connect_timeout: Dur,
    #[serde(default = "super::default_attempt_timeout")]
    pub attempt_timeout: Dur,
    #[serde(default = "super::default_operation_timeout")]
    pub operation_timeout: Dur,
}

impl Bucket {
    /// As a publish target named `name` (to open it with the publisher's S3 client).
    pub fn target(&self, name: &str) -> Target {
        Target {
            name: Text::from(name),
            kind: TargetKind::S3,
            enabled: true,
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: self.path_style,
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            checksum: self.checksum,
            connect_timeout: self.connect_timeout,
            attempt_timeout: self.attempt_timeout,
            operation_timeout: self.operation_timeout,
            asset_grace: super::default_asset_grace(),
            concurrency: 8,
        }
    }

    /// The address browsers post forms to: the endpoint with the bucket in the path when one is
    /// configured, else the bucket's virtual-hosted AWS address.
    pub fn post_url(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{}/{}/", e.trim_end_matches('/'), self.bucket.as_str()),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/",
                self.bucket.as_str(),
                self.region.as_deref().unwrap_or("us-east-1")
            ),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriptions {
    /// Kept in the config but switched off: no form, no polling, no email.
    #[serde(default = "super::yes")]
    pub enabled: bool,
    /// The private bucket the forms post to; it holds nothing else.
    pub inbox: Bucket,
    /// Where browsers post the forms, when not the inbox's own address (a custom domain).
    #[serde(default)]
    pub post_url: Option<Text>,
    /// The key that signs the forms' POST policies: it may only `PutObject` into the inbox.
    pub post_access_key_id: Secret,
    pub post_secret_access_key: Secret,
    /// How often the daemon reads the inbox.
    #[serde(default = "default_poll")]
    pub poll: Dur,
    /// Subscribers hear of a maintenance window this long before it starts.
    #[serde(default = "default_reminder")]
    pub reminder: Dur,
    /// An unconfirmed request is forgotten after this long.
    #[serde(default = "default_expire")]
    pub expire: Dur,
    pub smtp_host: Text,
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub smtp_tls: Option<SmtpTls>,
    #[serde(default)]
    pub smtp_username: Option<Secret>,
    #[serde(default)]
    pub smtp_password: Option<Secret>,
    pub from: Text,
    /// SMTP connections kept open and used at once.
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// Emails per second, at most.
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Emails per hour overall, at most (what is over waits for the next hour).
    #[serde(default = "default_per_hour")]
    pub per_hour: u32,
    /// Confirmation emails to one address per day, at most.
    #[serde(default = "default_confirmations_per_day")]
    pub confirmations_per_day: u32,
    /// Confirmation emails per hour overall, at most (requests over it are dropped and counted).
    #[serde(default = "default_confirmations_per_hour")]
    pub confirmations_per_hour: u32,
    /// Inbox objects handled per poll, at most (the rest wait for the next poll).
    #[serde(default = "default_per_poll")]
    pub per_poll: usize,
}

pub const DEFAULT_POLL: &str = "10s";
pub const DEFAULT_REMINDER: &str = "24h";
pub const DEFAULT_EXPIRE: &str = "48h";

fn default_poll() -> Dur {
    super::dur(DEFAULT_POLL)
}
fn default_reminder() -> Dur {
    super::dur(DEFAULT_REMINDER)
}
fn default_expire() -> Dur {
    super::dur(DEFAULT_EXPIRE)
}
fn default_connections() -> usize {
    4
}
fn default_rate() -> u32 {
    20
}
fn default_per_hour() -> u32 {
    10_000
}
fn default_confirmations_per_day() -> u32 {
    3
}
fn default_confirmations_per_hour() -> u32 {
    200
}
fn default_per_poll() -> usize {
    500
}

impl Subscriptions {
    /// Where the forms post.
    pub fn post_url(&self) -> String {
        match &self.post_url {
            Some(u) => u.to_string(),
            None => self.inbox.post_url(),
        }
    }

    /// The region the POST policy is signed for.
    pub fn region(&self) -> &str {
        self.inbox.region.as_deref().unwrap_or("us-east-1")
    }
}

pub(super) fn validate(k: &mut super::validate::Check, s: &Subscriptions) {
    let e = "subscriptions";
    if s.inbox
        .prefix
        .as_deref()
        .is_some_and(|p| !p.trim_matches('/').is_empty())
    {
        k.add(
            "subscriptions.inbox.prefix",
            e,
            "the inbox takes no prefix: it is a bucket of its own (a form without JavaScript cannot put a prefix before the visitor's address); remove `prefix`",
        );
    }
    if let Some(endpoint) = &s.inbox.endpoint {
        k.url(
            "subscriptions.inbox.endpoint",
            e,
            endpoint,
            &["http", "https"],
        );
    }
    if let Some(u) = &s.post_url {
        k.url("subscriptions.post_url", e, u, &["http", "https"]);
    }
    if crate::subscriber::normalize_address(&s.from).is_err() {
        k.add(
            "subscriptions.from",
            e,
            format!("{:?} is not an email address", s.from.as_str()),
        );
    }
    let secs = |d: &Dur| d.0.as_secs();
    if secs(&s.poll) < 1 {
        k.add(
            "subscriptions.poll",
            e,
            "poll at most once a second (e.g. 10s)",
        );
    }
    if secs(&s.expire) < 3600 {
        k.add(
            "subscriptions.expire",
            e,
            "give visitors at least 1h to confirm (default 48h)",
        );
    }
    for (field, ok) in [
        ("connections", (1..=64).contains(&s.connections)),
        ("rate", s.rate >= 1),
        ("per_hour", s.per_hour >= 1),
        ("confirmations_per_day", s.confirmations_per_day >= 1),
        ("confirmations_per_hour", s.confirmations_per_hour >= 1),
        ("per_poll", (1..=10_000).contains(&s.per_poll)),
    ] {
        if !ok {
            k.add(
                &format!("subscriptions.{field}"),
                e,
                match field {
                    "connections" => "use 1 to 64 SMTP connections",
                    "per_poll" => "handle 1 to 10000 inbox objects per poll",
                    _ => "must be at least 1",
                },
            );
        }
    }
}
