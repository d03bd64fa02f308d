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

    /// Adds 1 to `incr` (a count until its window ends) and reads `gets`,
    /// in one round trip to Redis.
    pub async fn count(&self, incr: Option<(&str, u64)>, gets: &[String]) -> Result<(u64, Vec<u64>), String> {
        match &self.store {
            Store::Memory => {
                let now = unix(SystemTime::now());
                let count = incr.map_or(0, |(key, ends)| self.memory.add(key, 1, ends, now));
                if incr.is_some() {
                    self.changed.store(true, Ordering::Release);
                }
                Ok((count, gets.iter().map(|key| self.memory.get(key, now)).collect()))
            }
            Store::Redis(redis) => redis.count(incr, gets).await,
        }
    }

    /// Adds each `(key, amount, ends)`: at once in memory; to Redis in a
    /// task of its own, off the response path.
    pub fn add_all(self: &Arc<Self>, adds: Vec<(String, u64, u64)>) {
        if adds.is_empty() {
            return;
        }
        match &self.store {
            Store::Memory => {
                let now = unix(SystemTime::now());
                for (key, amount, ends) in &adds {
                    self.memory.add(key, *amount, *ends, now);
                }
                self.changed.store(true, Ordering::Release);
            }
            Store::Redis(redis) => {
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

/// The key of a consumer's count for the window of `limit` at `now`.
pub fn key(consumer: &Consumer, counted: Counted, limit: Limit, now: SystemTime) -> (String, Window) {
    let window = Window::at(limit.per, now);
    (format!("relay:{}:{}:{}", consumer.name, counted.name(), window.start), window)
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
