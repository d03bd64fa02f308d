//! Schemas trimmed for ChatGPT Actions: what a model reads to fill a call.
//!
//! The full document keeps a schema as written. An Actions document inlines
//! it instead, smaller and flatter:
//!
//! - `$ref`s into the file's `$defs` are replaced by their targets, down to
//!   a few levels of nesting ([`REQUEST_DEPTH`] in a request body,
//!   [`RESPONSE_DEPTH`] in an answer); deeper (or recursive) parts keep only
//!   their `type` and `description`;
//! - an `allOf` of objects becomes one object;
//! - deprecated properties and the streaming switches (`stream`,
//!   `stream_options`: Actions do not read streams) are left out;
//! - descriptions are cut to [`MAX_DESCRIPTION`] characters, at a sentence
//!   end where one is near; `$comment`, `title`, `deprecated` and `x-` keys go.

use serde_json::{Map, Value};

/// Nesting kept in a request body (1: its properties, 2: theirs, ...).
pub const REQUEST_DEPTH: usize = 2;
/// Nesting kept in an answer: its fields, and what they are.
pub const RESPONSE_DEPTH: usize = 1;
/// Longest description kept in a trimmed schema.
pub const MAX_DESCRIPTION: usize = 300;
/// Properties a GPT should not set.
const LEFT_OUT: [&str; 2] = ["stream", "stream_options"];

/// The schema `root` (with `$defs` from its file) trimmed for Actions,
/// keeping `depth` levels of nesting.
pub fn trim(root: &Value, depth: usize) -> Value {
    let defs = root.get("$defs").and_then(Value::as_object);
    Trimmer { defs, chain: Vec::new(), depth }.node(root, 0)
}

/// `text` cut to at most `max` characters, at a sentence end if one is in
/// the last third, else at a word, with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let sentence = cut.rfind(". ").filter(|&at| at >= cut.len() * 2 / 3);
    match sentence {
        Some(at) => cut[..=at].to_owned(),
        None => format!("{}…", cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head).trim_end()),
    }
}

struct Trimmer<'a> {
    defs: Option<&'a Map<String, Value>>,
    /// `$defs` names being inlined, to stop at recursion.
    chain: Vec<String>,
    depth: usize,
}

impl Trimmer<'_> {
    fn node(&mut self, schema: &Value, depth: usize) -> Value {
        let Some(object) = schema.as_object() else { return schema.clone() };
        if let Some(target) = object.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            let Some(resolved) = self.defs.and_then(|defs| defs.get(target)) else { return summary(object) };
            if self.chain.iter().any(|c| c == target) {
                return resolved.as_object().map_or_else(|| summary(object), summary);
            }
            let mut merged = resolved.as_object().cloned().unwrap_or_default();
            merged.extend(object.iter().filter(|(k, _)| *k != "$ref").map(|(k, v)| (k.clone(), v.clone())));
            self.chain.push(target.to_owned());
            let out = self.node(&Value::Object(merged), depth);
            self.chain.pop();
            return out;
        }
        if depth > self.depth {
            return summary(object);
        }
        if let Some(merged) = self.merged_all_of(object) {
            return self.node(&Value::Object(merged), depth);
        }
        if let Some(inner) = not_null(object) {
            return self.node(&Value::Object(inner), depth);
        }
        let mut out = Map::new();
        for (key, value) in object {
            let value = match key.as_str() {
                "$comment" | "$schema" | "$id" | "$defs" | "title" | "deprecated" => continue,
                k if k.starts_with("x-") => continue,
                "description" => Value::String(shorten(value.as_str().unwrap_or_default(), MAX_DESCRIPTION)),
                "properties" => Value::Object(self.properties(value, depth)),
                "items" | "additionalProperties" => self.node(value, depth + 1),
                "anyOf" | "oneOf" | "allOf" => {
                    Value::Array(value.as_array().into_iter().flatten().map(|v| self.node(v, depth + 1)).collect())
                }
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        if let (Some(Value::Array(required)), Some(Value::Object(properties))) =
            (out.get("required").cloned(), out.get("properties"))
        {
            let kept: Vec<Value> =
                required.into_iter().filter(|r| r.as_str().is_some_and(|r| properties.contains_key(r))).collect();
            out.insert("required".into(), Value::Array(kept));
        }
        Value::Object(out)
    }

    fn properties(&mut self, properties: &Value, depth: usize) -> Map<String, Value> {
        let Some(properties) = properties.as_object() else { return Map::new() };
        properties
            .iter()
            .filter(|(name, schema)| {
                !LEFT_OUT.contains(&name.as_str()) && schema.get("deprecated") != Some(&true.into())
            })
            .map(|(name, schema)| (name.clone(), self.node(schema, depth + 1)))
            .collect()
    }

    /// An `allOf` whose members (after `$ref`s) are all object schemas, as one.
    fn merged_all_of(&self, object: &Map<String, Value>) -> Option<Map<String, Value>> {
        let members = object.get("allOf")?.as_array()?;
        let mut merged: Map<String, Value> =
            object.iter().filter(|(k, _)| *k != "allOf").map(|(k, v)| (k.clone(), v.clone())).collect();
        let (mut properties, mut required) = (Map::new(), Vec::new());
        for member in members {
            let member = self.resolve(member)?;
            let flattened;
            let member = match member.as_object() {
                Some(inner) if inner.contains_key("allOf") => {
                    flattened = Value::Object(self.merged_all_of(inner)?);
                    &flattened
                }
                _ => member,
            };
            if member.get("anyOf").is_some() || member.get("oneOf").is_some() {
                return None;
            }
            properties.extend(member.get("properties")?.as_object()?.clone());
            required.extend(member.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
            if let Some(description) = member.get("description").filter(|_| !merged.contains_key("description")) {
                merged.insert("description".into(), description.clone());
            }
        }
        merged.insert("type".into(), "object".into());
        merged.insert("properties".into(), Value::Object(properties));
        let mut seen = Vec::new();
        required.retain(|r| {
            !seen.contains(r) && {
                seen.push(r.clone());
                true
            }
        });
        if !required.is_empty() {
            merged.insert("required".into(), Value::Array(required));
        }
        Some(merged)
    }

    fn resolve<'v>(&'v self, schema: &'v Value) -> Option<&'v Value> {
        match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(target) => self.defs?.get(target),
            None => Some(schema),
        }
    }
}

