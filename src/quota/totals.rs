//! Usage since the relay started, by consumer, model and route: what
//! `/relay/usage` on the admin address shows. Kept per process (each
//! replica reports its own).

use std::sync::{Mutex, PoisonError};

use foldhash::HashMap;
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

/// Usage totals by consumer, then model, then route (nested, so that
/// adding to an existing total copies no string; hashed by foldhash, as
/// the names come from the spec and from the upstream, not the client;
/// sorted when shown).
#[derive(Debug, Default)]
pub struct Totals {
    sums: Mutex<ByConsumer>,
}

/// Sums by route, of one consumer's model.
type ByRoute = HashMap<String, Sums>;
/// Sums by model and route, of one consumer.
type ByModel = HashMap<String, ByRoute>;
/// Every sum, by consumer, model and route.
type ByConsumer = HashMap<String, ByModel>;

impl Totals {
    /// Adds one answer's usage.
    pub fn add(&self, consumer: &str, usage: &Usage, route: &str, micro_usd: u64) {
        let model = usage.model.as_deref().unwrap_or("-");
        let mut sums = self.sums.lock().unwrap_or_else(PoisonError::into_inner);
        let models = entry(&mut sums, consumer);
        let routes = entry(models, model);
        let entry = entry(routes, route);
        entry.answers += 1;
        entry.input += usage.input;
        entry.cached_input += usage.cached_input;
        entry.output += usage.output;
        entry.micro_usd += micro_usd;
    }

    /// Every total: consumer, model, route and sums, sorted by the names.
    fn rows(&self) -> Vec<(String, String, String, Sums)> {
        let sums = self.sums.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows = Vec::new();
        for (consumer, models) in sums.iter() {
            for (model, routes) in models {
                for (route, s) in routes {
                    rows.push((consumer.clone(), model.clone(), route.clone(), *s));
                }
            }
        }
        rows.sort_unstable_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
        rows
    }

    /// The totals as JSON: one entry per consumer, model and route.
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows()
            .into_iter()
            .map(|(consumer, model, route, s)| {
                json!({
                    "consumer": consumer, "model": model, "route": route, "answers": s.answers,
                    "input_tokens": s.input, "cached_input_tokens": s.cached_input, "output_tokens": s.output,
                    "total_tokens": s.input + s.output, "usd": s.micro_usd as f64 / 1e6,
                })
            })
            .collect();
        json!({ "usage": rows })
    }

    /// The totals in Prometheus' text format, as `metric` (a counter)
    /// labelled by consumer, model, route and kind (`input`, `output`):
    /// written when scraped, so counting costs the request path nothing.
    pub fn prometheus(&self, metric: &str) -> String {
        let mut text = format!("# TYPE {metric} counter\n");
        for (consumer, model, route, s) in self.rows() {
            for (kind, tokens) in [("input", s.input), ("output", s.output)] {
                let (consumer, model, route) = (label(&consumer), label(&model), label(&route));
                text.push_str(&format!(
                    "{metric}{{consumer=\"{consumer}\",model=\"{model}\",route=\"{route}\",kind=\"{kind}\"}} {tokens}\n"
                ));
            }
        }
        text
    }
}

/// The entry of `key`, copying the key only when it is new.
fn entry<'a, V: Default>(map: &'a mut HashMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).unwrap_or_else(|| unreachable!("inserted above"))
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
