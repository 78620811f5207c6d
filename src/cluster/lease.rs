//! Who leads: one lease object in the cluster store.
//!
//! - Nobody holds it: create it with `If-None-Match: *`; whoever's create succeeds leads.
//! - The leader renews it every third of `lease` with `If-Match: <its ETag>`. A renewal that
//!   finds another ETag means someone took over: the leader steps down at once.
//! - A standby watches the object's ETag. Once it has seen the same ETag for `lease` by its own
//!   clock (no clock is compared across machines), the leader is gone: it replaces the object
//!   with `If-Match: <that ETag>`, and only one standby's replace can succeed.
//! - Fencing: the leader acts (publishes, notifies) only while less than two thirds of `lease`
//!   have passed since it *sent* its last successful renewal. A standby takes over no sooner
//!   than `lease` after it *saw* that renewal, so a third of `lease` separates the two (less the
//!   two machines' clock rate difference over one lease, which is tiny).
//! - A restarted leader does not know its ETag any more: it starts as a standby.

use super::remote::Remote;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub const PATH: &str = "lease.json";
pub const KIND: &str = "lease";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// Who holds it (`region/instance`).
    pub holder: String,
    /// Bumped by each takeover.
    pub term: u64,
    /// Bumped by each renewal (so every renewal has new bytes and a new ETag).
    pub renewals: u64,
}

/// What this process is after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Leader {
        term: u64,
    },
    /// `holder`: who holds the lease, as far as its (signed) object says.
    Standby {
        holder: Option<String>,
    },
}

struct Held {
    etag: String,
    body: Body,
    /// When the last successful write was sent.
    sent_at: Instant,
}

pub struct Lease {
    remote: std::sync::Arc<Remote>,
    me: String,
    lease: Duration,
    held: Option<Held>,
    /// The ETag a standby last saw, and since when (its own clock).
    seen: Option<(String, Instant)>,
}

impl Lease {
    pub fn new(remote: std::sync::Arc<Remote>, me: &str, lease: Duration) -> Lease {
        Lease {
            remote,
            me: me.to_string(),
            lease,
            held: None,
            seen: None,
        }
    }

    /// How often [`Lease::step`] should run.
    pub fn interval(&self) -> Duration {
        self.lease / 3
    }

    /// Whether this process may act as the leader at `now` (see the module docs).
    pub fn valid(&self, now: Instant) -> bool {
        self.valid_until().is_some_and(|u| now < u)
    }

    /// Until when this process may act as the leader, if it holds the lease.
    pub fn valid_until(&self) -> Option<Instant> {
        self.held.as_ref().map(|h| h.sent_at + self.lease * 2 / 3)
    }

    /// Give the lease up at once (deposed: another leader wrote the state).
    pub fn drop_lease(&mut self) {
        self.held = None;
        self.seen = None;
    }

    /// Renew (leader) or watch and maybe take over (standby). A store that cannot be reached
    /// is an `Err`; the leader's validity then runs out by itself.
    pub async fn step(&mut self) -> Result<Role> {
        if let Some(h) = &self.held {
            let body = Body {
                renewals: h.body.renewals + 1,
                ..h.body.clone()
            };
            let sent = Instant::now();
            return match self.remote.replace(PATH, KIND, &body, &h.etag).await? {
                Some(etag) => {
                    let term = body.term;
                    self.held = Some(Held {
                        etag,
                        body,
                        sent_at: sent,
                    });
                    Ok(Role::Leader { term })
                }
                None => {
                    tracing::warn!(
                        term = h.body.term,
                        "lost the lease: another instance took over; standing by"
                    );
                    self.held = None;
                    self.seen = None;
                    Ok(Role::Standby { holder: None })
                }
            };
        }
        let sent = Instant::now();
        let Some(read) = self.remote.read::<Body>(PATH, KIND).await? else {
            let body = Body {
                holder: self.me.clone(),
                term: 1,
                renewals: 0,
            };
            return Ok(match self.remote.create(PATH, KIND, &body).await? {
                Some(etag) => {
                    self.held = Some(Held {
                        etag,
                        body,
                        sent_at: sent,
                    });
                    Role::Leader { term: 1 }
                }
                None => Role::Standby { holder: None },
            });
        };
        let (holder, term) = match &read.body {
            Ok(b) => (Some(b.holder.clone()), b.term),
            Err(why) => {
                tracing::error!("the cluster store's lease object is refused: {why}");
                (None, 0)
            }
        };
        let now = Instant::now();
        match &self.seen {
            Some((etag, since)) if *etag == read.etag => {
                if now.duration_since(*since) < self.lease {
                    return Ok(Role::Standby { holder });
                }
            }
            _ => {
                self.seen = Some((read.etag.clone(), now));
                return Ok(Role::Standby { holder });
            }
        }
        // Unchanged for a whole lease: the holder is gone. Take over, if nobody else did.
        let body = Body {
            holder: self.me.clone(),
            term: term + 1,
            renewals: 0,
        };
        let sent = Instant::now();
        match self.remote.replace(PATH, KIND, &body, &read.etag).await? {
            Some(etag) => {
                tracing::warn!(
                    previous = holder.as_deref().unwrap_or("unknown"),
                    term = body.term,
                    "took over the lease: the leader stopped renewing it"
                );
                let term = body.term;
                self.held = Some(Held {
                    etag,
                    body,
                    sent_at: sent,
                });
                self.seen = None;
                Ok(Role::Leader { term })
            }
            None => {
                self.seen = None;
                Ok(Role::Standby { holder })
            }
        }
    }
}
