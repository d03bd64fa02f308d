//! Usage since the relay started, by consumer, model and route: what
//! `/relay/usage` on the admin address shows. Kept per process (each
//! replica reports its own).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use super::usage::Usage;

/// Sums of one consumer's answers from one model on one route.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    answers: u64,
    input: u64,
    cached_input: u64,
    output: u64,
    micro_usd: u64,
}

/// Usage totals keyed by (consumer, model, route).
#[derive(Debug, Default)]
pub struct Totals {
    sums: Mutex<BTreeMap<(String, String, String), Sums>>,
}

impl Totals {
    /// Adds one answer's usage.
    pub fn add(&self, consumer: &str, usage: &Usage, route: &str, micro_usd: u64) {
        let model = usage.model.clone().unwrap_or_else(|| "-".to_owned());
        let mut sums = self.sums.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = sums.entry((consumer.to_owned(), model, route.to_owned())).or_default();
        entry.answers += 1;
        entry.input += usage.input;
        entry.cached_input += usage.cached_input;
        entry.output += usage.output;
        entry.micro_usd += micro_usd;
    }

    /// The totals as JSON: one entry per consumer, model and route.
    pub fn to_json(&self) -> Value {
        let sums = self.sums.lock().unwrap_or_else(PoisonError::into_inner);
        let rows: Vec<Value> = sums
            .iter()
            .map(|((consumer, model, route), s)| {
                json!({
                    "consumer": consumer, "model": model, "route": route, "answers": s.answers,
                    "input_tokens": s.input, "cached_input_tokens": s.cached_input, "output_tokens": s.output,
                    "total_tokens": s.input + s.output, "usd": s.micro_usd as f64 / 1e6,
                })
            })
            .collect();
        json!({ "usage": rows })
    }
}
