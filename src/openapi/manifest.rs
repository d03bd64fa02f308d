//! `GET /manifest`: what this relay serves, in a few lines of JSON: its
//! name and version, the route groups (first tag) with their paths, the
//! documents and Actions sets with their URLs, and how clients authenticate.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::table::Route;

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
    json!({
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
