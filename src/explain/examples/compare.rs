//! What an example expects against what its dry run recorded, both as
//! lines in one format: the keys the example gives, and the actual values
//! of those keys only (a JSON body cut down to the keys expected), so the
//! two are equal exactly when the example passes and their diff shows
//! what differs.

use serde_json::Value;

use crate::policy::example::Expect;

/// What a dry run ended in, as the comparison reads it.
#[derive(Debug, Default)]
pub struct Actual {
    /// The relay's own answer: status, code and message; `None` when an
    /// upstream request was made.
    pub answer: Option<(u16, String, String)>,
    pub method: Option<String>,
    pub url: Option<String>,
    /// Headers as shown (secrets masked).
    pub headers: Vec<(String, String)>,
    /// The body as shown (secrets masked).
    pub body: Option<String>,
    pub parts: Option<Vec<String>>,
}

const NONE: &str = "<none>";
const NOT_SENT: &str = "<not sent>";

/// The expected and the actual lines.
pub fn lines(expect: &Expect, actual: &Actual, base_url: &str) -> (Vec<String>, Vec<String>) {
    let (mut want, mut got) = (Vec::new(), Vec::new());
    want.push(format!("answer: {}", expected_answer(expect)));
    got.push(format!("answer: {}", actual_answer(expect, actual)));
    if let Some(method) = &expect.method {
        want.push(format!("method: {method}"));
        got.push(format!("method: {}", actual.method.as_deref().unwrap_or(NONE)));
    }
    if let Some(url) = &expect.url {
        want.push(format!("url: {url}"));
        let shown = actual.url.as_deref().map(|full| relative(full, url, base_url));
        got.push(format!("url: {}", shown.unwrap_or(NONE)));
    }
    for (name, value) in &expect.headers {
        let value = if value.is_empty() { NOT_SENT } else { value.as_str() };
        want.push(format!("header {name}: {value}"));
        let sent: Vec<&str> =
            actual.headers.iter().filter(|(n, _)| n == name.as_str()).map(|(_, v)| v.as_str()).collect();
        let sent = if sent.is_empty() { NOT_SENT.to_owned() } else { sent.join(", ") };
        got.push(format!("header {name}: {sent}"));
    }
    if let Some(parts) = &expect.parts {
        want.push(format!("parts: {}", parts.join(", ")));
        let sent = actual.parts.as_ref().map_or_else(|| "<not a multipart body>".to_owned(), |p| p.join(", "));
        got.push(format!("parts: {sent}"));
    }
    if let Some(body) = &expect.body {
        want.push("body:".to_owned());
        want.extend(pretty(body));
        got.push("body:".to_owned());
        match actual.body.as_deref().map(|text| (text, serde_json::from_str::<Value>(text))) {
            None => got.push(format!("  {NONE}")),
            Some((_, Ok(json))) => got.extend(pretty(&project(&json, body))),
            Some((text, Err(_))) => got.extend(text.lines().map(|line| format!("  {line}"))),
        }
    }
    (want, got)
}

fn expected_answer(expect: &Expect) -> String {
    if !expect.answers_itself() {
        return "upstream request".to_owned();
    }
    let status = expect.status.map(|s| format!(" {}", s.as_u16())).unwrap_or_default();
    let code = expect.code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default();
    format!("the relay answers{status}{code}")
}

/// The actual answer, said as far as the example asks.
fn actual_answer(expect: &Expect, actual: &Actual) -> String {
    match &actual.answer {
        None => "upstream request".to_owned(),
        Some((status, code, _)) if expect.answers_itself() => {
            let status = expect.status.map(|_| format!(" {status}")).unwrap_or_default();
            let code = expect.code.as_ref().map(|_| format!(" ({code})")).unwrap_or_default();
            format!("the relay answers{status}{code}")
        }
        Some((status, code, message)) => format!("the relay answers {status} ({code}): {message}"),
    }
}

/// The URL as the example writes it: relative to `base_url` when it is.
fn relative<'a>(full: &'a str, expected: &str, base_url: &str) -> &'a str {
    match full.strip_prefix(base_url) {
        Some(rest) if expected.starts_with('/') && (rest.starts_with('/') || rest.starts_with('?')) => rest,
        _ => full,
    }
}

/// Pretty JSON, indented under `body:`.
fn pretty(value: &Value) -> Vec<String> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.lines().map(|line| format!("  {line}")).collect()
}

/// `actual` cut down to the shape of `expected`: objects keep only the
/// expected keys, arrays of the same length are cut element by element.
/// It equals `expected` exactly when `expected` is a subset of `actual`.
pub fn project(actual: &Value, expected: &Value) -> Value {
    match (actual, expected) {
        (Value::Object(have), Value::Object(want)) => Value::Object(
            want.iter()
                .filter_map(|(key, inner)| have.get(key).map(|value| (key.clone(), project(value, inner))))
                .collect(),
        ),
        (Value::Array(have), Value::Array(want)) if have.len() == want.len() => {
            Value::Array(have.iter().zip(want).map(|(value, inner)| project(value, inner)).collect())
        }
        _ => actual.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_is_compared_as_a_subset() {
        let actual = json!({"model": "m", "input": [{"role": "user", "content": "hi"}], "stream": true});
        assert_eq!(project(&actual, &json!({"input": [{"role": "user"}]})), json!({"input": [{"role": "user"}]}));
        let missing = json!({"model": "m", "store": false});
        assert_ne!(project(&actual, &missing), missing);
        let shorter = json!({"input": []});
        assert_ne!(project(&actual, &shorter), shorter);
    }

    #[test]
    fn a_missing_upstream_request_and_header_are_shown() {
        let expect = Expect {
            url: Some("/models".to_owned()),
            headers: vec![(actix_web::http::header::AUTHORIZATION, String::new())],
            ..Expect::default()
        };
        let actual = Actual {
            answer: Some((403, "forbidden".to_owned(), "no".to_owned())),
            headers: vec![("authorization".to_owned(), "Bearer [redacted]".to_owned())],
            ..Actual::default()
        };
        let (want, got) = lines(&expect, &actual, "https://x/v1");
        assert_eq!(want, ["answer: upstream request", "url: /models", "header authorization: <not sent>"]);
        assert_eq!(
            got,
            ["answer: the relay answers 403 (forbidden): no", "url: <none>", "header authorization: Bearer [redacted]"]
        );
    }

    #[test]
    fn a_relative_url_is_cut_at_the_base_url_only() {
        assert_eq!(relative("https://x/v1/files?a=1", "/files?a=1", "https://x/v1"), "/files?a=1");
        assert_eq!(relative("https://x/v1x/files", "/files", "https://x/v1"), "https://x/v1x/files");
        assert_eq!(relative("https://x/v1/files", "https://x/v1/files", "https://x/v1"), "https://x/v1/files");
    }
}
