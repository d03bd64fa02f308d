//! The JSON Schemas a route names in `openapi = {...}` (`request_schema`,
//! `multipart_schema`, `query_schema`, `response_schema`), loaded once per
//! file and shared between routes, and their place in a document.
//!
//! A schema file is self-contained: what it refers to is under its `$defs`
//! (`tools/gen_schemas.py` writes them so). In the full document each file
//! becomes one entry of `components/schemas`, and its `$defs` are hoisted
//! beside it with their `$ref`s rewritten, so a schema that many routes use
//! is written once. A `$defs` name that two files define differently gets
//! the file's name as a prefix.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

/// One schema file, as read.
#[derive(Debug)]
pub struct Schema {
    /// The name in the spec, relative to `schemas/` (`openai/listFiles.query.json`).
    pub name: String,
    pub value: Value,
}

impl Schema {
    /// The schema's `$defs`, if any.
    pub fn defs(&self) -> Option<&Map<String, Value>> {
        self.value.get("$defs").and_then(Value::as_object)
    }

    /// Whether an object this schema describes may have the field `name`:
    /// false only when the object (the schema, or the `$defs` entry its
    /// `$ref` names) lists its `properties` and `name` is not among them.
    pub fn may_have_field(&self, name: &str) -> bool {
        let named = self.value.get("$ref").and_then(Value::as_str).and_then(|to| to.strip_prefix("#/$defs/"));
        let object = match named {
            Some(def) => self.defs().and_then(|defs| defs.get(def)),
            None => Some(&self.value),
        };
        let fields = object.and_then(|object| object.get("properties")).and_then(Value::as_object);
        fields.is_none_or(|fields| fields.contains_key(name))
    }

    /// The query parameters an object schema describes: (name, required,
    /// property schema), in the file's order.
    pub fn query_parameters(&self) -> Vec<(&str, bool, &Value)> {
        let required: Vec<&str> = self
            .value
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties = self.value.get("properties").and_then(Value::as_object).into_iter().flatten();
        properties.map(|(name, schema)| (name.as_str(), required.contains(&name.as_str()), schema)).collect()
    }
}

/// The schemas of one route.
#[derive(Debug, Default, Clone)]
pub struct RouteSchemas {
    pub request: Option<Arc<Schema>>,
    pub multipart: Option<Arc<Schema>>,
    pub query: Option<Arc<Schema>>,
    pub response: Option<Arc<Schema>>,
}

/// A schema as a document parameter: its description moves to the parameter.
pub fn parameter(name: &str, location: &str, required: bool, schema: &Value) -> Value {
    let mut schema = schema.clone();
    let description = schema.as_object_mut().and_then(|s| s.remove("description"));
    let mut param = json!({"name": name, "in": location, "required": required, "schema": schema});
    if let Some(description) = description {
        param["description"] = description;
    }
    param
}

/// The `components/schemas` of the full document, filled as routes use schemas.
#[derive(Debug, Default)]
pub struct Components {
    entries: Map<String, Value>,
    /// Component name of each schema file already added.
    files: HashMap<String, String>,
}

impl Components {
    /// Starts from the document's own components (the error shape).
    pub fn new(entries: Map<String, Value>) -> Self {
        Components { entries, files: HashMap::new() }
    }

    /// A `$ref` to the schema, adding it (and its `$defs`) the first time.
    pub fn reference(&mut self, schema: &Schema) -> Value {
        if let Some(name) = self.files.get(&schema.name) {
            return json!({"$ref": format!("#/components/schemas/{name}")});
        }
        let name = self.free_name(component_name(&schema.name), None);
        let defs = schema.defs().cloned().unwrap_or_default();
        let mut renames = HashMap::new();
        for (def, value) in &defs {
            let target = match self.entries.get(def) {
                Some(existing) if same_after_rewrite(existing, value) => def.clone(),
                Some(_) => self.free_name(format!("{name}.{def}"), Some(value)),
                None => def.clone(),
            };
            renames.insert(def.clone(), target);
        }
        for (def, value) in defs {
            let target = renames[&def].clone();
            if !self.entries.contains_key(&target) {
                let mut value = value;
                rewrite_refs(&mut value, &renames);
                self.entries.insert(target, value);
            }
        }
        let mut root = schema.value.clone();
        if let Some(object) = root.as_object_mut() {
            for key in ["$defs", "$schema", "$id", "$comment"] {
                object.remove(key);
            }
        }
        rewrite_refs(&mut root, &renames);
        self.entries.insert(name.clone(), root);
        self.files.insert(schema.name.clone(), name.clone());
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.entries
    }

