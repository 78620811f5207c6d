//! Email subscriptions through the bucket: visitors never reach the daemon, even to write.
//!
//! - The public `subscribe/` page holds a plain HTML form that posts straight to a private
//!   **inbox bucket** (a browser POST upload whose policy the daemon signs with a key that may
//!   only put there: [`crate::postform`]). The visitor's address is the object key, so concurrent
//!   visitors never overwrite each other.
//! - The daemon polls the inbox ([`inbox`]): LIST, GET, record the request in SQLite, DELETE.
//!   Requests posted while it is down wait in the bucket.
//! - Confirm and manage pages are static **capability pages** at unguessable URLs
//!   (`subscribe/t/<token>/`, [`pages`]), holding forms that post the token back to the inbox.
//!   They are written to each target beside the site, never in a manifest.
//! - Emails go through a durable outbox ([`mail`]) over pooled SMTP at a bounded rate.

pub mod inbox;
pub mod mail;
pub mod pages;
pub mod worker;
