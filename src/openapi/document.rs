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

use actix_web::http::Method;
use serde_json::{Map, Value, json};

use super::schemas::{self, Components, Schema};
use super::trim;
use crate::spec::ResponseKind;
use crate::table::Route;

/// Name of the bearer security scheme.
pub const BEARER_SCHEME: &str = "bearerAuth";
/// Name of the `X-Relay-Key` security scheme.
pub const HEADER_SCHEME: &str = "relayKey";
/// Longest parameter description in an Actions document.
const ACTIONS_PARAMETER_DESCRIPTION: usize = super::checks::MAX_PARAMETER_DESCRIPTION;
/// The page size Actions documents suggest for list operations.
pub const ACTIONS_PAGE: u64 = 20;

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
}

/// How schemas are written into an operation.
pub enum Style<'c> {
    /// As `$ref`s into the full document's components.
    Full(&'c mut Components),
    /// Inline, trimmed for a model to read.
    Actions,
}

impl Style<'_> {
    fn schema(&mut self, schema: &Schema, depth: usize) -> Value {
        match self {
            Style::Full(components) => components.reference(schema),
            Style::Actions => trim::trim(&schema.value, depth),
        }
    }

    /// A schema that is not a file of its own (a `validate` schema).
    fn inline(&self, schema: &Value) -> Value {
        match self {
            Style::Full(_) => embedded_schema(schema),
            Style::Actions => trim::trim(schema, trim::REQUEST_DEPTH),
        }
    }
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
    let mut built: Vec<(&Operation<'_>, Value)> = operations.iter().map(|op| (op, operation(op, &mut style))).collect();
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

/// The operation object of `op` (with the full document's security).
pub fn operation(op: &Operation<'_>, style: &mut Style<'_>) -> Value {
    let (route, method) = (op.spec, &op.method);
    let docs = &route.docs;
    let mut out = Map::new();
    out.insert("operationId".into(), op.id.as_str().into());
    if let Some(summary) = &docs.summary {
        out.insert("summary".into(), summary.as_str().into());
    }
    if let Some(description) = &docs.description {
        out.insert("description".into(), description.as_str().into());
    }
    if !docs.tags.is_empty() {
        out.insert("tags".into(), docs.tags.clone().into());
    }
    let parameters = parameters(route, style);
    if !parameters.is_empty() {
        out.insert("parameters".into(), parameters.into());
    }
    if let Some(body) = request_body(route, method, style) {
        out.insert("requestBody".into(), body);
    }
    out.insert("responses".into(), responses(docs.response, docs.schemas.response.as_deref(), style));
    if docs.deprecated {
        out.insert("deprecated".into(), true.into());
    }
    let security = if route.public { json!([]) } else { json!([{BEARER_SCHEME: []}, {HEADER_SCHEME: []}]) };
    out.insert("security".into(), security);
    Value::Object(out)
}

fn parameters(route: &Route, style: &Style<'_>) -> Vec<Value> {
    let mut out: Vec<Value> = route.params.iter().map(|name| path_parameter(name, &route.path)).collect();
    let Some(query) = route.docs.schemas.query.as_deref() else { return out };
    for (name, required, schema) in query.query_parameters() {
        if let Style::Actions = style {
            // Actions do not read streams.
            if name == "stream" {
                continue;
            }
            let mut param = schemas::parameter(name, "query", required, &trim::trim(schema, trim::REQUEST_DEPTH));
            actions_parameter(&mut param);
            out.push(param);
        } else {
            out.push(schemas::parameter(name, "query", required, schema));
        }
    }
    out
}

/// A query parameter for Actions: a short description, and small pages.
fn actions_parameter(param: &mut Value) {
    if let Some(description) = param.get("description").and_then(Value::as_str) {
        param["description"] = trim::shorten(description, ACTIONS_PARAMETER_DESCRIPTION).into();
    }
    if param["name"] == "limit" && param["schema"]["type"] == "integer" {
        let default = param["schema"]["default"].as_u64().map_or(ACTIONS_PAGE, |d| d.min(ACTIONS_PAGE));
        param["schema"]["default"] = default.into();
        param["description"] = format!(
            "How many objects to return. Send {default} or fewer: ChatGPT reads at most ~100,000 characters of an answer."
        )
        .into();
    }
}

fn path_parameter(name: &str, path: &str) -> Value {
    let mut param = json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    if path.contains(&format!("{{*{name}}}")) {
        param["description"] = "The rest of the path; it may contain `/`.".into();
    }
    param
}

fn request_body(route: &Route, method: &Method, style: &mut Style<'_>) -> Option<Value> {
    if [Method::GET, Method::HEAD, Method::DELETE, Method::OPTIONS].contains(method) {
        return None;
    }
    let schemas = &route.docs.schemas;
    let validate = route.transforms.validate_schema();
    let multipart = route.transforms.multipart();
    let default = ["application/json".to_owned()];
    let accept = if route.body.accept.is_empty() { &default[..] } else { &route.body.accept[..] };
    let mut content = Map::new();
    let mut described = false;
    for media in accept {
        let schema = if crate::transforms::is_json(Some(media)) {
            described |= schemas.request.is_some() || validate.is_some() || multipart.is_some();
            match (&schemas.request, validate, multipart) {
                (Some(schema), _, _) => style.schema(schema, trim::REQUEST_DEPTH),
                (None, Some(schema), _) => style.inline(schema),
                (None, None, Some(multipart)) => multipart.request_schema(),
                (None, None, None) => json!({"type": "object"}),
            }
        } else if media == "multipart/form-data" {
            described |= schemas.multipart.is_some();
            match &schemas.multipart {
                Some(schema) => style.schema(schema, trim::REQUEST_DEPTH),
                None => json!({"type": "object"}),
            }
        } else {
            json!({"type": "string", "format": "binary"})
        };
        content.insert(media.clone(), json!({"schema": schema}));
    }
    // A schema that admits only `{}` says the operation takes no body.
    let empty = schemas.request.as_ref().is_some_and(|s| s.value.get("maxProperties") == Some(&json!(0)));
    Some(json!({"required": described && !empty, "content": content}))
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

fn responses(kind: ResponseKind, schema: Option<&Schema>, style: &mut Style<'_>) -> Value {
    let json_body =
        json!({"schema": schema.map_or_else(|| json!({"type": "object"}), |s| style.schema(s, trim::RESPONSE_DEPTH))});
    let text = json!({"schema": {"type": "string"}});
    let actions = matches!(style, Style::Actions);
    let ok = match kind {
        ResponseKind::Json => json!({"description": "Success.", "content": {"application/json": json_body}}),
        // Actions do not read streams: they are described by the JSON answer.
        ResponseKind::JsonOrSse if actions => {
            json!({"description": "Success.", "content": {"application/json": json_body}})
        }
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
