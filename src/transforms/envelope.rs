//! `type = "envelope"`: the request to send is described inside the JSON
//! body, for clients that can call only one endpoint (ChatGPT Actions'
//! `/v1/proxy`). Only method and path pairs on the route's allowlist go out.
//!
//! ```toml
//! [[route.transforms]]
//! type = "envelope"
//! allow = ["GET /files", "GET /files/*", "POST /responses", "GET /models/**"]
//! strip_prefix = "/v1"   # optional: `/v1/files` is taken as `/files`
//! ```
//!
//! The body is `{"method": "GET", "path": "/files", "query": {"limit": 5},
//! "body": {...}}`:
//! - `method` is required; case is ignored.
//! - `path` is below the upstream's base URL (as in `upstream_path`), or the
//!   same with `strip_prefix` before it. In the allowlist, `*` matches one
//!   path segment and a final `**` any rest. A path with a query, a
//!   character that cannot stand in a URL path, dot segments or encoded
//!   slashes is 400; a pair not on the list is 403.
//! - `query` is an object (a list value repeats the key, `null` is left out)
//!   or a ready query string, whose characters are checked like the path's.
//! - The inner body is sent as JSON. It may be named `body`, `json` or
//!   `payload`; more than one of them is 400.

use actix_web::http::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::error::RelayError;

/// The names the inner body may have; at most one may be given.
pub const BODY_FIELDS: [&str; 3] = ["body", "json", "payload"];

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSpec {
    pub allow: Vec<String>,
    /// A prefix a client may write before the path (e.g. `/v1`); removed.
    #[serde(default)]
    pub strip_prefix: Option<String>,
}

/// The compiled allowlist.
#[derive(Debug)]
pub struct Envelope {
    allow: Vec<(Method, Vec<String>)>,
    strip_prefix: Option<String>,
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
        let strip_prefix = spec.strip_prefix.as_deref().map(|p| p.trim_end_matches('/').to_owned());
        if let Some(prefix) = &strip_prefix
            && (!prefix.starts_with('/') || prefix.len() < 2 || !prefix.chars().all(is_path_char))
        {
            return Err(format!("`strip_prefix` {prefix:?} must be a path such as \"/v1\""));
        }
        Ok(Envelope { allow, strip_prefix })
    }

    /// Reads and checks the envelope in `body`.
    pub fn open(&self, body: &Value) -> Result<Inner, RelayError> {
        let field = |name: &str| body.get(name).filter(|v| !v.is_null());
        let method = match field("method") {
            Some(Value::String(method)) => method,
            Some(_) => return Err(bad("method", "`method` must be a string such as \"GET\".".into())),
            None => return Err(bad("method", "The envelope needs a `method`, such as \"GET\" or \"POST\".".into())),
        };
        let method = Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| bad("method", format!("{method:?} is not an HTTP method.")))?;
        let path = match field("path") {
            Some(Value::String(path)) => self.strip(path),
            Some(_) => return Err(bad("path", "`path` must be a string such as \"/v1/models\".".into())),
            None => return Err(bad("path", "The envelope needs a `path`, such as \"/v1/models\".".into())),
        };
        if path.contains(['?', '#']) {
            return Err(bad("path", "Put the query in `query`, not in `path`.".into()));
        }
        check_uri_text("path", path, "")?;
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
            Some(Value::String(q)) => {
                let q = q.trim_start_matches('?');
                check_uri_text("query", q, "?")?;
                Some(q.to_owned())
            }
            Some(Value::Object(map)) => Some(encode_query(map)),
            Some(_) => return Err(bad("query", "`query` must be an object or a query string.".into())),
        };
        let bodies: Vec<&str> = BODY_FIELDS.into_iter().filter(|name| field(name).is_some()).collect();
        if let [_, _, ..] = bodies.as_slice() {
            let names = bodies.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(" and ");
            return Err(bad("body", format!("Send the request body once: {names} were both given.")));
        }
        Ok(Inner {
            method,
            path: path.to_owned(),
            query: query.filter(|q| !q.is_empty()),
            body: bodies.first().and_then(|name| field(name)).cloned(),
        })
    }

    /// The path without the optional prefix (only at a segment boundary).
    fn strip<'a>(&self, path: &'a str) -> &'a str {
        match &self.strip_prefix {
            Some(prefix) => match path.strip_prefix(prefix.as_str()) {
                Some(rest) if rest.starts_with('/') => rest,
                _ => path,
            },
            None => path,
        }
    }
}

/// Refuses a character that cannot stand in a URL path (or query, with
/// `also` = `?`) as it is, and a broken `%` escape.
fn check_uri_text(param: &str, text: &str, also: &str) -> Result<(), RelayError> {
    let bytes = text.as_bytes();
    let bad_escape = |at: usize| !(bytes.len() > at + 2 && bytes[at + 1..at + 3].iter().all(u8::is_ascii_hexdigit));
    let invalid = text.char_indices().find_map(|(at, c)| {
        let invalid = if c == '%' { bad_escape(at) } else { !is_path_char(c) && !also.contains(c) };
        invalid.then_some(c)
    });
    match invalid {
        Some(c) => Err(bad(
            param,
            format!("`{param}` holds {c:?}, which cannot stand in a URL as it is; percent-encode it or remove it."),
        )),
        None => Ok(()),
    }
}

