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

pub mod counters;
pub mod memory;
pub mod redis;
pub mod saved;
pub mod tap;
pub mod ticket;
pub mod totals;
pub mod usage;
pub mod usage_fields;
pub mod window;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use actix_web::http::header::HeaderName;

use self::counters::{Counters, Slot};
use self::ticket::InFlight;
pub use self::ticket::Ticket;
use self::window::Window;
use crate::error::RelayError;
use crate::policy::consumer::{Consumer, Counted, Limit, Per, StateSettings, WhenUnreachable};
use crate::table::Table;

/// The counters of every consumer, shared by all workers and kept across
/// reloads, and the consumers' requests in flight.
#[derive(Debug, Default)]
pub struct Meter {
    pub counters: Arc<Counters>,
    in_flight: Mutex<foldhash::HashMap<String, Arc<AtomicU32>>>,
}

impl Meter {
    /// Counters where `[state]` says: in Redis, or in process (read from
    /// and saved to `file`, if given). With Redis, call it inside the Tokio
    /// runtime that serves (it reconnects there).
    pub fn new(state: &StateSettings) -> Result<Arc<Meter>, String> {
        let counters = Arc::new(Counters::new(state.redis.as_deref(), state.file.clone())?);
        if counters.is_saved() {
            let weak = Arc::downgrade(&counters);
            let saver = std::thread::Builder::new().name("relay-counters".into()).spawn(move || {
                loop {
                    std::thread::sleep(saved::EVERY);
                    let Some(counters) = weak.upgrade() else { return };
                    counters.save();
                }
            });
            saver.map_err(|e| e.to_string())?;
        }
        Ok(Arc::new(Meter { counters, ..Meter::default() }))
    }

    /// Counts a request of consumer `index` of `table`, or refuses it.
    pub async fn admit(&self, table: &Arc<Table>, index: usize, route: usize) -> Result<Ticket, RelayError> {
        let consumer = &table.consumers.list[index];
        let limits = &consumer.limits;
        let now = SystemTime::now();
        let in_flight = limits.concurrent.map(|max| self.enter(consumer, max)).transpose()?;
        let requests = limits.requests.map(|limit| (limit, Slot::at(consumer, Counted::Requests, limit, now)));
        let checks: Vec<(Counted, Limit)> = if limits.counts_tokens() {
            limits.each().filter(|(counted, _)| *counted != Counted::Requests).collect()
        } else {
            Vec::new()
        };
        let slots: Vec<Slot<'_>> =
            checks.iter().map(|(counted, limit)| Slot::at(consumer, *counted, *limit, now)).collect();
        let incr = requests.map(|(_, slot)| slot);
        let ticket = Ticket::new(self.counters.clone(), table.clone(), index, route, in_flight);
        let (count, used) = match self.counters.count(incr, &slots, now).await {
            Ok(counted) => counted,
            Err(error) => {
                self.counters.failed(&error);
                if table.consumers.state.when_unreachable == WhenUnreachable::FailClosed {
                    return Err(RelayError::new(
                        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                        crate::error::ErrorType::Server,
                        "limits_unavailable",
                        "The relay cannot reach the store of its rate limits; try again shortly.",
                    )
                    .retryable(true));
                }
                return Ok(ticket);
            }
        };
        if let Some((limit, slot)) = requests
            && count > limit.amount
        {
            return Err(refusal(Counted::Requests, limit, slot.window, now));
        }
        for ((counted, limit), (used, slot)) in checks.into_iter().zip(used.into_iter().zip(slots)) {
            if used >= limit.amount {
                return Err(refusal(counted, limit, slot.window, now));
            }
        }
        Ok(ticket)
    }

    /// Takes a place among the consumer's concurrent requests.
    fn enter(&self, consumer: &Consumer, max: u32) -> Result<InFlight, RelayError> {
        let count = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            match in_flight.get(&consumer.name) {
                Some(count) => count.clone(),
                None => in_flight.entry(consumer.name.clone()).or_default().clone(),
            }
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
        let present: Vec<(Counted, Limit)> = consumer.limits.each().collect();
        let slots: Vec<Slot<'_>> =
            present.iter().map(|(counted, limit)| Slot::at(consumer, *counted, *limit, now)).collect();
        let used = self.counters.count(None, &slots, now).await.unwrap_or_default().1;
        present.into_iter().zip(used).map(|((counted, limit), used)| (counted.name(), used, limit)).collect()
    }
}

/// The 429 for a limit that is reached, with OpenAI's headers.
fn refusal(counted: Counted, limit: Limit, window: Window, now: SystemTime) -> RelayError {
    let (name, budget) = (counted.name(), counted.is_budget());
    let wait = window.seconds_left(now);
    let per = match limit.per {
        Per::Every(length) => humantime::format_duration(length).to_string(),
        Per::Month => "month".to_owned(),
    };
    let shown = match counted {
        Counted::BudgetUsd => format!("${:.2}", limit.amount as f64 / 1e6),
        _ => limit.amount.to_string(),
    };
    let mut error = if budget {
        let message = format!("This relay key's budget is spent: {shown} per {per}. It renews in {wait}s.");
        let mut error = RelayError::rate_limited("insufficient_quota", message, wait);
        error.kind = crate::error::ErrorType::InsufficientQuota;
        error
    } else {
        let message = format!("Rate limit reached for {name}: {shown} per {per}. Try again in {wait}s.");
        RelayError::rate_limited("rate_limit_exceeded", message, wait)
    };
    let family = if counted == Counted::Requests { "requests" } else { "tokens" };
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
