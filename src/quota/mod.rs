//! Consumers' limits and budgets, counted per window, and their usage.
//!
//! Before a request is sent, [`Meter::admit`] counts it against the
//! consumer's request limit, checks its token limits and budgets against
//! what earlier answers used, and holds a place among its concurrent
//! requests; a request over a limit gets 429 with `Retry-After` and
//! OpenAI's `x-ratelimit-*` headers (`insufficient_quota` for a budget).
//! The [`Ticket`] it returns travels with the answer: when the answer is
//! finished, [`Ticket::settle`] adds the tokens the upstream reported
//! ([`usage`]) to the windows and to the usage totals.
//!
//! Counters live in the process ([`memory`]) or, with `[state] redis`, in
//! Redis shared by every replica ([`redis`]); concurrency is always counted
//! per process. When Redis cannot be reached, `[state] when_unreachable`
//! decides: `fail_open` serves without counting (logged and counted in
//! `relay_state_failures_total`), `fail_closed` answers 503.
//!
//! Token limits are checked, not reserved: requests that start while a
//! window is still under its limit all go through, so a window can end
//! above its limit by what the requests in flight at that moment use
//! (at most `concurrent` requests' worth when that is set).

pub mod memory;
pub mod redis;
pub mod saved;
pub mod totals;
pub mod usage;
pub mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::HeaderName;

use self::memory::MemoryStore;
use self::redis::RedisStore;
use self::totals::Totals;
use self::usage::Usage;
use self::window::Window;
use crate::error::RelayError;
use crate::policy::consumer::{Consumer, Limit, Per, StateSettings, WhenUnreachable};
use crate::table::Table;

/// Failures of the counters' store (Redis), on the request path and in
/// settlement.
pub const STATE_FAILURES: &str = "relay_state_failures_total";

/// The counters of every consumer, shared by all workers and kept across
/// reloads.
#[derive(Debug, Default)]
pub struct Meter {
    store: Store,
    memory: MemoryStore,
    in_flight: Mutex<HashMap<String, Arc<AtomicU32>>>,
    /// Usage since the relay started, by consumer, model and route.
    pub totals: Totals,
    /// When Redis failure was last logged (Unix seconds), to log it at most
    /// every ten seconds.
    failure_logged: AtomicU64,
    /// `[state] file`: where in-process counters are saved.
    saved_to: Option<std::path::PathBuf>,
    /// Whether in-process counters changed since they were last saved.
    changed: std::sync::atomic::AtomicBool,
}

/// Where the windows' counters live.
#[derive(Debug, Default)]
enum Store {
    #[default]
    Memory,
    Redis(RedisStore),
}

impl Meter {
    /// Counters where `[state]` says: in Redis, or in process (read from
    /// and saved to `file`, if given). With Redis, call it inside the Tokio
    /// runtime that serves (it reconnects there).
    pub fn new(state: &StateSettings) -> Result<Arc<Meter>, String> {
        let store = match &state.redis {
            Some(url) => Store::Redis(RedisStore::new(url)?),
            None => Store::Memory,
        };
        let saved_to = state.file.clone().filter(|_| state.redis.is_none());
        let meter = Arc::new(Meter { store, saved_to, ..Meter::default() });
        if let Some(path) = &meter.saved_to {
            let loaded = saved::load(path, &meter.memory)?;
            tracing::info!(file = %path.display(), "consumers' counters: {loaded} read");
            let weak = Arc::downgrade(&meter);
            let saver = std::thread::Builder::new().name("relay-counters".into()).spawn(move || {
                loop {
                    std::thread::sleep(saved::EVERY);
                    let Some(meter) = weak.upgrade() else { return };
                    meter.save();
                }
            });
            saver.map_err(|e| e.to_string())?;
        }
        Ok(meter)
    }

    /// Saves the in-process counters to `[state] file`, if they changed.
    pub fn save(&self) {
        let Some(path) = &self.saved_to else { return };
        if self.changed.swap(false, Ordering::AcqRel)
            && let Err(e) = saved::save(path, &self.memory)
        {
            self.changed.store(true, Ordering::Release);
            tracing::warn!(file = %path.display(), "consumers' counters could not be saved: {e}");
        }
    }

    /// Whether the counters are in Redis.
    pub fn is_shared(&self) -> bool {
        matches!(self.store, Store::Redis(_))
    }

