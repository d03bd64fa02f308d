//! `type = "envelope"`: the request to send is described inside the JSON
//! body, for clients that can call only one endpoint (ChatGPT Actions'
//! `/v1/proxy`). Only method and path pairs on the route's allowlist go out.
//!
//! ```toml
//! [[route.transforms]]
//! type = "envelope"
//! allow = ["GET /files", "GET /files/*", "POST /responses", "GET /models/**"]
//! ```
//!
//! The body is `{"method": "GET", "path": "/files", "query": {"limit": 5},
//! "body": {...}}`. `path` is below the upstream's base URL (as in
//! `upstream_path`). In the allowlist, `*` matches one path segment and a
//! final `**` any rest. A path that is unsafe (dot segments, encoded
//! slashes) is 400; a pair not on the list is 403. `query` is an object of
//! values or a ready query string; `body` is sent as JSON.

use actix_web::http::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::error::RelayError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSpec {
    pub allow: Vec<String>,
}

/// The compiled allowlist.
#[derive(Debug)]
pub struct Envelope {
    allow: Vec<(Method, Vec<String>)>,
}

/// The request an envelope describes.
#[derive(Debug, PartialEq)]
pub struct Inner {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub body: Option<Value>,
}

impl Envelope {
    pub fn compile(spec: &EnvelopeSpec) -> Result<Self, String> {
        let mut allow = Vec::new();
        for entry in &spec.allow {
            let (method, path) =
                entry.split_once(' ').ok_or_else(|| format!("allow entry {entry:?} must be \"METHOD /path\""))?;
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("allow entry {entry:?} has no valid method"))?;
            let segments: Vec<String> = path.trim().trim_start_matches('/').split('/').map(str::to_owned).collect();
            if !path.trim().starts_with('/')
                || segments.iter().enumerate().any(|(i, s)| s == "**" && i + 1 != segments.len())
            {
                return Err(format!("allow entry {entry:?}: the path must start with `/`, and `**` can only end it"));
            }
            allow.push((method, segments));
        }
        Ok(Envelope { allow })
    }

    /// Reads and checks the envelope in `body`.
    pub fn open(&self, body: &Value) -> Result<Inner, RelayError> {
        let field = |name: &str| body.get(name).filter(|v| !v.is_null());
        let method = field("method").and_then(Value::as_str).unwrap_or("GET");
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| bad("method", format!("{method:?} is not an HTTP method.")))?;
        let path =
            field("path").and_then(Value::as_str).ok_or_else(|| bad("path", "The envelope needs a `path`.".into()))?;
        if path.contains(['?', '#']) {
            return Err(bad("path", "Put the query in `query`, not in `path`.".into()));
        }
        crate::table::path::check_path(path).map_err(|e| e.with_param("path"))?;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if !self.allow.iter().any(|(m, pattern)| *m == method && matches(pattern, &segments)) {
            return Err(RelayError::forbidden(
                "path_not_allowed",
                format!("{method} {path} is not allowed through this endpoint."),
            )
            .with_param("path"));
        }
        let query = match field("query") {
            None => None,
            Some(Value::String(q)) if !q.contains('#') => Some(q.trim_start_matches('?').to_owned()),
            Some(Value::Object(map)) => Some(encode_query(map)),
            Some(_) => return Err(bad("query", "`query` must be an object or a query string.".into())),
        };
        Ok(Inner {
            method,
            path: path.to_owned(),
            query: query.filter(|q| !q.is_empty()),
            body: field("body").cloned(),
        })
    }
}

fn matches(pattern: &[String], segments: &[&str]) -> bool {
    match (pattern.first().map(String::as_str), segments.first()) {
        (Some("**"), _) => true,
        (None, None) => true,
        (Some(p), Some(s)) if (p == "*" && !s.is_empty()) || p == *s => matches(&pattern[1..], &segments[1..]),
        _ => false,
    }
}

fn encode_query(map: &serde_json::Map<String, Value>) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    map.iter()
        .map(|(key, value)| {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={}", encode(key), encode(&value))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn bad(param: &str, message: String) -> RelayError {
    RelayError::bad_request("invalid_envelope", message).with_param(param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope() -> Envelope {
        let spec =
            EnvelopeSpec { allow: vec!["GET /files".into(), "GET /files/*".into(), "POST /responses/**".into()] };
        Envelope::compile(&spec).unwrap()
    }

    #[test]
    fn allowed_pairs_open_with_query_and_body() {
        let inner = envelope()
            .open(&json!({"method": "get", "path": "/files/file-1", "query": {"limit": 5, "q": "a b"}}))
            .unwrap();
        assert_eq!(inner.method, Method::GET);
        assert_eq!(inner.path, "/files/file-1");
        assert_eq!(inner.query.as_deref(), Some("limit=5&q=a%20b"));
        let inner =
            envelope().open(&json!({"method": "POST", "path": "/responses/r1/cancel", "body": {"x": 1}})).unwrap();
        assert_eq!(inner.body, Some(json!({"x": 1})));
    }

    #[test]
    fn other_pairs_and_unsafe_paths_are_refused() {
        let e = envelope();
        let status = |body: Value| e.open(&body).unwrap_err().status.as_u16();
        assert_eq!(status(json!({"method": "DELETE", "path": "/files/f"})), 403);
        assert_eq!(status(json!({"path": "/files/f/content"})), 403);
        assert_eq!(status(json!({"path": "/fine_tuning/jobs"})), 403);
        assert_eq!(status(json!({"path": "/files/../organization/users"})), 400);
        assert_eq!(status(json!({"path": "/files/%2e%2e"})), 400);
        assert_eq!(status(json!({"path": "/files?x=1"})), 400);
        assert_eq!(status(json!({"method": "GET"})), 400);
        assert!(Envelope::compile(&EnvelopeSpec { allow: vec!["/files".into()] }).is_err());
        assert!(Envelope::compile(&EnvelopeSpec { allow: vec!["GET /a/**/b".into()] }).is_err());
    }
}
