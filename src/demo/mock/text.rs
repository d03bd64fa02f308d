//! What the mock's replies say: the last user message echoed, words as
//! stream pieces and tokens. Nothing is generated for real; any model name
//! is accepted.

use serde_json::Value;

use super::ApiError;

/// The required `model` field.
pub fn model_of(request: &Value) -> Result<&str, ApiError> {
    request
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_param("model", "You must provide a model parameter."))
}

pub fn streams(request: &Value) -> bool {
    request.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

/// The text of the last user message. `input` is a plain string or a list of
/// messages (`{"role", "content"}`), as in both chat `messages` and
/// Responses `input`.
pub fn last_user_text(input: &Value) -> String {
    match input {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|item| item.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|item| item.get("content"))
            .map(content_text)
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A message's `content`: a string, or parts of which the text ones count.
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect();
            texts.join(" ")
        }
        _ => String::new(),
    }
}

pub fn reply_to(prompt: &str) -> String {
    let said: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
    if said.is_empty() {
        "Hello from the mock upstream!".to_owned()
    } else {
        format!("Hello from the mock upstream! You said: {said}")
    }
}

/// The pieces a reply is streamed in: each word with the space before it.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(' ')
}

pub fn tokens(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}