/// RFC 3986 path characters (`%` escapes are checked apart).
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/".contains(c)
}

fn matches(pattern: &[String], segments: &[&str]) -> bool {
    match (pattern.first().map(String::as_str), segments.first()) {
        (Some("**"), _) => true,
        (None, None) => true,
        (Some(p), Some(s)) if (p == "*" && !s.is_empty()) || p == *s => matches(&pattern[1..], &segments[1..]),
        _ => false,
    }
}

/// `key=value&...`: a list repeats the key, `null` (alone or in a list) is
/// left out, strings go as they are and other values as JSON.
fn encode_query(map: &serde_json::Map<String, Value>) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let mut pairs = Vec::new();
    for (key, value) in map {
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for value in values {
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            pairs.push(format!("{}={}", encode(key), encode(&text)));
        }
    }
    pairs.join("&")
}

fn bad(param: &str, message: String) -> RelayError {
    RelayError::bad_request("invalid_envelope", message).with_param(param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope() -> Envelope {
        let allow = vec!["GET /files".into(), "GET /files/*".into(), "POST /responses/**".into()];
        Envelope::compile(&EnvelopeSpec { allow, strip_prefix: Some("/v1/".into()) }).unwrap()
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
    fn the_prefix_is_optional_and_the_body_has_three_names() {
        let e = envelope();
        assert_eq!(e.open(&json!({"method": "GET", "path": "/v1/files/f"})).unwrap().path, "/files/f");
        assert_eq!(e.open(&json!({"method": "GET", "path": "/v1files"})).unwrap_err().status.as_u16(), 403);
        for name in BODY_FIELDS {
            let inner = e.open(&json!({"method": "POST", "path": "/responses", name: {"n": name}})).unwrap();
            assert_eq!(inner.body, Some(json!({"n": name})), "{name}");
        }
        let inner = e.open(&json!({"method": "POST", "path": "/responses", "body": null, "json": 1})).unwrap();
        assert_eq!(inner.body, Some(json!(1)));
        let err = e.open(&json!({"method": "POST", "path": "/responses", "json": {}, "payload": {}})).unwrap_err();
        assert_eq!((err.status.as_u16(), err.param.as_deref()), (400, Some("body")));
        assert!(err.message.contains("`json` and `payload`"), "{}", err.message);
    }

    #[test]
    fn lists_repeat_query_keys_and_nulls_are_left_out() {
        let query = json!({"include": ["a", null, "b"], "after": null, "limit": 2, "flag": true});
        let inner = envelope().open(&json!({"method": "GET", "path": "/files", "query": query})).unwrap();
        assert_eq!(inner.query.as_deref(), Some("flag=true&include=a&include=b&limit=2"));
        let inner = envelope().open(&json!({"method": "GET", "path": "/files", "query": {"x": null}})).unwrap();
        assert_eq!(inner.query, None);
    }

    #[test]
    fn other_pairs_and_unsafe_paths_are_refused() {
        let e = envelope();
        let refusal = |body: Value| {
            let err = e.open(&body).unwrap_err();
            (err.status.as_u16(), err.param.unwrap_or_default())
        };
        assert_eq!(refusal(json!({"method": "DELETE", "path": "/files/f"})), (403, "path".into()));
        assert_eq!(refusal(json!({"method": "GET", "path": "/files/f/content"})), (403, "path".into()));
        assert_eq!(refusal(json!({"method": "GET", "path": "/fine_tuning/jobs"})), (403, "path".into()));
        assert_eq!(refusal(json!({"method": "GET", "path": "/files/../organization/users"})), (400, "path".into()));
        assert_eq!(refusal(json!({"method": "GET", "path": "/files/%2e%2e"})), (400, "path".into()));
        assert_eq!(refusal(json!({"method": "GET", "path": "/files?x=1"})), (400, "path".into()));
        for bad in ["/files/a b", "/files/{file_id}", "/files/%zz", "/files/%4", "/files/é", "/files/a\"b"] {
            assert_eq!(refusal(json!({"method": "GET", "path": bad})), (400, "path".into()), "{bad}");
        }
        assert_eq!(refusal(json!({"method": "GET"})), (400, "path".into()));
        for bad in ["a b", "a=1#x", "x=%g0", "q=\"1\""] {
            assert_eq!(refusal(json!({"method": "GET", "path": "/files", "query": bad})), (400, "query".into()));
        }
        let inner = e.open(&json!({"method": "GET", "path": "/files", "query": "?a=1&b=%20/?"})).unwrap();
        assert_eq!(inner.query.as_deref(), Some("a=1&b=%20/?"));
        assert_eq!(refusal(json!({"path": "/files"})), (400, "method".into()));
        assert_eq!(refusal(json!({"method": 1, "path": "/files"})), (400, "method".into()));
        assert!(Envelope::compile(&EnvelopeSpec { allow: vec!["/files".into()], strip_prefix: None }).is_err());
        assert!(Envelope::compile(&EnvelopeSpec { allow: vec!["GET /a/**/b".into()], strip_prefix: None }).is_err());
        assert!(Envelope::compile(&EnvelopeSpec { allow: vec![], strip_prefix: Some("v1".into()) }).is_err());
    }
}
