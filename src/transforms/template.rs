//! `type = "template"`: render the upstream path, header values or the whole
//! JSON body from the request, with minijinja.
//!
//! ```toml
//! [[route.transforms]]
//! type = "template"
//! path = "/responses/{{ params.response_id }}/input_items"
//! headers = { X-Model = "{{ body.model }}" }
//! body = '''{"model": {{ body.model }}, "input": {{ body.prompt }}}'''
//! ```
//!
//! The context holds `params` (path parameters), `query` (first value of each
//! query parameter), `headers` (lowercase names; credentials left out) and
//! `body` (the JSON body, when there is one). Every `{{ ... }}` is encoded for
//! where it lands, so request data cannot inject structure:
//! - in `path`, values are percent-encoded (a value cannot add a segment);
//! - in `body`, values are written as JSON (`{{ body.prompt }}` yields a
//!   quoted, escaped string; build strings with `~`, e.g. `{{ a ~ "-" ~ b }}`);
//! - in `headers`, values are written as text, and a line break is refused.
//!
//! Undefined variables are errors (400), so a missing field is never sent as
//! an empty string; test with `is defined` or `| default(...)`.
//! Templates compile when the table is built; a syntax error is a spec error.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value as TemplateValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::RequestContext;
use crate::error::RelayError;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    pub path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

/// Compiled templates; each part has its own environment and encoder.
pub struct Template {
    path: Option<Environment<'static>>,
    headers: Vec<(actix_web::http::header::HeaderName, Environment<'static>)>,
    body: Option<Environment<'static>>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("path", &self.path.is_some())
            .field("headers", &self.headers.len())
            .field("body", &self.body.is_some())
            .finish()
    }
}

const NAME: &str = "t";

#[derive(Clone, Copy)]
enum Encoding {
    Path,
    Json,
    Text,
}

fn environment(source: &str, encoding: Encoding, what: &str) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    match encoding {
        Encoding::Path => env.set_formatter(|out, _, value| {
            let text = value.to_string();
            if text == "." || text == ".." {
                return Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, DOT_SEGMENT));
            }
            out.write_str(&utf8_percent_encode(&text, PATH_SEGMENT).to_string())
                .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
        }),
        Encoding::Json => env.set_formatter(|out, _, value| {
            if value.is_undefined() {
                return Err(minijinja::Error::from(minijinja::ErrorKind::UndefinedError));
            }
            let json = serde_json::to_string(value)
                .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e.to_string()))?;
            out.write_str(&json).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
        }),
        Encoding::Text => {}
    }
    env.add_template_owned(NAME, source.to_owned()).map_err(|e| template_error(what, &e))?;
    Ok(env)
}

fn template_error(what: &str, e: &minijinja::Error) -> String {
    let line = e.line().map(|l| format!(" (template line {l})")).unwrap_or_default();
    format!("{what} template: {}{line}", e.detail().unwrap_or("syntax error"))
}

/// What a path value is encoded to: everything but RFC 3986's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) is percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Why a value that is exactly `.` or `..` is refused in a path: encoded or
/// not, an upstream may resolve it as a dot segment.
const DOT_SEGMENT: &str = "a path value may not be `.` or `..`";

impl Template {
    pub fn compile(spec: &TemplateSpec) -> Result<Self, String> {
        if spec.path.is_none() && spec.headers.is_empty() && spec.body.is_none() {
            return Err("a template needs `path`, `headers` or `body`".into());
        }
        if let Some(path) = &spec.path
            && !path.starts_with('/')
        {
            return Err("the `path` template must start with `/`".into());
        }
        let path = spec.path.as_deref().map(|s| environment(s, Encoding::Path, "path")).transpose()?;
        let body = spec.body.as_deref().map(|s| environment(s, Encoding::Json, "body")).transpose()?;
        let mut headers = Vec::new();
        for (name, source) in &spec.headers {
            let header = actix_web::http::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            headers.push((header, environment(source, Encoding::Text, &format!("header `{name}`"))?));
        }
        Ok(Template { path, headers, body })
    }

    /// Whether rendering needs the request body.
    pub fn uses_body(&self) -> bool {
        self.body.is_some()
            || self.path.as_ref().is_some_and(mentions_body)
            || self.headers.iter().any(|(_, e)| mentions_body(e))
    }

    pub fn has_path(&self) -> bool {
        self.path.is_some()
    }

