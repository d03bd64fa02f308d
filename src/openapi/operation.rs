//! One operation object: parameters (path, and query from
//! `openapi.query_schema`), the request body by media type, and the
//! responses, with schemas written as the [`Style`] says (component
//! references in the full document, trimmed inline in Actions documents).

use actix_web::http::Method;
use serde_json::{Map, Value, json};

use super::model::{BEARER_SCHEME, HEADER_SCHEME, MAX_PARAMETER_DESCRIPTION, Operation, Style};
use super::schemas::{self, Schema};
use super::trim;
use crate::spec::ResponseKind;
use crate::table::Route;

/// Longest parameter description in an Actions document.
const ACTIONS_PARAMETER_DESCRIPTION: usize = MAX_PARAMETER_DESCRIPTION;
/// The page size Actions documents suggest for list operations.
pub const ACTIONS_PAGE: u64 = 20;

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
        let schema = if crate::media::is_json(Some(media)) {
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