    /// Counts a request of consumer `index` of `table`, or refuses it.
    pub async fn admit(self: &Arc<Self>, table: &Arc<Table>, index: usize, route: usize) -> Result<Ticket, RelayError> {
        let consumer = &table.consumers.list[index];
        let limits = &consumer.limits;
        let now = SystemTime::now();
        let in_flight = limits.concurrent.map(|max| self.enter(consumer, max)).transpose()?;
        let requests = limits.requests.map(|limit| (limit, counter(consumer, "requests", limit, now)));
        let checks: Vec<(&'static str, &'static str, Limit)> = [
            ("rate_limit_exceeded", "tokens", limits.tokens),
            ("rate_limit_exceeded", "input_tokens", limits.input_tokens),
            ("rate_limit_exceeded", "output_tokens", limits.output_tokens),
            ("insufficient_quota", "budget_tokens", limits.budget_tokens),
            ("insufficient_quota", "budget_usd", limits.budget_micro_usd),
        ]
        .into_iter()
        .filter_map(|(code, name, limit)| Some((code, name, limit?)))
        .collect();
        let keys: Vec<(String, Window)> =
            checks.iter().map(|(_, name, limit)| counter(consumer, name, *limit, now)).collect();
        let incr = requests.as_ref().map(|(_, (key, window))| (key.as_str(), window.end));
        let gets: Vec<String> = keys.iter().map(|(key, _)| key.clone()).collect();
        let counted = match &self.store {
            Store::Memory => {
                let secs = unix(now);
                let count = incr.map_or(0, |(key, ends)| self.memory.add(key, 1, ends, secs));
                if incr.is_some() {
                    self.changed.store(true, Ordering::Release);
                }
                Ok((count, gets.iter().map(|key| self.memory.get(key, secs)).collect()))
            }
            Store::Redis(redis) => redis.count(incr, &gets).await,
        };
        let (count, used) = match counted {
            Ok(counted) => counted,
            Err(error) => {
                self.state_failed(&error);
                if table.consumers.state.when_unreachable == WhenUnreachable::FailClosed {
                    return Err(RelayError::new(
                        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                        crate::error::ErrorType::Server,
                        "limits_unavailable",
                        "The relay cannot reach the store of its rate limits; try again shortly.",
                    )
                    .retryable(true));
                }
                let ticket =
                    Ticket { meter: self.clone(), table: table.clone(), consumer: index, route, _in_flight: in_flight };
                return Ok(ticket);
            }
        };
        if let Some((limit, (_, window))) = requests
            && count > limit.amount
        {
            return Err(refusal("rate_limit_exceeded", "requests", limit, window, now));
        }
        for ((code, name, limit), (used, (_, window))) in checks.into_iter().zip(used.into_iter().zip(keys)) {
            if used >= limit.amount {
                return Err(refusal(code, name, limit, window, now));
            }
        }
        Ok(Ticket { meter: self.clone(), table: table.clone(), consumer: index, route, _in_flight: in_flight })
    }

    /// Logs (at most every ten seconds) and counts a failure of Redis.
    fn state_failed(&self, error: &str) {
        metrics::counter!(STATE_FAILURES).increment(1);
        let now = unix(SystemTime::now());
        let last = self.failure_logged.load(Ordering::Relaxed);
        if now >= last + 10
            && self.failure_logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!("consumers' limits: Redis failed ({error}); `[state] when_unreachable` applies");
        }
    }

    /// Takes a place among the consumer's concurrent requests.
    fn enter(&self, consumer: &Consumer, max: u32) -> Result<InFlight, RelayError> {
        let count = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            in_flight.entry(consumer.name.clone()).or_default().clone()
        };
        if count.fetch_add(1, Ordering::AcqRel) >= max {
            count.fetch_sub(1, Ordering::AcqRel);
            let message = format!("Too many requests in flight: at most {max} at once for this relay key.");
            return Err(RelayError::rate_limited("rate_limit_exceeded", message, 1));
        }
        Ok(InFlight(count))
    }

    /// What the consumer has used in the current window of each limit.
    pub async fn windows(&self, consumer: &Consumer) -> Vec<(&'static str, u64, Limit)> {
        let now = SystemTime::now();
        let limits = &consumer.limits;
        let all = [
            ("requests", limits.requests),
            ("tokens", limits.tokens),
            ("input_tokens", limits.input_tokens),
            ("output_tokens", limits.output_tokens),
            ("budget_tokens", limits.budget_tokens),
            ("budget_usd", limits.budget_micro_usd),
        ];
        let present: Vec<(&'static str, Limit)> =
            all.into_iter().filter_map(|(name, limit)| Some((name, limit?))).collect();
        let keys: Vec<String> = present.iter().map(|(name, limit)| counter(consumer, name, *limit, now).0).collect();
        let used = match &self.store {
            Store::Memory => keys.iter().map(|key| self.memory.get(key, unix(now))).collect(),
            Store::Redis(redis) => redis.count(None, &keys).await.unwrap_or_default().1,
        };
        present.into_iter().zip(used).map(|((name, limit), used)| (name, used, limit)).collect()
    }
}

