//! Redaction: no secret reaches the traffic log, whatever the request held.
//!
//! - Headers: credential headers by name (`authorization`, `cookie`,
//!   `x-relay-key`, …, and any name containing `key`, `token`, `secret` or
//!   `auth`) and any value that carries a scheme and a token (`Bearer …`,
//!   `Basic …`) become `[redacted]`.
//! - JSON bodies (whole, or the `data:` lines of SSE): fields named like
//!   credentials (`api_key`, `apiKey`, `key`, `secret`, `token`, `password`,
//!   `authorization`, …) at any depth become `"[redacted]"`.
//! - Everywhere, as a last pass over the finished line: text shaped like an
//!   OpenAI key (`sk-` and 8 or more key characters) or a credential the API
//!   mints (`ek_…`, Realtime client secrets), and every secret the
//!   process knows (its relay keys and upstream keys).
//!
//! A body is redacted before it is cut to the log's limit, so a cut body is
//! redacted like a whole one.

use actix_web::http::header::HeaderMap;
use regex::Regex;
use serde_json::Value;

pub use crate::secrets::REDACTED;
use crate::secrets::{has_credential_scheme, is_secret_header};

/// JSON field names (lowercase, without `_` and `-`) that hold credentials.
const SECRET_FIELDS: [&str; 10] = [
    "apikey",
    "key",
    "secret",
    "token",
    "password",
    "authorization",
    "accesstoken",
    "refreshtoken",
    "clientsecret",
    "relaykey",
];

/// Shortest known secret masked literally (shorter ones would mangle text).
const MIN_KNOWN_SECRET: usize = 6;

/// Masks secrets in headers, JSON and finished lines.
#[derive(Debug)]
pub struct Redactor {
    key_shape: Regex,
    /// A credential field in text that is not a whole JSON document.
    field: Regex,
    known: Vec<String>,
}

impl Redactor {
    /// `known`: the literal secrets of this process (relay and upstream keys).
    pub fn new(known: Vec<String>) -> Redactor {
        let mut known: Vec<String> = known.into_iter().filter(|s| s.len() >= MIN_KNOWN_SECRET).collect();
        // Longest first, so a key that contains another is masked whole.
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        known.dedup();
        #[expect(clippy::expect_used, reason = "a constant pattern, covered by the unit tests")]
        let key_shape = Regex::new(r"(?:sk-|ek_)[A-Za-z0-9_\-]{8,}").expect("the key pattern compiles");
        #[expect(clippy::expect_used, reason = "a constant pattern, covered by the unit tests")]
        let field = Regex::new(
            r#"(?i)"((?:api|access|refresh|relay)?[_-]?key|secret|client[_-]?secret|(?:access[_-]?|refresh[_-]?)?token|password|authorization)"(\s*:\s*)"(?:[^"\\]|\\.)*(?:"|$)"#,
        )
        .expect("the field pattern compiles");
        Redactor { key_shape, field, known }
    }

    /// Masks key-shaped text and known secrets anywhere in `text`.
    pub fn text(&self, text: &str) -> String {
        let mut out = self.key_shape.replace_all(text, REDACTED).into_owned();
        for secret in &self.known {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// The headers as a JSON object: `{name: value}`, or `{name: [values]}`
    /// for a repeated header; credentials masked.
    pub fn headers(&self, headers: &HeaderMap) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for name in headers.keys() {
            let mut values: Vec<Value> = headers
                .get_all(name)
                .map(|value| {
                    let text = String::from_utf8_lossy(value.as_bytes());
                    Value::String(if is_secret_header(name) || has_credential_scheme(&text) {
                        REDACTED.to_owned()
                    } else {
                        self.text(&text)
                    })
                })
                .collect();
            let value = if values.len() == 1 { values.remove(0) } else { Value::Array(values) };
            out.insert(name.as_str().to_owned(), value);
        }
        out
    }

    /// A text body with credential fields masked: a JSON document, or SSE
    /// whose `data:` lines are JSON; other text only by [`Redactor::text`].
    pub fn body(&self, text: &str) -> String {
        if let Ok(mut value) = serde_json::from_str::<Value>(text) {
            if redact_fields(&mut value) {
                return self.text(&value.to_string());
            }
            return self.text(text);
        }
        // Not a document (e.g. cut): credential fields are found by shape.
        let text = self.field.replace_all(text, format!("\"$1\"${{2}}\"{REDACTED}\""));
        if !text.contains("data:") {
            return self.text(&text);
        }
        let lines: Vec<String> = text
            .split('\n')
            .map(|line| {
                let Some(data) = line.strip_prefix("data:") else { return line.to_owned() };
                match serde_json::from_str::<Value>(data.trim()) {
                    Ok(mut value) => match redact_fields(&mut value) {
                        true => format!("data: {value}"),
                        false => line.to_owned(),
                    },
                    Err(_) => line.to_owned(),
                }
            })
            .collect();
        self.text(&lines.join("\n"))
    }
}

/// Masks credential fields at any depth; true if any was masked.
pub fn redact_fields(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (name, field) in map.iter_mut() {
                if is_secret_field(name) && !field.is_null() {
                    *field = Value::String(REDACTED.to_owned());
                    changed = true;
                } else {
                    changed |= redact_fields(field);
                }
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| redact_fields(item) | changed),
        _ => false,
    }
}

