//! Chat `messages` → Responses `instructions` and `input` items.
//!
//! - Leading `system` and `developer` messages (before any other message)
//!   whose content is text become `instructions`, joined by a blank line.
//!   Later ones stay in `input` as messages of their own role.
//! - `user` content parts: `text` → `input_text`, `image_url` (URL or
//!   `data:` URL) → `input_image`, `file` → `input_file`; other parts pass.
//! - `assistant` text → a `message` item of `output_text` (and `refusal`)
//!   parts; each of its `tool_calls` → a `function_call` (or
//!   `custom_tool_call`) item.
//! - `tool` → a `function_call_output` (or `custom_tool_call_output`) item.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::Invalid;

/// `instructions` (if any) and the `input` items.
pub fn input(messages: &Value) -> Result<(Option<String>, Vec<Value>), Invalid> {
    let messages = messages.as_array().ok_or_else(|| Invalid::new("messages", "`messages` must be an array"))?;
    let mut instructions: Vec<String> = Vec::new();
    let mut items = Vec::new();
    let mut leading = true;
    let mut custom_calls = HashSet::new();
    for (i, message) in messages.iter().enumerate() {
        let at = |field: &str| format!("messages[{i}]{field}");
        let role = message.get("role").and_then(Value::as_str).ok_or_else(|| {
            Invalid::new(&at(".role"), "every message needs a `role` (system, developer, user, assistant or tool)")
        })?;
        let content = message.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" if leading => match plain_text(content) {
                Some(text) => instructions.push(text),
                None => {
                    leading = false;
                    items.push(json!({"type": "message", "role": role, "content": input_content(content)}));
                }
            },
            "system" | "developer" | "user" => {
                leading = false;
                items.push(json!({"type": "message", "role": role, "content": input_content(content)}));
            }
            "assistant" => {
                leading = false;
                assistant(message, content, &mut items, &mut custom_calls);
            }
            "tool" => {
                leading = false;
                let call_id = message.get("tool_call_id").and_then(Value::as_str).ok_or_else(|| {
                    Invalid::new(&at(".tool_call_id"), "a `tool` message needs the `tool_call_id` it answers")
                })?;
                let output = match content {
                    Value::String(_) => content.clone(),
                    _ => input_content(content),
                };
                let kind =
                    if custom_calls.contains(call_id) { "custom_tool_call_output" } else { "function_call_output" };
                items.push(json!({"type": kind, "call_id": call_id, "output": output}));
            }
            other => {
                return Err(Invalid::new(
                    &at(".role"),
                    &format!("role {other:?} cannot be bridged; use system, developer, user, assistant or tool"),
                ));
            }
        }
    }
    let instructions = (!instructions.is_empty()).then(|| instructions.join("\n\n"));
    Ok((instructions, items))
}

fn assistant(message: &Value, content: &Value, items: &mut Vec<Value>, custom_calls: &mut HashSet<String>) {
    let mut parts = Vec::new();
    match content {
        Value::String(text) if !text.is_empty() => parts.push(output_text(text)),
        Value::Array(list) => {
            for part in list {
                match (part.get("type").and_then(Value::as_str), part.get("text"), part.get("refusal")) {
                    (Some("text"), Some(Value::String(text)), _) => parts.push(output_text(text)),
                    (Some("refusal"), _, Some(refusal)) => parts.push(json!({"type": "refusal", "refusal": refusal})),
                    _ => parts.push(part.clone()),
                }
            }
        }
        _ => {}
    }
    if let Some(Value::String(refusal)) = message.get("refusal") {
        parts.push(json!({"type": "refusal", "refusal": refusal}));
    }
    if !parts.is_empty() {
        items.push(json!({"type": "message", "role": "assistant", "content": parts}));
    }
    for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
        let id = call.get("id").cloned().unwrap_or(Value::Null);
        if let Some(custom) = call.get("custom") {
            if let Some(id) = id.as_str() {
                custom_calls.insert(id.to_owned());
            }
            let (name, input) = (custom.get("name"), custom.get("input"));
            items.push(json!({"type": "custom_tool_call", "call_id": id, "name": name, "input": input}));
        } else {
            let function = call.get("function").unwrap_or(&Value::Null);
            let (name, arguments) = (function.get("name"), function.get("arguments"));
            items.push(json!({"type": "function_call", "call_id": id, "name": name, "arguments": arguments}));
        }
    }
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