/// A counted request: its place among the consumer's requests in flight,
/// and what settles its usage when the answer is finished.
pub struct Ticket {
    meter: Arc<Meter>,
    table: Arc<Table>,
    consumer: usize,
    route: usize,
    _in_flight: Option<InFlight>,
}

impl Ticket {
    /// Adds an answer's usage to the consumer's windows and totals (a
    /// WebSocket session settles once per response).
    pub fn settle(&self, usage: &Usage) {
        let consumer = &self.table.consumers.list[self.consumer];
        let price = usage.model.as_deref().and_then(|model| self.table.consumers.price(model));
        let micro_usd = price.map_or(0, |p| {
            let uncached = usage.input.saturating_sub(usage.cached_input) as f64;
            let dollars =
                uncached * p.input + usage.cached_input as f64 * p.cached_input + usage.output as f64 * p.output;
            dollars.round() as u64 // per million tokens, in micro-dollars: the same number
        });
        let now = SystemTime::now();
        let limits = &consumer.limits;
        let amounts = [
            ("tokens", limits.tokens, usage.total()),
            ("input_tokens", limits.input_tokens, usage.input),
            ("output_tokens", limits.output_tokens, usage.output),
            ("budget_tokens", limits.budget_tokens, usage.total()),
            ("budget_usd", limits.budget_micro_usd, micro_usd),
        ];
        let adds: Vec<(String, u64, u64)> = amounts
            .into_iter()
            .filter_map(|(name, limit, amount)| {
                let limit = limit.filter(|_| amount > 0)?;
                let (key, window) = counter(consumer, name, limit, now);
                Some((key, amount, window.end))
            })
            .collect();
        match &self.meter.store {
            Store::Memory => {
                for (key, amount, ends) in &adds {
                    self.meter.memory.add(key, *amount, *ends, unix(now));
                }
                if !adds.is_empty() {
                    self.meter.changed.store(true, Ordering::Release);
                }
            }
            // Off the response path: the answer has ended already.
            Store::Redis(redis) if !adds.is_empty() => {
                let (redis, meter) = (redis.clone(), self.meter.clone());
                actix_web::rt::spawn(async move {
                    if let Err(error) = redis.add_all(&adds).await {
                        meter.state_failed(&error);
                    }
                });
            }
            Store::Redis(_) => {}
        }
        let route = &self.table.routes[self.route].id;
        self.meter.totals.add(&consumer.name, usage, route, micro_usd);
    }
}

/// A place among a consumer's requests in flight, given back when dropped.
struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The key of a consumer's counter for the window of `limit` at `now`.
fn counter(consumer: &Consumer, name: &str, limit: Limit, now: SystemTime) -> (String, Window) {
    let window = Window::at(limit.per, now);
    (format!("relay:{}:{name}:{}", consumer.name, window.start), window)
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The 429 for a limit that is reached, with OpenAI's headers.
fn refusal(code: &'static str, name: &str, limit: Limit, window: Window, now: SystemTime) -> RelayError {
    let wait = window.seconds_left(now);
    let per = match limit.per {
        Per::Every(length) => humantime::format_duration(length).to_string(),
        Per::Month => "month".to_owned(),
    };
    let shown =
        if name == "budget_usd" { format!("${:.2}", limit.amount as f64 / 1e6) } else { limit.amount.to_string() };
    let message = match code {
        "insufficient_quota" => format!("This relay key's budget is spent: {shown} per {per}. It renews in {wait}s."),
        _ => format!("Rate limit reached for {name}: {shown} per {per}. Try again in {wait}s."),
    };
    let mut error = RelayError::rate_limited(code, message, wait);
    if code == "insufficient_quota" {
        error.kind = crate::error::ErrorType::InsufficientQuota;
    }
    let family = if name == "requests" { "requests" } else { "tokens" };
    let header = |what: &str| HeaderName::from_bytes(format!("x-ratelimit-{what}-{family}").as_bytes()).ok();
    for (what, value) in
        [("limit", limit.amount.to_string()), ("remaining", "0".to_owned()), ("reset", format!("{wait}s"))]
    {
        if let Some(name) = header(what) {
            error = error.with_header(name, &value);
        }
    }
    error
}
