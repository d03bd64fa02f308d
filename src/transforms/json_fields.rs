//! `type = "json_fields"`: set, default or remove fields of a JSON body.
//!
//! ```toml
//! [[route.transforms]]
//! type = "json_fields"
//! set = { stream = true }              # always, replacing the client's value
//! default = { model = "gpt-4o-mini" }  # only when the client sent none
//! remove = ["user"]                    # dropped if present
//! ```
//!
//! A key is a top-level field name, or a JSON pointer such as
//! `/text/format` for a nested one (missing parents are created).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The spec as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonFieldsSpec {
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub set: BTreeMap<String, toml::Value>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub default: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The compiled transform.
#[derive(Debug)]
pub struct JsonFields {
    set: Vec<(Vec<String>, Value)>,
    default: Vec<(Vec<String>, Value)>,
    remove: Vec<Vec<String>>,
}

impl JsonFields {
    pub fn compile(spec: &JsonFieldsSpec) -> Result<Self, String> {
        let convert = |map: &BTreeMap<String, toml::Value>| -> Result<Vec<(Vec<String>, Value)>, String> {
            map.iter()
                .map(|(key, value)| {
                    let value = serde_json::to_value(value).map_err(|e| format!("`{key}`: {e}"))?;
                    Ok((parse_key(key)?, value))
                })
                .collect()
        };
        Ok(JsonFields {
            set: convert(&spec.set)?,
            default: convert(&spec.default)?,
            remove: spec.remove.iter().map(|k| parse_key(k)).collect::<Result<_, _>>()?,
        })
    }

    /// Applies the rules to a JSON object body; other bodies are left alone.
    /// Whether it sets fields (and so makes a body when there is none).
    pub fn sets_fields(&self) -> bool {
        !self.set.is_empty()
    }

    pub fn apply(&self, body: &mut Value) {
        for key in &self.remove {
            if let Some((last, parents)) = key.split_last()
                && let Some(Value::Object(parent)) = walk(body, parents, false)
            {
                parent.remove(last);
            }
        }
        for (key, value) in &self.set {
            if let Some((last, parents)) = key.split_last()
                && let Some(Value::Object(parent)) = walk(body, parents, true)
            {
                parent.insert(last.clone(), value.clone());
            }
        }
        for (key, value) in &self.default {
            if let Some((last, parents)) = key.split_last()
                && let Some(Value::Object(parent)) = walk(body, parents, true)
            {
                parent.entry(last.clone()).or_insert_with(|| value.clone());
            }
        }
    }
}

/// `model` → `["model"]`; `/text/format` → `["text", "format"]`.
fn parse_key(key: &str) -> Result<Vec<String>, String> {
    let parts: Vec<String> = match key.strip_prefix('/') {
        Some(pointer) => pointer.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect(),
        None => vec![key.to_owned()],
    };
    if parts.iter().any(String::is_empty) {
        return Err(format!("`{key}` is not a field name or JSON pointer"));
    }
    Ok(parts)
}

/// The object at `path`, creating missing objects when `create` is set.
fn walk<'v>(mut value: &'v mut Value, path: &[String], create: bool) -> Option<&'v mut Value> {
    for part in path {
        let object = value.as_object_mut()?;
        if create && !object.contains_key(part) {
            object.insert(part.clone(), Value::Object(Default::default()));
        }
        value = object.get_mut(part)?;
    }
    value.is_object().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(toml_text: &str) -> JsonFields {
        let spec: JsonFieldsSpec = toml::from_str(toml_text).unwrap();
        JsonFields::compile(&spec).unwrap()
    }

    #[test]
    fn set_default_and_remove() {
        let t = fields("set = { stream = true }\ndefault = { model = \"gpt-4o-mini\", n = 1 }\nremove = [\"user\"]");
        let mut body = json!({"model": "gpt-5", "stream": false, "user": "u1"});
        t.apply(&mut body);
        assert_eq!(body, json!({"model": "gpt-5", "stream": true, "n": 1}));
    }

    #[test]
    fn pointers_reach_nested_fields() {
        let t = fields("set = { \"/text/format\" = { type = \"json_object\" } }\nremove = [\"/reasoning/summary\"]");
        let mut body = json!({"reasoning": {"effort": "low", "summary": "auto"}});
        t.apply(&mut body);
        assert_eq!(body, json!({"reasoning": {"effort": "low"}, "text": {"format": {"type": "json_object"}}}));
    }

    #[test]
    fn non_objects_are_left_alone_and_bad_keys_rejected() {
        let t = fields("set = { stream = true }");
        let mut body = json!([1, 2]);
        t.apply(&mut body);
        assert_eq!(body, json!([1, 2]));
        let spec: JsonFieldsSpec = toml::from_str("remove = [\"/a//b\"]").unwrap();
        assert!(JsonFields::compile(&spec).is_err());
    }
}
