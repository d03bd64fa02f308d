//! [`Counters`]: where the windows' counts live (the process's memory or
//! Redis), the usage totals, and saving in-process counts to `[state]
//! file`. The one place that reads and writes counts: admission
//! ([`super::Meter`]) and settlement ([`super::Ticket`]) both come here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::saved;
use super::totals::Totals;
use super::window::Window;
use crate::policy::consumer::{Consumer, Counted, Limit};

/// Failures of the counters' store (Redis), on the request path and in
/// settlement.
pub const STATE_FAILURES: &str = "relay_state_failures_total";

/// Counts by key, and the totals.
#[derive(Debug, Default)]
pub struct Counters {
    store: Store,
    memory: MemoryStore,
    /// Usage since the relay started, by consumer, model and route.
    pub totals: Totals,
    /// When a Redis failure was last logged (Unix seconds).
    failure_logged: AtomicU64,
    /// `[state] file`: where in-process counts are saved.
    saved_to: Option<PathBuf>,
    /// Whether in-process counts changed since they were last saved.
    changed: AtomicBool,
}

/// Where the windows' counts live.
#[derive(Debug, Default)]
enum Store {
    #[default]
    Memory,
    Redis(RedisStore),
}

impl Counters {
    /// Counts in Redis at `redis`, or in process, saved to `file` if given
    /// (read from it now).
    pub fn new(redis: Option<&str>, file: Option<PathBuf>) -> Result<Counters, String> {
        let store = match redis {
            Some(url) => Store::Redis(RedisStore::new(url)?),
            None => Store::Memory,
        };
        let counters = Counters { store, saved_to: file.filter(|_| redis.is_none()), ..Counters::default() };
        if let Some(path) = &counters.saved_to {
            let loaded = saved::load(path, &counters.memory)?;
            tracing::info!(file = %path.display(), "consumers' counters: {loaded} read");
        }
        Ok(counters)
    }

    /// Whether counts are saved to a file (see [`Counters::save`]).
    pub fn is_saved(&self) -> bool {
        self.saved_to.is_some()
    }

    /// Adds 1 to `incr` and reads `gets` at `now`, in one round trip to
    /// Redis.
    pub async fn count(
        &self,
        incr: Option<Slot<'_>>,
        gets: &[Slot<'_>],
        now: SystemTime,
    ) -> Result<(u64, Vec<u64>), String> {
        match &self.store {
            Store::Memory => {
                let now = unix(now);
                // One key buffer for every count: nothing is allocated for
                // counters that exist.
                let mut key = String::with_capacity(64);
                let count = incr.map_or(0, |slot| {
                    slot.write_key(&mut key);
                    self.memory.add(&key, 1, slot.window.end, now)
                });
                if incr.is_some() {
                    self.changed.store(true, Ordering::Release);
                }
                if gets.is_empty() {
                    return Ok((count, Vec::new()));
                }
                let used = self.memory.read(now, |get| {
                    let value = |slot: &Slot<'_>| {
                        slot.write_key(&mut key);
                        get(&key)
                    };
                    gets.iter().map(value).collect()
                });
                Ok((count, used))
            }
            Store::Redis(redis) => {
                let incr = incr.map(|slot| (slot.key(), slot.window.end));
                let gets: Vec<String> = gets.iter().map(Slot::key).collect();
                redis.count(incr.as_ref().map(|(key, end)| (key.as_str(), *end)), &gets).await
            }
        }
    }

    /// Adds each amount to its slot (windows as at `now`): at once in
    /// memory; to Redis in a task of its own, off the response path.
    pub fn add_all<'a>(self: &Arc<Self>, adds: impl Iterator<Item = (Slot<'a>, u64)>, now: SystemTime) {
        match &self.store {
            Store::Memory => {
                let now = unix(now);
                let mut key = String::with_capacity(64);
                let mut added = false;
                for (slot, amount) in adds {
                    slot.write_key(&mut key);
                    self.memory.add(&key, amount, slot.window.end, now);
                    added = true;
                }
                if added {
                    self.changed.store(true, Ordering::Release);
                }
            }
            Store::Redis(redis) => {
                let adds: Vec<(String, u64, u64)> =
                    adds.map(|(slot, amount)| (slot.key(), amount, slot.window.end)).collect();
                if adds.is_empty() {
                    return;
                }
                let (redis, counters) = (redis.clone(), self.clone());
                actix_web::rt::spawn(async move {
                    if let Err(error) = redis.add_all(&adds).await {
                        counters.failed(&error);
                    }
                });
            }
        }
    }

    /// Logs (at most every ten seconds) and counts a failure of Redis.
    pub fn failed(&self, error: &str) {
        metrics::counter!(STATE_FAILURES).increment(1);
        let now = unix(SystemTime::now());
        let last = self.failure_logged.load(Ordering::Relaxed);
        if now >= last + 10
            && self.failure_logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!("consumers' limits: Redis failed ({error}); `[state] when_unreachable` applies");
        }
    }

    /// Saves the in-process counts to `[state] file`, if they changed.
    pub fn save(&self) {
        let Some(path) = &self.saved_to else { return };
        if self.changed.swap(false, Ordering::AcqRel)
            && let Err(e) = saved::save(path, &self.memory)
        {
            self.changed.store(true, Ordering::Release);
            tracing::warn!(file = %path.display(), "consumers' counters could not be saved: {e}");
        }
    }
}

/// One count of a consumer: what it counts, in which window.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub consumer: &'a str,
    pub counted: Counted,
    pub window: Window,
}

impl<'a> Slot<'a> {
    /// The slot of `limit` of `consumer` at `now`.
    pub fn at(consumer: &'a Consumer, counted: Counted, limit: Limit, now: SystemTime) -> Slot<'a> {
        Slot { consumer: &consumer.name, counted, window: Window::at(limit.per, now) }
    }

    /// Its key, `relay:NAME:COUNTED:START`, the same in memory and Redis.
    pub fn key(&self) -> String {
        let mut key = String::with_capacity(64);
        self.write_key(&mut key);
        key
    }

    /// Writes its key into `key` (cleared first), piece by piece.
    fn write_key(&self, key: &mut String) {
        let mut start = itoa::Buffer::new();
        key.clear();
        for piece in ["relay:", self.consumer, ":", self.counted.name(), ":", start.format(self.window.start)] {
            key.push_str(piece);
        }
    }
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_consumer_count_and_window_start() {
        let slot =
            Slot { consumer: "alice", counted: Counted::InputTokens, window: Window { start: 1_796_083_200, end: 0 } };
        assert_eq!(slot.key(), "relay:alice:input_tokens:1796083200");
        let mut reused = "an earlier, longer key".to_owned();
        slot.write_key(&mut reused);
        assert_eq!(reused, slot.key());
    }
}