/// `anyOf: [S, {"type": "null"}]` as `S` (with the outer keys): a GPT
/// leaves a field out rather than sending null.
fn not_null(object: &Map<String, Value>) -> Option<Map<String, Value>> {
    let [first, second] = object.get("anyOf")?.as_array()?.as_slice() else { return None };
    let null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    let kept = match (null(first), null(second)) {
        (false, true) => first,
        (true, false) => second,
        _ => return None,
    };
    let mut inner = kept.as_object()?.clone();
    inner.extend(object.iter().filter(|(k, _)| *k != "anyOf").map(|(k, v)| (k.clone(), v.clone())));
    if inner.get("default") == Some(&Value::Null) {
        inner.remove("default");
    }
    Some(inner)
}

/// What a part too deep to inline keeps: its type and description.
fn summary(object: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    if let Some(kind) = object.get("type") {
        out.insert("type".into(), kind.clone());
    }
    if let Some(description) = object.get("description").and_then(Value::as_str) {
        out.insert("description".into(), shorten(description, MAX_DESCRIPTION).into());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_are_inlined_all_of_is_flattened_and_streaming_left_out() {
        let schema = json!({
            "$ref": "#/$defs/Create",
            "$defs": {
                "Create": {"allOf": [{"$ref": "#/$defs/Base"}, {"type": "object", "required": ["input"],
                    "properties": {"input": {"type": "string"}, "stream": {"type": "boolean"}}}]},
                "Base": {"type": "object", "properties": {"model": {"type": "string", "description": "The model."},
                    "old": {"type": "string", "deprecated": true}, "tree": {"$ref": "#/$defs/Tree"}}},
                "Tree": {"type": "object", "description": "A tree.", "properties": {"child": {"$ref": "#/$defs/Tree"}}},
            },
        });
        let trimmed = trim(&schema, 3);
        assert_eq!(trimmed["type"], "object");
        assert_eq!(trimmed["required"], json!(["input"]));
        let properties = trimmed["properties"].as_object().unwrap();
        assert_eq!(properties.keys().collect::<Vec<_>>(), ["input", "model", "tree"]);
        assert_eq!(properties["model"], json!({"type": "string", "description": "The model."}));
        // Recursion stops with a summary.
        assert_eq!(properties["tree"]["properties"]["child"], json!({"type": "object", "description": "A tree."}));
        assert!(!trimmed.to_string().contains("$ref"));
    }

    #[test]
    fn long_descriptions_are_cut() {
        let text = format!("{}. {}", "a".repeat(250), "b ".repeat(100));
        assert_eq!(shorten(&text, 300), format!("{}.", "a".repeat(250)));
        let words = "word ".repeat(100);
        let cut = shorten(&words, 300);
        assert!(cut.chars().count() <= 300 && cut.ends_with("word…"), "{cut}");
        assert_eq!(shorten("short", 300), "short");
    }
}
