//! A map by site path in two layers, so that a change costs what it changes, not what the
//! history weighs.
//!
//! `history` holds the incident and month pages (most of a long site, and unchanged by a
//! component's change of state); it is shared by `Arc` between renders while the content it was
//! rendered from is unchanged. `live` holds everything else (a few hundred files) and is made
//! anew at every render. A path is in one layer only. Comparing two maps whose history is the
//! same `Arc` only looks at their live layers.

use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layered<V> {
    pub live: BTreeMap<String, V>,
    pub history: Arc<BTreeMap<String, V>>,
}

impl<V> Default for Layered<V> {
    fn default() -> Self {
        Layered {
            live: BTreeMap::new(),
            history: Arc::new(BTreeMap::new()),
        }
    }
}

impl<V> Layered<V> {
    pub fn get(&self, path: &str) -> Option<&V> {
        self.live.get(path).or_else(|| self.history.get(path))
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    pub fn len(&self) -> usize {
        self.live.len() + self.history.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry: the live layer, then the history layer (each sorted by path).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.live.iter().chain(self.history.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Whether both maps share one history layer (then it holds the same entries).
    pub fn same_history<W>(&self, other: &Layered<W>) -> bool {
        std::ptr::eq(
            Arc::as_ptr(&self.history).cast::<()>(),
            Arc::as_ptr(&other.history).cast::<()>(),
        )
    }

    /// The entries of `self` that are new or differ from `old` by `same`, in path order per
    /// layer. The history layer is skipped when both share it.
    pub fn changed_from<'a, W>(
        &'a self,
        old: &Layered<W>,
        same: impl Fn(&V, &W) -> bool,
    ) -> Vec<(&'a String, &'a V)> {
        let differs = |(path, v): &(&String, &V)| !old.get(path).is_some_and(|w| same(v, w));
        let mut out: Vec<(&String, &V)> = self.live.iter().filter(differs).collect();
        if !self.same_history(old) {
            out.extend(self.history.iter().filter(differs));
        }
        out
    }

    /// The paths of `old` that `self` no longer has.
    pub fn removed_from<'a, W>(&self, old: &'a Layered<W>) -> Vec<&'a String> {
        let mut out: Vec<&String> = old.live.keys().filter(|p| !self.contains_key(p)).collect();
        if !self.same_history(old) {
            out.extend(old.history.keys().filter(|p| !self.contains_key(p)));
        }
        out
    }

    /// The same layers with other values: `f` maps each live entry; `history` makes the history
    /// layer from this one's (so a caller can return one it made before for the same layer).
    pub fn map_layers<W>(
        &self,
        f: impl Fn(&String, &V) -> W,
        history: impl FnOnce(&Arc<BTreeMap<String, V>>) -> Arc<BTreeMap<String, W>>,
    ) -> Layered<W> {
        Layered {
            live: self
                .live
                .iter()
                .map(|(k, v)| (k.clone(), f(k, v)))
                .collect(),
            history: history(&self.history),
        }
    }
}

impl<V> std::ops::Index<&str> for Layered<V> {
    type Output = V;

    /// Panics when `path` is in neither layer.
    fn index(&self, path: &str) -> &V {
        self.get(path)
            .unwrap_or_else(|| panic!("no entry for {path}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layered(live: &[(&str, u8)], history: &Arc<BTreeMap<String, u8>>) -> Layered<u8> {
        Layered {
            live: live.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            history: history.clone(),
        }
    }

    #[test]
    fn a_shared_history_is_not_compared_again() {
        let h: Arc<BTreeMap<String, u8>> = Arc::new([("incidents/a".to_string(), 1)].into());
        let old = layered(&[("index.html", 1), ("gone.json", 1)], &h);
        let new = layered(&[("index.html", 2), ("new.json", 1)], &h);
        let changed: Vec<&str> = new
            .changed_from(&old, |a, b| a == b)
            .into_iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(changed, ["index.html", "new.json"]);
        assert_eq!(new.removed_from(&old), ["gone.json"]);
        assert_eq!(new.get("incidents/a"), Some(&1));
        assert_eq!(new.len(), 3);

        // Another history (even with equal entries) is compared entry by entry.
        let h2: Arc<BTreeMap<String, u8>> = Arc::new(
            [
                ("incidents/a".to_string(), 1),
                ("incidents/b".to_string(), 1),
            ]
            .into(),
        );
        let newer = layered(&[("index.html", 2), ("new.json", 1)], &h2);
        let changed: Vec<&str> = newer
            .changed_from(&new, |a, b| a == b)
            .into_iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(changed, ["incidents/b"]);
        assert_eq!(new.removed_from(&newer), ["incidents/b"]);
    }
}
