//! Pharos: a status page that stays up when your stack is down.
//!
//! The pipeline (see README "How it works"): config + content/ + store -> snapshot -> render
//! (pure) -> output (publish/ written atomically, with a manifest).

pub mod admin;
pub mod auto;
pub mod build;
pub mod cli;
pub mod cluster;
pub mod condition;
pub mod config;
pub mod content;
pub mod daemon;
pub mod diag;
pub mod escape;
pub mod event;
pub mod fence;
pub mod ids;
pub mod layered;
pub mod model;
pub mod monitor;
pub mod notify;
pub mod output;
pub mod postform;
pub mod publisher;
pub mod redact;
pub mod render;
pub mod schedule;
pub mod serve;
pub mod snapshot;
pub mod store;
pub mod subscribe;
pub mod subscriber;
pub mod suggest;
pub mod theme;
pub mod time;
pub mod yamlcheck;
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

/// `f` over `items` on every core, results in order. Workers take small batches as they go,
/// so a few expensive items (a month page among incident pages) do not leave a core idle.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const BATCH: usize = 16;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 2 * BATCH {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(BATCH, Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + BATCH).min(items.len());
            done.push((start, items[start..end].iter().map(&f).collect::<Vec<R>>()));
        }
    };
    let mut batches: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    });
    batches.sort_unstable_by_key(|(start, _)| *start);
    batches.into_iter().flat_map(|(_, rs)| rs).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn par_map_keeps_order_with_uneven_work() {
        let items: Vec<u64> = (0..1000).collect();
        let out = super::par_map(&items, |&n| {
            // Every hundredth item is slow, as a month page is among incident pages.
            if n % 100 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            n * 2
        });
        assert_eq!(out, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(super::par_map(&items[..3], |n| *n), vec![0, 1, 2]);
    }
}