    /// `base`, or `base.2`, `base.3`... whichever is not taken (or holds `value`).
    fn free_name(&self, base: String, value: Option<&Value>) -> String {
        let fits = |name: &String| match (self.entries.get(name), value) {
            (None, _) => true,
            (Some(existing), Some(value)) => same_after_rewrite(existing, value),
            (Some(_), None) => false,
        };
        if fits(&base) {
            return base;
        }
        (2..).map(|n| format!("{base}.{n}")).find(fits).unwrap_or(base)
    }
}

/// `openai/listFiles.query.json` → `openai.listFiles.query`.
fn component_name(file: &str) -> String {
    let stem = file.strip_suffix(".json").unwrap_or(file);
    stem.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '.' }).collect()
}

/// Whether a hoisted definition equals one still in `$defs` form.
fn same_after_rewrite(hoisted: &Value, original: &Value) -> bool {
    let mut rewritten = original.clone();
    rewrite_refs(&mut rewritten, &HashMap::new());
    *hoisted == rewritten
}

/// `#/$defs/X` → `#/components/schemas/{renamed X}`, everywhere in `value`.
fn rewrite_refs(value: &mut Value, renames: &HashMap<String, String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(target)) = object.get_mut("$ref")
                && let Some(def) = target.strip_prefix("#/$defs/")
            {
                let def = renames.get(def).map_or(def, String::as_str);
                *target = format!("#/components/schemas/{def}");
            }
            object.values_mut().for_each(|v| rewrite_refs(v, renames));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(name: &str, value: Value) -> Schema {
        Schema { name: name.into(), value }
    }

    #[test]
    fn defs_are_hoisted_once_and_clashes_get_a_prefix() {
        let mut components = Components::default();
        let a = schema("a.json", json!({"$ref": "#/$defs/X", "$defs": {"X": {"type": "string"}}}));
        let b = schema(
            "dir/b.json",
            json!({"properties": {"x": {"$ref": "#/$defs/X"}}, "$defs": {"X": {"type": "integer"}}}),
        );
        assert_eq!(components.reference(&a), json!({"$ref": "#/components/schemas/a"}));
        assert_eq!(components.reference(&a), json!({"$ref": "#/components/schemas/a"}));
        assert_eq!(components.reference(&b), json!({"$ref": "#/components/schemas/dir.b"}));
        let map = components.into_map();
        assert_eq!(map["a"], json!({"$ref": "#/components/schemas/X"}));
        assert_eq!(map["X"], json!({"type": "string"}));
        assert_eq!(map["dir.b"]["properties"]["x"], json!({"$ref": "#/components/schemas/dir.b.X"}));
        assert_eq!(map["dir.b.X"], json!({"type": "integer"}));
    }

    #[test]
    fn query_schemas_become_parameters() {
        let query = schema(
            "q.json",
            json!({"type": "object", "required": ["b"], "properties": {
                "a": {"type": "integer", "description": "A."}, "b": {"type": "string"}}}),
        );
        let params: Vec<Value> =
            query.query_parameters().into_iter().map(|(n, r, s)| parameter(n, "query", r, s)).collect();
        assert_eq!(
            params,
            [
                json!({"name": "a", "in": "query", "required": false, "schema": {"type": "integer"}, "description": "A."}),
                json!({"name": "b", "in": "query", "required": true, "schema": {"type": "string"}}),
            ]
        );
    }
}
