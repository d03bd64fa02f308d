//! ChatGPT Actions documents: one per set named in `openapi.actions`.
//!
//! An Actions document is an OpenAPI 3.1.0 document with only the set's
//! operations, each marked `x-openai-isConsequential` (the spec's
//! `consequential`, else false for GET and true otherwise). It declares one
//! security scheme, bearer, because a custom GPT sends its API key as
//! `Authorization: Bearer`, and ChatGPT accepts a single scheme. Schemas are
//! inlined and trimmed for a model to read ([`super::trim`]); the default set
//! also offers the relay's own health check.

use std::collections::BTreeMap;

use actix_web::http::Method;
use serde_json::{Value, json};

use super::DEFAULT_SET;
use super::document;
use super::model::{BEARER_SCHEME, Operation, Style};
use crate::table::Route;

/// The Actions sets: route indices of each named set, and of their union.
#[derive(Debug, Default)]
pub struct Sets {
    pub named: BTreeMap<String, Vec<usize>>,
    pub union: Vec<usize>,
}

/// The sets the routes name, in table order.
pub fn sets(routes: &[Route]) -> Sets {
    let mut sets = Sets::default();
    for (index, route) in routes.iter().enumerate() {
        for name in &route.docs.actions {
            let members = sets.named.entry(name.clone()).or_default();
            if !members.contains(&index) {
                members.push(index);
            }
        }
        if !route.docs.actions.is_empty() {
            sets.union.push(index);
        }
    }
    sets
}

/// Whether an operation is consequential (ChatGPT asks before calling it).
pub fn consequential(route: &Route, method: &Method) -> bool {
    route.docs.consequential.unwrap_or(*method != Method::GET)
}

/// The operation object as it appears in an Actions document: schemas
/// inlined and trimmed, one security scheme, `x-openai-isConsequential`.
pub fn operation_value(op: &Operation<'_>) -> Value {
    let mut value = super::operation::operation(op, &mut Style::Actions);
    value["security"] = if op.spec.public { json!([]) } else { json!([{BEARER_SCHEME: []}]) };
    value["x-openai-isConsequential"] = consequential(op.spec, &op.method).into();
    value
}

/// The document of one set, from its operations and their values; the
/// default set also gets the relay's health check (`health`).
pub fn document<'a, 'r: 'a>(
    name: &str,
    chosen: impl Iterator<Item = (&'a Operation<'r>, Value)>,
    health: Option<&Value>,
    server_url: &str,
) -> Value {
    let description = match name {
        DEFAULT_SET => "The default ChatGPT Actions set of this relay.".to_owned(),
        _ => format!("The ChatGPT Actions set `{name}` of this relay."),
    };
    let mut paths = document::paths(chosen);
    if let (Some(health), Some(paths)) = (health, paths.as_object_mut()) {
        paths.insert(document::HEALTH_PATH.into(), health.clone());
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": format!("relay: {name}"), "version": env!("CARGO_PKG_VERSION"), "description": description},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": document::components(false),
    })
}
