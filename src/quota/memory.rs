//! Counters kept in the process: the default when no Redis is configured.
//! Each counter belongs to one window (its key names the window's start)
//! and is dropped once the window has ended.

use std::sync::{Mutex, PoisonError};

/// Counters by key, each with the Unix second its window ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    counters: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// Keys are built from names in the spec, not from clients: a fast
    /// hash does (foldhash).
    values: foldhash::HashMap<String, (u64, u64)>,
    /// Size after the last sweep of ended windows.
    swept_at: usize,
}

impl MemoryStore {
    /// Adds `by` to `key` (a counter until `ends`) and returns the new value.
    pub fn add(&self, key: &str, by: u64, ends: u64, now: u64) -> u64 {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if counters.values.len() > 2 * counters.swept_at.max(512) {
            counters.values.retain(|_, (_, ends)| *ends > now);
            counters.swept_at = counters.values.len();
        }
        // The key is copied only the first time it is counted.
        if let Some(entry) = counters.values.get_mut(key) {
            entry.0 = entry.0.saturating_add(by);
            return entry.0;
        }
        counters.values.insert(key.to_owned(), (by, ends));
        by
    }

    /// Every counter whose window has not ended: `(key, value, ends)`.
    pub fn snapshot(&self, now: u64) -> Vec<(String, u64, u64)> {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let live = counters.values.iter().filter(|(_, (_, ends))| *ends > now);
        live.map(|(key, (value, ends))| (key.clone(), *value, *ends)).collect()
    }

    /// Runs `read` under one lock with a getter of values (0 when a key is
    /// absent or its window has ended).
    pub fn read<T>(&self, now: u64, read: impl FnOnce(&mut dyn FnMut(&str) -> u64) -> T) -> T {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut get =
            |key: &str| counters.values.get(key).filter(|(_, ends)| *ends > now).map_or(0, |(value, _)| *value);
        read(&mut get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_until_the_window_ends() {
        let store = MemoryStore::default();
        assert_eq!(store.add("a", 1, 60, 0), 1);
        assert_eq!(store.add("a", 2, 60, 1), 3);
        let values = |now| store.read(now, |get| [get("a"), get("b")]);
        assert_eq!(values(59), [3, 0]);
        assert_eq!(values(60), [0, 0]);
    }
}