    /// The upstream path, if this template sets one.
    pub fn render_path(&self, cx: &RequestContext<'_>) -> Result<Option<String>, RelayError> {
        self.path.as_ref().map(|env| render(env, cx, "path")).transpose()
    }

    /// The header values this template sets.
    pub fn render_headers(
        &self,
        cx: &RequestContext<'_>,
    ) -> Result<Vec<(actix_web::http::header::HeaderName, actix_web::http::header::HeaderValue)>, RelayError> {
        let mut out = Vec::with_capacity(self.headers.len());
        for (name, env) in &self.headers {
            let text = render(env, cx, name.as_str())?;
            let value = actix_web::http::header::HeaderValue::from_str(&text).map_err(|_| {
                RelayError::bad_request(
                    "invalid_header",
                    format!("The rendered value of header {name} is not a valid header value."),
                )
            })?;
            out.push((name.clone(), value));
        }
        Ok(out)
    }

    /// The new JSON body, if this template sets one.
    pub fn render_body(&self, cx: &RequestContext<'_>) -> Result<Option<serde_json::Value>, RelayError> {
        let Some(env) = &self.body else { return Ok(None) };
        let text = render(env, cx, "body")?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            RelayError::internal(
                "template_invalid_json",
                format!("The route's body template produced invalid JSON: {e}."),
            )
        })
    }
}

fn mentions_body(env: &Environment<'static>) -> bool {
    env.get_template(NAME).is_ok_and(|t| t.undeclared_variables(false).contains("body"))
}

fn render(env: &Environment<'static>, cx: &RequestContext<'_>, what: &str) -> Result<String, RelayError> {
    let template = env.get_template(NAME).map_err(|e| RelayError::internal("template_missing", e.to_string()))?;
    template.render(TemplateValue::from(minijinja::value::Serde(cx))).map_err(|e| {
        let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
        let code = if detail == DOT_SEGMENT { "invalid_path" } else { "template_failed" };
        RelayError::bad_request(code, format!("The request does not fit this route's {what} template: {detail}."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(toml_text: &str) -> Template {
        Template::compile(&toml::from_str(toml_text).unwrap()).unwrap()
    }

    fn parts() -> &'static super::super::RequestParts {
        Box::leak(Box::new(super::super::RequestParts {
            params: BTreeMap::from([("id".to_owned(), "a b/..".to_owned())]),
            query: BTreeMap::from([("limit".to_owned(), "5".to_owned())]),
            headers: BTreeMap::new(),
        }))
    }

    fn context(body: &serde_json::Value) -> RequestContext<'_> {
        RequestContext { parts: parts(), body: Some(body) }
    }

    #[test]
    fn path_values_are_percent_encoded_and_dot_segments_refused() {
        let t = template("path = \"/items/{{ params.id }}/{{ body.name }}\"");
        let body = json!({"name": "x.y~"});
        assert_eq!(t.render_path(&context(&body)).unwrap().unwrap(), "/items/a%20b%2F../x.y~");
        for dots in ["..", "."] {
            let error = t.render_path(&context(&json!({"name": dots}))).unwrap_err();
            assert_eq!((error.status.as_u16(), error.code), (400, "invalid_path"), "{dots}");
        }
        let body = json!({"name": "..."});
        assert_eq!(t.render_path(&context(&body)).unwrap().unwrap(), "/items/a%20b%2F../...");
    }

    #[test]
    fn body_values_are_json_and_undefined_is_an_error() {
        let t = template(
            "body = '''{\"model\": {{ body.model }}, \"n\": {{ query.limit | int }}, \"tag\": {{ body.model ~ \"-x\" }}}'''",
        );
        let body = json!({"model": "gpt \"quoted\""});
        let out = t.render_body(&context(&body)).unwrap().unwrap();
        assert_eq!(out, json!({"model": "gpt \"quoted\"", "n": 5, "tag": "gpt \"quoted\"-x"}));
        let err = t.render_body(&context(&json!({}))).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert!(t.uses_body());
    }

    #[test]
    fn headers_refuse_line_breaks_and_syntax_errors_fail_compile() {
        let t = template("headers = { X-Model = \"{{ body.model }}\" }");
        let ok = t.render_headers(&context(&json!({"model": "m"}))).unwrap();
        assert_eq!(ok[0].1, "m");
        assert!(t.render_headers(&context(&json!({"model": "a\r\nx: y"}))).is_err());
        let spec: TemplateSpec = toml::from_str("body = \"{{ body.model \"").unwrap();
        assert!(Template::compile(&spec).unwrap_err().contains("body template"));
    }
}
