//! Several regions, one leader: coordination through a private cluster store (an S3 bucket and
//! prefix) with conditional writes, never a consensus protocol of our own.
//!
//! - [`envelope`]: every object the roles write is signed with `cluster.secret` (HMAC-SHA256); a
//!   planted or altered object is refused.
//! - [`remote`]: the store's operations, with `If-None-Match: *` to create and `If-Match` to
//!   replace.
//! - [`lease`]: who leads. The leader creates the lease object, renews it every third of
//!   `lease`; a standby takes over a lease it has seen unchanged for `lease` (by its own clock).

pub mod envelope;
pub mod judge;
pub mod lease;
pub mod mirror;
pub mod remote;
pub mod report;
