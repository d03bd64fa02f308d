//! Logging the warnings of a table: the spec's own (an unused path
//! parameter) and the ChatGPT Actions checks of its documents.
//!
//! At start each is logged once. A reload logs only what the new table has
//! and the old one had not, so an unchanged warning is never repeated.
//! Actions advice (a streaming route in a set, a server URL that is not
//! https) is for whoever publishes Actions: it is logged only when
//! `RELAY_PUBLIC_URL` is set, the step an Action needs; `relay check` always
//! prints it. An Actions error (a route left out of the documents) is
//! always logged.

use crate::env::Env;
use crate::live::Live;
use crate::openapi::PUBLIC_URL_VAR;

/// Logs every warning of the table being started.
pub fn log_at_start(live: &Live, env: &Env) {
    log(live, None, env);
}

/// Logs the warnings of `new` that `old` did not have.
pub fn log_new(old: &Live, new: &Live, env: &Env) {
    log(new, Some(old), env);
}

fn log(live: &Live, old: Option<&Live>, env: &Env) {
    let before = old.map(|old| lines(old, env)).unwrap_or_default();
    for warning in lines(live, env) {
        if !before.contains(&warning) {
            match warning {
                Line::Error(text) => tracing::error!("{text}"),
                Line::Warning(text) => tracing::warn!("{text}"),
            }
        }
    }
    let advice = live.documents.warnings.iter().filter(|w| !w.error).count();
    if old.is_none() && advice > 0 && !publishes_actions(env) {
        tracing::debug!(
            "{advice} ChatGPT Actions warnings not logged ({PUBLIC_URL_VAR} is unset); `relay check` lists them"
        );
    }
}

/// One message to log, by level.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Error(String),
    Warning(String),
}

/// The messages of a table to log, in order.
fn lines(live: &Live, env: &Env) -> Vec<Line> {
    let spec = live.table.warnings.iter().map(|w| Line::Warning(w.to_string()));
    let advice = publishes_actions(env);
    let actions = live.documents.warnings.iter().filter(|w| w.error || advice).map(|w| match w.error {
        true => Line::Error(w.to_string()),
        false => Line::Warning(w.to_string()),
    });
    spec.chain(actions).collect()
}

/// Whether this relay publishes ChatGPT Actions documents for use.
fn publishes_actions(env: &Env) -> bool {
    env.get(PUBLIC_URL_VAR).is_some()
}
