//! A chat completion request → a Responses request (pure, on JSON values).
//!
//! `messages` → `instructions` and `input` ([`super::messages`]);
//! `max_completion_tokens` (else `max_tokens`) → `max_output_tokens`;
//! `response_format` → `text.format`; `verbosity` → `text.verbosity`;
//! `reasoning_effort` → `reasoning.effort`; `tools` and `tool_choice` lose
//! chat's nesting; `web_search_options` → a `web_search` tool;
//! `stream_options.include_usage` is remembered for the answer. Fields the
//! Responses API shares are carried; `null` fields and `n = 1` are dropped;
//! any other field is passed or dropped by the spec's `unknown_fields`.

use serde_json::{Map, Value, json};

use super::{Invalid, UnknownFields, messages};

/// Fields with the same name and meaning in both APIs.
const CARRIED: [&str; 14] = [
    "model",
    "stream",
    "temperature",
    "top_p",
    "top_logprobs",
    "user",
    "metadata",
    "parallel_tool_calls",
    "store",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "background",
];

/// The Responses request, and what the answer's translation needs.
#[derive(Debug, PartialEq)]
pub struct Translated {
    pub body: Value,
    /// The client asked `stream_options.include_usage`.
    pub include_usage: bool,
    /// Fields dropped under `unknown_fields = "drop"`.
    pub dropped: Vec<String>,
}

pub fn translate(chat: &Value, unknown: UnknownFields) -> Result<Translated, Invalid> {
    let fields = chat.as_object().ok_or_else(|| Invalid::new("body", "a chat completion request is a JSON object"))?;
    let mut out = Map::new();
    let mut include_usage = false;
    let mut dropped = Vec::new();
    let mut passed = Vec::new();
    let max = fields.get("max_completion_tokens").filter(|v| !v.is_null()).or_else(|| fields.get("max_tokens"));
    if let Some(max) = max.filter(|v| !v.is_null()) {
        out.insert("max_output_tokens".into(), max.clone());
    }
    for (key, value) in fields {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "messages" => {
                let (instructions, input) = messages::input(value)?;
                if let Some(instructions) = instructions {
                    out.insert("instructions".into(), instructions.into());
                }
                out.insert("input".into(), input.into());
            }
            "max_tokens" | "max_completion_tokens" => {}
            "n" if value == 1 => {}
            "response_format" => nested(&mut out, "text", "format", flatten(value, "json_schema")),
            "verbosity" => nested(&mut out, "text", "verbosity", value.clone()),
            "reasoning_effort" => nested(&mut out, "reasoning", "effort", value.clone()),
            "tools" => {
                let tools = value.as_array().ok_or_else(|| Invalid::new("tools", "`tools` must be an array"))?;
                let mut mapped = tools.iter().map(tool).collect::<Result<Vec<_>, _>>()?;
                if let Some(Value::Array(existing)) = out.get_mut("tools") {
                    mapped.append(existing);
                }
                out.insert("tools".into(), mapped.into());
            }
            "tool_choice" => {
                out.insert("tool_choice".into(), tool_choice(value));
            }
            "web_search_options" => {
                let mut search = flatten(&json!({"type": "web_search", "web_search": value}), "web_search");
                if let Some(location) = search.get("user_location") {
                    search["user_location"] = flatten(location, "approximate");
                }
                match out.get_mut("tools") {
                    Some(Value::Array(tools)) => tools.push(search),
                    _ => {
                        out.insert("tools".into(), json!([search]));
                    }
                }
            }
            "stream_options" => {
                include_usage = value.get("include_usage") == Some(&Value::Bool(true));
                if let Some(obfuscation) = value.get("include_obfuscation") {
                    out.insert("stream_options".into(), json!({"include_obfuscation": obfuscation}));
                }
            }
            carried if CARRIED.contains(&carried) => {
                out.insert(key.clone(), value.clone());
            }
            _ => match unknown {
                UnknownFields::Pass => passed.push((key, value)),
                UnknownFields::Drop => dropped.push(key.clone()),
            },
        }
    }
    for (key, value) in passed {
        out.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Ok(Translated { body: Value::Object(out), include_usage, dropped })
}

/// Whether a chat request brings tools of its own: a non-empty `tools` or
/// `functions` list, or `web_search_options`.
pub fn has_client_tools(chat: &Value) -> bool {
    let listed = |key: &str| chat.get(key).and_then(Value::as_array).is_some_and(|list| !list.is_empty());
    listed("tools") || listed("functions") || chat.get("web_search_options").is_some_and(|v| !v.is_null())
}

/// Applies the spec's defaults: an absent field is set; an object the
/// client has is completed key by key; a default tool is appended unless
/// the client has a tool of the same `type` (and `name`).
pub fn apply_defaults(body: &mut Value, defaults: &Map<String, Value>) {
    let Some(body) = body.as_object_mut() else { return };
    for (key, default) in defaults {
        match (body.get_mut(key), default) {
            (None, _) => {
                body.insert(key.clone(), default.clone());
            }
            (Some(Value::Array(tools)), Value::Array(wanted)) if key == "tools" => {
                let same = |a: &Value, b: &Value| a.get("type") == b.get("type") && a.get("name") == b.get("name");
                for tool in wanted {
                    if !tools.iter().any(|t| same(t, tool)) {
                        tools.push(tool.clone());
                    }
                }
            }
            (Some(Value::Object(client)), Value::Object(wanted)) => {
                for (sub, value) in wanted {
                    client.entry(sub.clone()).or_insert_with(|| value.clone());
                }
            }
            (Some(_), _) => {}
        }
    }
}

