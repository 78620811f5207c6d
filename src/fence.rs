//! Fencing: whether this process may act as the leader right now (publish, notify, write
//! automatic incidents). Without a cluster it always may. In a cluster, the lease task moves
//! the deadline forward with each renewal ([`crate::cluster::lease::Lease::valid_until`]); every publish
//! batch and every notification asks [`allowed`] first, so a leader cut off from the store
//! stops acting before its lease could have passed to a standby.
//!
//! One per process (a process is one role), so the publishers, senders and the pipeline
//! need no handle passed down to them.

use std::sync::Mutex;
use std::time::Instant;

enum Gate {
    Alone,
    Until(Option<Instant>),
}

static GATE: Mutex<Gate> = Mutex::new(Gate::Alone);

/// Enter a cluster: nothing may act until [`hold_until`] says so.
pub fn join() {
    *GATE.lock().unwrap() = Gate::Until(None);
}

/// The lease allows acting until `until` (`None`: not the leader).
pub fn hold_until(until: Option<Instant>) {
    *GATE.lock().unwrap() = Gate::Until(until);
}

/// Whether this process may publish and notify now.
pub fn allowed() -> bool {
    match &*GATE.lock().unwrap() {
        Gate::Alone => true,
        Gate::Until(until) => until.is_some_and(|u| Instant::now() < u),
    }
}

/// Something a successor needs changed (a delivery, a publish, a confirmed transition): the
/// leader's mirror pushes within a second instead of at its next regular push.
static CHANGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn changed() {
    CHANGED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether something changed since the last call.
pub fn take_changed() -> bool {
    CHANGED.swap(false, std::sync::atomic::Ordering::Relaxed)
}
