//! Compiling `[listener.NAME]` tables and the routes each listener serves.
//!
//! Every table has the `default` listener (the address of `relay serve
//! --listen`); files may declare more. A route names its listeners with
//! `listeners = [...]` (or in `[defaults]`); a route that names none is served
//! by `default` only. Each listener gets its own matcher, so two listeners can
//! serve the same path differently.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{build_matcher, located, values};
use crate::diagnostics::{SpecError, nearest};
use crate::env::Env;
use crate::matcher::Segment;
use crate::spec::SourceFile;
use crate::table::{DEFAULT_LISTENER, Listener, Origin, Route};

/// A declared listener, before its routes are known.
pub struct Declared {
    pub listen: SocketAddr,
    pub origin: Origin,
    pub log: Option<PathBuf>,
    pub log_body_max: Option<u64>,
    /// `inherit`: the listener whose routes this one serves too, and where
    /// that was written.
    pub inherit: Option<(String, Origin)>,
    pub tls: Option<crate::tls::CertFiles>,
}

/// The declared listeners by name, and the names of those that failed
/// (routes naming them are not reported again); every problem is pushed to
/// `errors`.
pub fn declared(
    files: &[SourceFile],
    env: &Env,
    errors: &mut Vec<SpecError>,
) -> (BTreeMap<String, Declared>, BTreeSet<String>) {
    let mut listeners: BTreeMap<String, Declared> = BTreeMap::new();
    let mut broken = BTreeSet::new();
    for file in files {
        for (name, spec) in &file.spec.listener {
            let at = spec.span().start;
            let (line, column) = file.source.line_col(at);
            if let Some(first) = listeners.get(name) {
                errors.push(
                    file.source
                        .error_at(at, format!("listener `{name}` is defined twice"))
                        .with_hint(format!("the first definition is at {}; rename or remove one", first.origin)),
                );
                continue;
            }
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                errors.push(
                    file.source
                        .error_at(at, format!("`{name}` is not a valid listener name"))
                        .with_hint("use letters, digits, `_` and `-`"),
                );
                continue;
            }
            let listen = &spec.get_ref().listen;
            let address = env.expand(listen.get_ref()).and_then(|text| {
                text.parse::<SocketAddr>()
                    .map_err(|_| format!("`listen = {text:?}` is not an address such as \"127.0.0.1:5101\""))
            });
            let (log, log_body_max) = log_settings(file, spec.get_ref(), env, errors);
            let tls = spec.get_ref().tls.as_ref().and_then(|tls| super::edge::tls(&file.source, tls, env, errors));
            let inherit = spec.get_ref().inherit.as_ref().map(|parent| {
                let (line, column) = file.source.line_col(parent.span().start);
                (parent.get_ref().clone(), Origin { file: file.source.path.clone(), line, column })
            });
            match address {
                Ok(listen) => drop(listeners.insert(
                    name.clone(),
                    Declared {
                        listen,
                        origin: Origin { file: file.source.path.clone(), line, column },
                        log,
                        log_body_max,
                        inherit,
                        tls,
                    },
                )),
                Err(message) => {
                    broken.insert(name.clone());
                    errors.push(
                        file.source.error_at(listen.span().start, message).with_hint(
                            "write host:port with a numeric host, e.g. \"127.0.0.1:5101\" or \"[::1]:5101\"",
                        ),
                    );
                }
            }
        }
    }
    (listeners, broken)
}

/// The `log` path (expanded) and `log_body_max` of a listener.
fn log_settings(
    file: &SourceFile,
    spec: &crate::spec::ListenerSpec,
    env: &Env,
    errors: &mut Vec<SpecError>,
) -> (Option<PathBuf>, Option<u64>) {
    let log = spec.log.as_ref().and_then(|log| match env.expand(log.get_ref()) {
        Ok(path) if !path.trim().is_empty() => Some(PathBuf::from(path)),
        Ok(_) => {
            errors.push(
                file.source
                    .error_at(log.span().start, "`log` is empty")
                    .with_hint("write a file path such as \"traffic.jsonl\", or remove the key"),
            );
            None
        }
        Err(message) => {
            errors.push(file.source.error_at(log.span().start, message));
            None
        }
    });
    let body_max = spec
        .log_body_max
        .as_ref()
        .and_then(|max| values::size(&file.source, max, "log_body_max").map_err(|error| errors.push(error)).ok());
    (log, body_max)
}

/// Checks each route's listener names (a typo gets the nearest known name).
pub fn check_route_listeners(
    routes: &[Route],
    declared: &BTreeMap<String, Declared>,
    broken: &BTreeSet<String>,
    errors: &mut Vec<SpecError>,
) {
    let known: Vec<&str> = std::iter::once(DEFAULT_LISTENER).chain(declared.keys().map(String::as_str)).collect();
    for route in routes {
        let unknown = |name: &&String| !known.contains(&name.as_str()) && !broken.contains(*name);
        for name in route.listeners.iter().filter(unknown) {
            let hint = match nearest(name, known.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? declared listeners: {}", known.join(", ")),
                None => format!(
                    "declare it with [listener.{name}] listen = \"127.0.0.1:PORT\"; declared: {}",
                    known.join(", ")
                ),
            };
            errors.push(
                located(&route.origin, format!("route `{}` names an unknown listener `{name}`", route.id))
                    .with_hint(hint),
            );
        }
    }
}

/// One [`Listener`] per name, `default` first, each with the matcher of its routes.
pub fn build(
    routes: &[Route],
    segments: &[Vec<Segment>],
    declared: BTreeMap<String, Declared>,
    errors: &mut Vec<SpecError>,
) -> Vec<Listener> {
    let mut listeners = Vec::with_capacity(declared.len() + 1);
    let mut declared = declared;
    let default = declared.remove(DEFAULT_LISTENER);
    let all =
        std::iter::once((DEFAULT_LISTENER.to_owned(), default)).chain(declared.into_iter().map(|(n, d)| (n, Some(d))));
    for (name, declared) in all {
        let served = routes.iter().enumerate().filter(|(_, route)| route.listeners.contains(&name)).map(|(i, _)| i);
        let matcher = build_matcher(routes, segments, served, errors);
        let (listen, origin, log, log_body_max, tls) = match declared {
            Some(d) => (Some(d.listen), Some(d.origin), d.log, d.log_body_max, d.tls),
            None => (None, None, None, None, None),
        };
        listeners.push(Listener { name, listen, origin, matcher, log, log_body_max, tls });
    }
    listeners
}
