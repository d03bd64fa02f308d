//! `GET /manifest`: what this relay serves, in a few lines of JSON: its
//! name and version, the route groups (first tag) with their paths, the
//! documents and Actions sets with their URLs, and how clients authenticate.
//!
//! It also carries the keys of the replaced FastAPI Actions relay's
//! manifest, so its clients keep reading it: `object` (`relay.manifest`),
//! `endpoints` (each a list of paths, from the routes), `meta`, and both
//! again under `data`.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::table::{Protocol, Route};

/// The replaced relay's endpoint groups: name, path prefix, and whether
/// only WebSocket (`Some(true)`) or only HTTP routes belong. A route joins
/// the first group whose prefix it starts with (at a `/` or `:`).
const ENDPOINT_GROUPS: &[(&str, &str, Option<bool>)] = &[
    ("models", "/v1/models", None),
    ("responses_compact", "/v1/responses/compact", None),
    ("responses", "/v1/responses", None),
    ("embeddings", "/v1/embeddings", None),
    ("images_actions", "/v1/actions/images", None),
    ("images", "/v1/images", None),
    ("files", "/v1/files", None),
    ("uploads", "/v1/uploads", None),
    ("batches", "/v1/batches", None),
    ("proxy", "/v1/proxy", None),
    ("realtime_ws", "/v1/realtime", Some(true)),
    ("realtime_http", "/v1/realtime", Some(false)),
];

/// The relay's own health answers (see `executor::builtin`).
const HEALTH_PATHS: &[&str] = &["/health", "/v1/health", "/v1/actions/ping", "/v1/actions/health"];

/// The manifest of a table's routes.
pub fn manifest(
    routes: &[Route],
    actions: &BTreeMap<String, Bytes>,
    has_default: bool,
    server_url: &str,
    auth_required: bool,
) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for route in routes.iter().filter(|r| !r.docs.hidden) {
        let name = route.docs.tags.first().map_or("Other", String::as_str);
        let at = match groups.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                groups.push((name.to_owned(), Vec::new()));
                groups.len() - 1
            }
        };
        let paths = &mut groups[at].1;
        if !paths.contains(&route.path) {
            paths.push(route.path.clone());
        }
    }
    let groups: Vec<Value> = groups.into_iter().map(|(name, paths)| json!({"name": name, "paths": paths})).collect();
    let sets: Vec<Value> = actions
        .keys()
        .map(|name| json!({"name": name, "url": format!("{server_url}/openapi.actions/{name}.json")}))
        .collect();
    let endpoints = endpoints(routes);
    let meta = json!({
        "relay_name": "relay",
        "auth_required": auth_required,
        "auth_header": "X-Relay-Key",
        "upstream_base_url": upstream_base_url(routes),
        "actions_openapi_url": has_default.then(|| format!("{server_url}/openapi.actions.json")),
        "actions_openapi_groups": actions.keys().collect::<Vec<_>>(),
    });
    json!({
        "object": "relay.manifest",
        "data": {"endpoints": endpoints, "meta": meta},
        "endpoints": endpoints,
        "meta": meta,
        "name": "relay",
        "version": env!("CARGO_PKG_VERSION"),
        "server_url": server_url,
        "openapi_url": format!("{server_url}/openapi.json"),
        "routes": routes.iter().filter(|r| !r.docs.hidden).count(),
        "groups": groups,
        "actions": {
            "default_url": has_default.then(|| format!("{server_url}/openapi.actions.json")),
            "sets": sets,
        },
        "auth": {
            "required": auth_required,
            "header": "X-Relay-Key",
            "bearer": true,
            "description": "Non-public routes need a relay key in X-Relay-Key or as Authorization: Bearer \
                            when RELAY_KEYS is set.",
        },
    })
}

/// The paths of each endpoint group, every group present (maybe empty).
fn endpoints(routes: &[Route]) -> Value {
    let mut groups: BTreeMap<&str, Vec<&str>> = ENDPOINT_GROUPS.iter().map(|(name, ..)| (*name, Vec::new())).collect();
    groups.insert("health", HEALTH_PATHS.to_vec());
    // WebSocket routes are hidden from the documents, not from this list.
    for route in routes {
        let websocket = matches!(route.protocol, Protocol::WebSocket(_));
        if route.docs.hidden && !websocket {
            continue;
        }
        let under = |prefix: &str| {
            route.path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', ':']))
        };
        let group = ENDPOINT_GROUPS
            .iter()
            .find(|(_, prefix, only)| under(prefix) && only.is_none_or(|ws| ws == websocket))
            .map(|(name, ..)| *name);
        if let Some(paths) = group.and_then(|name| groups.get_mut(name))
            && !paths.contains(&route.path.as_str())
        {
            paths.push(&route.path);
        }
    }
    json!(groups)
}

/// Where `/v1/responses` (else the first route) goes, without any
/// credentials a URL could hold: scheme, host, port and path.
fn upstream_base_url(routes: &[Route]) -> Option<String> {
    let route = routes.iter().find(|r| r.path == "/v1/responses").or(routes.first())?;
    let uri: actix_web::http::Uri = route.upstream.base_url.parse().ok()?;
    let authority = uri.authority()?;
    let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
    Some(format!("{}://{host_port}{}", uri.scheme_str()?, uri.path().trim_end_matches('/')))
}