fn is_secret_field(name: &str) -> bool {
    let folded: String = name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect();
    SECRET_FIELDS.contains(&folded.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn redactor() -> Redactor {
        Redactor::new(vec!["relay-key-one".to_owned(), "short".to_owned()])
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn credential_headers_are_masked_by_name_and_by_value() {
        let map = headers(&[
            ("authorization", "Bearer sk-client-123456789"),
            ("x-relay-key", "relay-key-one"),
            ("x-goog-api-key", "abc"),
            ("x-session-token", "abc"),
            ("x-custom", "Bearer opaque-value"),
            ("x-note", "uses sk-abcdefghijkl inside"),
            ("x-other", "relay-key-one"),
            ("accept", "a"),
            ("accept", "b"),
            ("content-type", "application/json"),
        ]);
        let out = Value::Object(redactor().headers(&map));
        for name in ["authorization", "x-relay-key", "x-goog-api-key", "x-session-token", "x-custom", "x-other"] {
            assert_eq!(out[name], REDACTED, "{name}");
        }
        assert_eq!(out["x-note"], "uses [redacted] inside");
        assert_eq!(out["accept"], serde_json::json!(["a", "b"]));
        assert_eq!(out["content-type"], "application/json");
    }

    #[test]
    fn json_fields_are_masked_at_any_depth() {
        let body = r#"{"model":"m","api_key":"k1","nested":{"apiKey":"k2","list":[{"Password":"p"}]},
            "token":"t","max_tokens":5,"secret":null,"key":{"deep":"x"}}"#;
        let out: Value = serde_json::from_str(&redactor().body(body)).unwrap();
        assert_eq!(out["api_key"], REDACTED);
        assert_eq!(out["nested"]["apiKey"], REDACTED);
        assert_eq!(out["nested"]["list"][0]["Password"], REDACTED);
        assert_eq!(out["token"], REDACTED);
        assert_eq!(out["key"], REDACTED);
        assert_eq!(out["max_tokens"], 5);
        assert_eq!(out["secret"], Value::Null);
        assert_eq!(out["model"], "m");
    }

    #[test]
    fn sse_data_lines_are_redacted_as_json() {
        let body = "event: x\ndata: {\"api_key\":\"k1\",\"n\":1}\n\ndata: [DONE]\n\n";
        assert_eq!(redactor().body(body), "event: x\ndata: {\"api_key\":\"[redacted]\",\"n\":1}\n\ndata: [DONE]\n\n");
    }

    #[test]
    fn key_shapes_and_known_secrets_are_masked_in_any_text() {
        let r = redactor();
        assert_eq!(r.text("a sk-proj-ABCdef_123-xyz b"), "a [redacted] b");
        assert_eq!(r.text("sk-short"), "sk-short");
        // Realtime client secrets the API mints, inside any text.
        assert_eq!(r.text(r#"{"value":"ek_68af0a1b2c3d4e5f"}"#), r#"{"value":"[redacted]"}"#);
        assert_eq!(r.text("{\"k\":\"relay-key-one\"} short"), "{\"k\":\"[redacted]\"} short");
        // Text that is not JSON (a cut body) still loses key shapes and known keys.
        assert_eq!(
            r.body("{\"api_key\": \"sk-abcdefghij\", \"x\": \"relay-key-one"),
            "{\"api_key\": \"[redacted]\", \"x\": \"[redacted]"
        );
        assert_eq!(
            r.body("{\"n\": 1, \"apiKey\" : \"plain\\\"x\", \"token\": \"cut-her"),
            "{\"n\": 1, \"apiKey\" : \"[redacted]\", \"token\": \"[redacted]\""
        );
        assert_eq!(r.body("{\"max_tokens\": \"7\", \"keys\": \"x\""), "{\"max_tokens\": \"7\", \"keys\": \"x\"");
    }
}