/// `{"type": T, T: {...}}` → `{"type": T, ...}`; anything else as it is.
fn flatten(value: &Value, kind: &str) -> Value {
    match (value.get("type").and_then(Value::as_str), value.get(kind).and_then(Value::as_object)) {
        (Some(t), Some(inner)) if t == kind => {
            let mut flat = inner.clone();
            flat.insert("type".into(), kind.into());
            Value::Object(flat)
        }
        _ => value.clone(),
    }
}

fn nested(out: &mut Map<String, Value>, outer: &str, inner: &str, value: Value) {
    let entry = out.entry(outer.to_owned()).or_insert_with(|| json!({}));
    if let Some(object) = entry.as_object_mut() {
        object.insert(inner.to_owned(), value);
    }
}

/// A chat tool (`{"type": "function", "function": {...}}`) → a flat one.
fn tool(tool: &Value) -> Result<Value, Invalid> {
    let kind =
        tool.get("type").and_then(Value::as_str).ok_or_else(|| Invalid::new("tools", "every tool needs a `type`"))?;
    Ok(flatten(tool, kind))
}

fn tool_choice(choice: &Value) -> Value {
    match choice.get("type").and_then(Value::as_str) {
        Some("allowed_tools") => {
            let mut flat = flatten(choice, "allowed_tools");
            if let Some(Value::Array(tools)) = flat.get_mut("tools") {
                for t in tools.iter_mut() {
                    if let Some(kind) = t.get("type").and_then(Value::as_str).map(str::to_owned) {
                        *t = flatten(t, &kind);
                    }
                }
            }
            flat
        }
        Some(kind) => {
            let name = choice.get(kind).and_then(|inner| inner.get("name"));
            match name {
                Some(name) => json!({"type": kind, "name": name}),
                None => choice.clone(),
            }
        }
        None => choice.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(chat: Value, unknown: UnknownFields) -> Translated {
        translate(&chat, unknown).unwrap()
    }

    #[test]
    fn fields_are_mapped_carried_or_ruled_by_unknown_fields() {
        let chat = json!({"model": "gpt-5", "messages": [], "max_tokens": 5, "max_completion_tokens": 9,
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}},
            "reasoning_effort": "low", "n": 1, "seed": 3, "temperature": null, "top_p": 0.5,
            "stream_options": {"include_usage": true}});
        let out = translated(chat.clone(), UnknownFields::Drop);
        assert_eq!(
            out.body,
            json!({"model": "gpt-5", "input": [], "max_output_tokens": 9, "top_p": 0.5,
            "text": {"format": {"type": "json_schema", "name": "n", "schema": {}}}, "reasoning": {"effort": "low"}})
        );
        assert!(out.include_usage);
        assert_eq!(out.dropped, vec!["seed"]);
        let passed = translated(chat, UnknownFields::Pass);
        assert_eq!(passed.body["seed"], 3);
    }

    #[test]
    fn tools_and_tool_choice_lose_their_nesting() {
        let chat = json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "web_search_options": {"search_context_size": "low",
                "user_location": {"type": "approximate", "approximate": {"country": "DE"}}}});
        let out = translated(chat, UnknownFields::Drop).body;
        assert_eq!(
            out["tools"],
            json!([{"type": "function", "name": "f", "parameters": {}, "strict": true},
            {"type": "web_search", "search_context_size": "low", "user_location": {"type": "approximate", "country": "DE"}}])
        );
        assert_eq!(out["tool_choice"], json!({"type": "function", "name": "f"}));
        assert_eq!(tool_choice(&json!("auto")), json!("auto"));
        let allowed = json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto",
            "tools": [{"type": "function", "function": {"name": "f"}}]}});
        assert_eq!(
            tool_choice(&allowed),
            json!({"type": "allowed_tools", "mode": "auto",
            "tools": [{"type": "function", "name": "f"}]})
        );
    }

    #[test]
    fn defaults_fill_gaps_and_the_client_wins() {
        let defaults = json!({"reasoning": {"effort": "medium", "summary": "auto"},
            "tools": [{"type": "web_search"}], "store": false});
        let defaults = defaults.as_object().unwrap();
        let mut body =
            json!({"reasoning": {"effort": "high"}, "tools": [{"type": "function", "name": "f"}], "store": true});
        apply_defaults(&mut body, defaults);
        assert_eq!(
            body,
            json!({"reasoning": {"effort": "high", "summary": "auto"},
            "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}], "store": true})
        );
        let mut searching = json!({"tools": [{"type": "web_search", "search_context_size": "high"}]});
        apply_defaults(&mut searching, defaults);
        assert_eq!(searching["tools"], json!([{"type": "web_search", "search_context_size": "high"}]));
        assert_eq!(searching["store"], false);
    }

    #[test]
    fn non_objects_are_refused() {
        assert_eq!(translate(&json!([1]), UnknownFields::Drop).unwrap_err().param, "body");
        assert_eq!(translate(&json!({"tools": {}}), UnknownFields::Drop).unwrap_err().param, "tools");
    }
}