/// Text content (a string, or only `text` parts), joined.
fn plain_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match (part.get("type").and_then(Value::as_str), part.get("text")) {
                (Some("text"), Some(Value::String(text))) => Some(text.as_str()),
                _ => None,
            })
            .collect::<Option<Vec<&str>>>()
            .map(|texts| texts.join("\n\n")),
        _ => None,
    }
}

/// A string stays a string; parts become Responses input parts.
fn input_content(content: &Value) -> Value {
    match content {
        Value::Array(parts) => Value::Array(parts.iter().map(input_part).collect()),
        Value::Null => Value::String(String::new()),
        other => other.clone(),
    }
}

fn input_part(part: &Value) -> Value {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "text" => json!({"type": "input_text", "text": part.get("text")}),
        "image_url" => {
            let image = part.get("image_url").unwrap_or(&Value::Null);
            let (url, detail) = match image {
                Value::String(url) => (Value::String(url.clone()), None),
                _ => (image.get("url").cloned().unwrap_or(Value::Null), image.get("detail")),
            };
            json!({"type": "input_image", "image_url": url, "detail": detail.cloned().unwrap_or("auto".into())})
        }
        "file" => {
            let source = part.get("file").filter(|f| f.is_object()).unwrap_or(part);
            let mut file = json!({"type": "input_file"});
            for key in ["file_id", "file_data", "filename", "file_url"] {
                if let Some(value) = source.get(key).filter(|v| !v.is_null()) {
                    file[key] = value.clone();
                }
            }
            file
        }
        _ => part.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_system_text_becomes_instructions_later_ones_stay() {
        let messages = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "Now be formal."}
        ]);
        let (instructions, items) = input(&messages).unwrap();
        assert_eq!(instructions.as_deref(), Some("Be brief.\n\nUse metric units."));
        assert_eq!(
            items,
            vec![
                json!({"type": "message", "role": "user", "content": "Hi"}),
                json!({"type": "message", "role": "system", "content": "Now be formal."}),
            ]
        );
    }

    #[test]
    fn parts_map_to_input_parts() {
        let messages = json!([{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            {"type": "file", "file": {"file_id": "file-1"}},
            {"type": "file", "file_id": "file-2"}
        ]}]);
        let (_, items) = input(&messages).unwrap();
        assert_eq!(
            items[0]["content"],
            json!([
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                {"type": "input_file", "file_id": "file-1"},
                {"type": "input_file", "file_id": "file-2"}
            ])
        );
    }

    #[test]
    fn tool_calls_and_their_outputs_become_items() {
        let messages = json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "call_2", "type": "custom", "custom": {"name": "g", "input": "x"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "ok"}]}
        ]);
        let (_, items) = input(&messages).unwrap();
        assert_eq!(
            items,
            vec![
                json!({"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}),
                json!({"type": "custom_tool_call", "call_id": "call_2", "name": "g", "input": "x"}),
                json!({"type": "function_call_output", "call_id": "call_1", "output": "42"}),
                json!({"type": "custom_tool_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "ok"}]}),
            ]
        );
    }

    #[test]
    fn bad_messages_are_named() {
        let error = input(&json!([{"content": "x"}])).unwrap_err();
        assert_eq!(error.param, "messages[0].role");
        let error = input(&json!([{"role": "function", "content": "x"}])).unwrap_err();
        assert!(error.message.contains("\"function\""), "{}", error.message);
        assert_eq!(input(&json!({})).unwrap_err().param, "messages");
        assert_eq!(input(&json!([{"role": "tool", "content": "x"}])).unwrap_err().param, "messages[0].tool_call_id");
    }
}
