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

/// `f` over `items` on every core, in order (contiguous chunks, one thread each).
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    })
}
