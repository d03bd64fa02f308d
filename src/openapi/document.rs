//! The full OpenAPI 3.1.0 document: every route that is not hidden, with one
//! operation per method.
//!
//! - `operationId` is the route's (`openapi.operation_id`, else the id with
//!   `.` and `-` as `_`); a route with several methods adds `_get`, `_post`...
//! - Path parameters are required strings; `{*rest}` is written `{rest}`.
//! - The request body follows `body.accept`: JSON (the `validate` schema if
//!   the route has one, or the JSON form a `json_to_multipart` transform
//!   reads, files as Actions' `openaiFileIdRefs`), multipart as an object,
//!   anything else as binary.
//!   GET, HEAD, DELETE and OPTIONS take none.
//! - Responses follow `openapi.response`; every operation has a `default`
//!   error response in the OpenAI error shape.
//! - Non-public routes need a relay key (`Authorization: Bearer` or
//!   `X-Relay-Key`); public routes have `security: []`.

use actix_web::http::Method;
use serde_json::{Map, Value, json};

use crate::spec::ResponseKind;
use crate::table::Route;

/// Name of the bearer security scheme.
pub const BEARER_SCHEME: &str = "bearerAuth";
/// Name of the `X-Relay-Key` security scheme.
pub const HEADER_SCHEME: &str = "relayKey";

/// One operation of the document, with the route it documents.
#[derive(Debug)]
pub struct Operation<'r> {
    /// Index into the table's routes.
    pub route: usize,
    pub spec: &'r Route,
    pub method: Method,
    /// The OpenAPI path template.
    pub path: String,
    pub id: String,
    /// The operation object (with the full document's security).
    pub value: Value,
}

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
            let value = operation(route, method, &id);
            out.push(Operation { route: index, spec: route, method: method.clone(), path: path.clone(), id, value });
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
        "paths": paths(operations.iter().map(|op| (op, op.value.clone()))),
        "components": components(true),
    })
}

/// The `paths` object from operations and their (possibly adjusted) values.
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

fn operation(route: &Route, method: &Method, id: &str) -> Value {
    let docs = &route.docs;
    let mut op = Map::new();
    op.insert("operationId".into(), id.into());
    if let Some(summary) = &docs.summary {
        op.insert("summary".into(), summary.as_str().into());
    }
    if let Some(description) = &docs.description {
        op.insert("description".into(), description.as_str().into());
    }
    if !docs.tags.is_empty() {
        op.insert("tags".into(), docs.tags.clone().into());
    }
    let parameters: Vec<Value> = route.params.iter().map(|name| parameter(name, &route.path)).collect();
    if !parameters.is_empty() {
        op.insert("parameters".into(), parameters.into());
    }
    if let Some(body) = request_body(route, method) {
        op.insert("requestBody".into(), body);
    }
    op.insert("responses".into(), responses(docs.response));
    if docs.deprecated {
        op.insert("deprecated".into(), true.into());
    }
    let security = if route.public { json!([]) } else { json!([{BEARER_SCHEME: []}, {HEADER_SCHEME: []}]) };
    op.insert("security".into(), security);
    Value::Object(op)
}

fn parameter(name: &str, path: &str) -> Value {
    let mut param = json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    if path.contains(&format!("{{*{name}}}")) {
        param["description"] = "The rest of the path; it may contain `/`.".into();
    }
    param
}

fn request_body(route: &Route, method: &Method) -> Option<Value> {
    if [Method::GET, Method::HEAD, Method::DELETE, Method::OPTIONS].contains(method) {
        return None;
    }
    let schema = route.transforms.validate_schema();
    let default = ["application/json".to_owned()];
    let accept = if route.body.accept.is_empty() { &default[..] } else { &route.body.accept[..] };
    let mut content = Map::new();
    for media in accept {
        let schema = if crate::media::is_json(Some(media)) {
            match (schema, route.transforms.multipart()) {
                (Some(schema), _) => embedded_schema(schema),
                (None, Some(multipart)) => multipart.request_schema(),
                (None, None) => json!({"type": "object"}),
            }
        } else if media == "multipart/form-data" {
            json!({"type": "object"})
        } else {
            json!({"type": "string", "format": "binary"})
        };
        content.insert(media.clone(), json!({"schema": schema}));
    }
    let required = schema.is_some() || route.transforms.multipart().is_some();
    Some(json!({"required": required, "content": content}))
}

/// A `validate` schema inside the document: `$schema` and `$id` are dropped
/// (the document's dialect applies).
fn embedded_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("$id");
    }
    schema
}

fn responses(kind: ResponseKind) -> Value {
    let json_body = json!({"schema": {"type": "object"}});
    let text = json!({"schema": {"type": "string"}});
    let ok = match kind {
        ResponseKind::Json => json!({"description": "Success.", "content": {"application/json": json_body}}),
        ResponseKind::JsonOrSse => json!({
            "description": "Success: JSON, or server-sent events when the request asks to stream.",
            "content": {"application/json": json_body, "text/event-stream": text},
        }),
        ResponseKind::Sse => json!({"description": "Server-sent events.", "content": {"text/event-stream": text}}),
        ResponseKind::Binary => json!({
            "description": "The content, as bytes.",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }),
        ResponseKind::Empty => json!({"description": "Success, without a body."}),
        ResponseKind::Sdp => json!({"description": "An SDP answer.", "content": {"application/sdp": text}}),
    };
    json!({"200": ok, "default": {"$ref": "#/components/responses/Error"}})
}
