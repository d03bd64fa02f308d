//! [`Ticket`]: a consumer's request once it is counted. It holds the
//! request's place among the consumer's requests in flight (given back when
//! the ticket is dropped) and settles the usage its answer reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use super::counters::{Counters, Slot};
use super::usage::Usage;
use crate::policy::consumer::Counted;
use crate::table::Table;

/// A counted request: its place among the consumer's requests in flight,
/// and what settles its usage when the answer is finished.
pub struct Ticket {
    counters: Arc<Counters>,
    table: Arc<Table>,
    consumer: usize,
    route: usize,
    _in_flight: Option<InFlight>,
}

impl Ticket {
    /// The ticket of a request of consumer `consumer` on route `route`.
    pub fn new(
        counters: Arc<Counters>,
        table: Arc<Table>,
        consumer: usize,
        route: usize,
        in_flight: Option<InFlight>,
    ) -> Ticket {
        Ticket { counters, table, consumer, route, _in_flight: in_flight }
    }

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
        let route = &self.table.routes[self.route].id;
        self.counters.totals.add(&consumer.name, usage, route, micro_usd);
        if !consumer.limits.counts_tokens() {
            return;
        }
        let now = SystemTime::now();
        let adds = consumer.limits.each().filter_map(|(counted, limit)| {
            let amount = match counted {
                Counted::Requests => 0,
                Counted::Tokens | Counted::BudgetTokens => usage.total(),
                Counted::InputTokens => usage.input,
                Counted::OutputTokens => usage.output,
                Counted::BudgetUsd => micro_usd,
            };
            (amount > 0).then(|| (Slot::at(consumer, counted, limit, now), amount))
        });
        self.counters.add_all(adds, now);
    }
}

/// A place among a consumer's requests in flight, given back when dropped.
pub struct InFlight(pub Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
