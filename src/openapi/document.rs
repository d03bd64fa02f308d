//! The full OpenAPI 3.1.0 document: every route that is not hidden, with one
//! operation per method, and the operation objects Actions documents use.
//!
//! - `operationId` is the route's (`openapi.operation_id`, else the id with
//!   `.` and `-` as `_`); a route with several methods adds `_get`, `_post`...
//! - Path parameters are required strings; `{*rest}` is written `{rest}`.
//!   Query parameters come from `openapi.query_schema`.
//! - The request body follows `body.accept`: JSON with `openapi.request_schema`
//!   (else the `validate` schema, else the JSON form a `json_to_multipart`
//!   transform reads, files as Actions' `openaiFileIdRefs`, else any
//!   object), multipart with `openapi.multipart_schema` (else any object),
//!   anything else as binary. GET, HEAD, DELETE and OPTIONS take none.
//! - Responses follow `openapi.response`, with `openapi.response_schema` for
//!   JSON; every operation has a `default` error response in the OpenAI
//!   error shape.
//! - Non-public routes need a relay key (`Authorization: Bearer` or
//!   `X-Relay-Key`); public routes have `security: []`.
//! - Schema files are written once, under `components/schemas`
//!   ([`Components`]); Actions documents inline them trimmed ([`super::trim`]).

use serde_json::{Map, Value, json};

use super::model::{BEARER_SCHEME, HEADER_SCHEME, Operation, Style};
use super::schemas::Components;
use crate::table::Route;

/// Every documented operation, in table order.
pub fn operations(routes: &[Route]) -> Vec<Operation<'_>> {
    let mut out = Vec::new();
    for (index, route) in routes.iter().enumerate().filter(|(_, r)| !r.docs.hidden) {
        let path = openapi_path(&route.path);
        for method in &route.methods {
            let id = match route.methods.len() {
                1 => route.docs.operation_id.clone(),
                _ => format!("{}_{}", route.docs.operation_id, method.as_str().to_ascii_lowercase()),
            };
            out.push(Operation { route: index, spec: route, method: method.clone(), path: path.clone(), id });
        }
    }
    out
}

/// The full document.
pub fn full(operations: &[Operation<'_>], server_url: &str) -> Value {
    let mut tags: Vec<&str> = Vec::new();
    for op in operations {
        for tag in &op.spec.docs.tags {
            if !tags.contains(&tag.as_str()) {
                tags.push(tag);
            }
        }
    }
    let tags: Vec<Value> = tags.into_iter().map(|name| json!({"name": name})).collect();
    let mut base = components(true);
    let shared = base["schemas"].as_object_mut().map(std::mem::take).unwrap_or_default();
    let mut components = Components::new(shared);
    let mut style = Style::Full(&mut components);
    let mut built: Vec<(&Operation<'_>, Value)> =
        operations.iter().map(|op| (op, super::operation::operation(op, &mut style))).collect();
    let health = health_operation(operations);
    let mut paths = paths(built.drain(..));
    if let (Some(health), Some(paths)) = (health, paths.as_object_mut()) {
        paths.insert(HEALTH_PATH.into(), health);
    }
    base["schemas"] = Value::Object(components.into_map());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "relay",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The OpenAI API as served by this relay. Requests are forwarded upstream; \
                            errors the relay answers itself use the OpenAI error shape.",
        },
        "servers": [{"url": server_url}],
        "tags": tags,
        "paths": paths,
        "components": base,
    })
}

/// Where the relay answers health checks itself.
pub const HEALTH_PATH: &str = "/v1/health";

/// The relay's own health check as a path item, unless a route serves its path.
pub fn health_operation(operations: &[Operation<'_>]) -> Option<Value> {
    if operations.iter().any(|op| op.path == HEALTH_PATH) {
        return None;
    }
    Some(json!({"get": {
        "operationId": "relayHealth",
        "summary": "Check that the relay is up (no upstream call, no key needed)",
        "responses": {
            "200": {"description": "The relay is up.", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "routes": {"type": "integer", "description": "How many routes the relay serves."},
                },
            }}}},
        },
        "security": [],
        "x-openai-isConsequential": false,
    }}))
}

/// The `paths` object from operations and their values.
pub fn paths<'a, 'r: 'a>(operations: impl Iterator<Item = (&'a Operation<'r>, Value)>) -> Value {
    let mut paths = Map::new();
    for (op, value) in operations {
        let item = paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            item.insert(op.method.as_str().to_ascii_lowercase(), value);
        }
    }
    Value::Object(paths)
}

/// Shared components: the error shape and the security schemes (the
/// `X-Relay-Key` scheme only when `with_header_key`).
pub fn components(with_header_key: bool) -> Value {
    let mut schemes = Map::new();
    schemes.insert(
        BEARER_SCHEME.into(),
        json!({"type": "http", "scheme": "bearer", "description": "A relay key (RELAY_KEYS) as a bearer token."}),
    );
    if with_header_key {
        schemes.insert(
            HEADER_SCHEME.into(),
            json!({"type": "apiKey", "in": "header", "name": "X-Relay-Key", "description": "A relay key (RELAY_KEYS)."}),
        );
    }
    json!({
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["message", "type"],
                        "properties": {
                            "message": {"type": "string"},
                            "type": {"type": "string"},
                            "param": {"type": ["string", "null"]},
                            "code": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        },
        "responses": {
            "Error": {
                "description": "An error in the OpenAI shape, from the relay or the upstream.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
        "securitySchemes": schemes,
    })
}

/// `/v1/x/{*rest}` as an OpenAPI template: `/v1/x/{rest}`.
pub fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}
