//! `cluster:` several regions check, one leader publishes, a standby takes over; coordinated
//! through a private cluster store (an S3 bucket and prefix) with conditional writes.

use super::env::Secret;
use super::subscriptions::Bucket;
use super::values::Dur;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Kept in the config but switched off: Pharos runs alone, as without the section.
    #[serde(default = "super::yes")]
    pub enabled: bool,
    /// The private bucket and prefix the roles share (never the public site's).
    pub store: Bucket,
    /// Signs every result and state object (HMAC-SHA256); the same on every machine.
    pub secret: Secret,
    /// Regions that must say "down" for a monitor to count as down (default: a majority of the
    /// regions live at the time).
    #[serde(default)]
    pub quorum: Option<u32>,
    /// How long a leader's lease lasts without renewal (renewed every third of it).
    #[serde(default = "default_lease")]
    pub lease: Dur,
}

pub const DEFAULT_LEASE: &str = "15s";
/// The shortest secret accepted (bytes).
pub const MIN_SECRET: usize = 16;

fn default_lease() -> Dur {
    super::dur(DEFAULT_LEASE)
}

pub(super) fn validate(k: &mut super::validate::Check, c: &Cluster, targets: &[super::Target]) {
    let e = "cluster";
    if c.secret.expose().len() < MIN_SECRET {
        k.add(
            "cluster.secret",
            e,
            format!(
                "the secret is {} bytes; use at least {MIN_SECRET} random ones (e.g. `openssl rand -hex 32`)",
                c.secret.expose().len()
            ),
        );
    }
    if c.lease.0.as_secs() < 3 {
        k.add(
            "cluster.lease",
            e,
            "a lease of less than 3s cannot be renewed in time over S3; the default is 15s",
        );
    }
    if c.quorum == Some(0) {
        k.add("cluster.quorum", e, "quorum must be at least 1 region");
    }
    if let Some(endpoint) = &c.store.endpoint {
        k.url("cluster.store.endpoint", e, endpoint, &["http", "https"]);
    }
    // The cluster store is private: never the public site's bucket and prefix.
    let prefix = |p: &Option<super::Text>| {
        p.as_deref()
            .map(|p| p.trim_matches('/').to_string())
            .unwrap_or_default()
    };
    let mine = prefix(&c.store.prefix);
    for t in targets {
        let theirs = prefix(&t.prefix);
        let nested = theirs.is_empty() || mine == theirs || mine.starts_with(&format!("{theirs}/"));
        if t.bucket == c.store.bucket && t.endpoint == c.store.endpoint && nested {
            k.add(
                "cluster.store.bucket",
                e,
                format!(
                    "the cluster store is inside what publish target {:?} makes public; use a private bucket (or a prefix outside the target's)",
                    t.name.as_str()
                ),
            );
        }
    }
}
