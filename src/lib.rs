//! Pharos: a status page that stays up when your stack is down.
//!
//! The pipeline (see README "How it works"): config + content/ + store -> snapshot -> render
//! (pure) -> output (publish/ written atomically, with a manifest).

pub mod admin;
pub mod build;
pub mod cli;
pub mod config;
pub mod content;
pub mod daemon;
pub mod layered;
pub mod model;
pub mod monitor;
pub mod notify;
pub mod output;
pub mod publisher;
pub mod render;
pub mod schedule;
pub mod serve;
pub mod snapshot;
pub mod store;
pub mod suggest;
pub mod theme;
pub mod time;
pub mod yamlpos;

/// Install rustls' ring crypto provider for the process (once; later calls do nothing).
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
