//! `[listener.NAME] inherit = "OTHER"`: a listener that serves the routes of
//! another as well as its own. Its own routes win: a route of `OTHER` is not
//! inherited when one of this listener's routes has the same path (by shape:
//! parameter names do not count) and any of its methods.
//!
//! Inheriting adds the listener's name to the inherited routes' `listeners`,
//! so `relay routes`, `explain` and the matchers all see the same thing. One
//! level only: a listener cannot inherit from one that inherits itself.

use std::collections::{BTreeMap, HashSet};

use super::listeners::Declared;
use super::located;
use crate::diagnostics::{SpecError, nearest};
use crate::matcher::{Segment, positional_pattern};
use crate::table::{DEFAULT_LISTENER, Protocol, Route};

/// Adds each inheriting listener to the routes it inherits.
pub fn inherit(
    routes: &mut [Route],
    segments: &[Vec<Segment>],
    declared: &BTreeMap<String, Declared>,
    errors: &mut Vec<SpecError>,
) {
    let known: Vec<&str> = std::iter::once(DEFAULT_LISTENER).chain(declared.keys().map(String::as_str)).collect();
    for (name, listener) in declared {
        let Some((parent, origin)) = &listener.inherit else { continue };
        let problem = if !known.contains(&parent.as_str()) {
            let hint = match nearest(parent, known.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? declared listeners: {}", known.join(", ")),
                None => format!("declared listeners: {}", known.join(", ")),
            };
            Some((format!("listener `{name}` inherits from an unknown listener `{parent}`"), hint))
        } else if parent == name {
            Some((format!("listener `{name}` inherits from itself"), "name another listener".to_owned()))
        } else if declared.get(parent).is_some_and(|p| p.inherit.is_some()) {
            Some((
                format!("listener `{name}` inherits from `{parent}`, which inherits itself"),
                "inherit from the listener that declares the routes".to_owned(),
            ))
        } else {
            None
        };
        if let Some((message, hint)) = problem {
            errors.push(located(origin, message).with_hint(hint));
            continue;
        }
        let key = |route: &Route, shape: &str, method: &actix_web::http::Method| {
            (shape.to_owned(), method.clone(), route.protocol != Protocol::Http)
        };
        let shapes: Vec<String> = segments.iter().map(|s| positional_pattern(s)).collect();
        let own: HashSet<_> = routes
            .iter()
            .zip(&shapes)
            .filter(|(route, _)| route.listeners.contains(name))
            .flat_map(|(route, shape)| route.methods.iter().map(move |m| key(route, shape, m)))
            .collect();
        for (route, shape) in routes.iter_mut().zip(&shapes) {
            let serves_parent = route.listeners.contains(parent) && !route.listeners.contains(name);
            if serves_parent && !route.methods.iter().any(|m| own.contains(&key(route, shape, m))) {
                route.listeners.push(name.clone());
            }
        }
    }
}
