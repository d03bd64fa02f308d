//! The JSON Schema of a spec file, for editors (taplo, Even Better TOML):
//! generated from the serde types of [`super`] by `schemars`, committed as
//! `schemas/relay-routes.schema.json` and printed by `relay schema`.
//!
//! Most types derive `JsonSchema`; the few with a hand-written `Deserialize`
//! (a method or a list, `cors = false` or a table, the `[routes]` entries)
//! have a hand-written schema here that says what that code accepts.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::compact::CompactRoutes;
use super::{CorsSpec, InlineRouteSpec, Methods, RouteCorsSpec, SpecFile};

/// Where the schema is committed, relative to the project root.
pub const SCHEMA_PATH: &str = "schemas/relay-routes.schema.json";

/// The schema of one file of `routes.d/` (JSON Schema 2020-12).
pub fn spec_file_schema() -> serde_json::Value {
    let settings = SchemaSettings::draft2020_12().with_transform(RecursiveTransform(no_null));
    let schema = settings.into_generator().into_root_schema_for::<SpecFile>();
    schema.to_value()
}

/// TOML has no null: an absent key is how a file leaves an `Option` unset,
/// so the `null` schemars allows for an `Option` is taken out again.
fn no_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else { return };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if object.get("default").is_some_and(Value::is_null) {
        object.remove("default");
    }
    let Some(Value::Array(any_of)) = object.get_mut("anyOf") else { return };
    any_of.retain(|s| s.get("type").is_none_or(|t| t != "null"));
    let single = match any_of.as_slice() {
        [Value::Object(only)] => Some(only.clone()),
        _ => None,
    };
    if let Some(only) = single
        && only.keys().all(|key| !object.contains_key(key))
    {
        object.remove("anyOf");
        object.extend(only);
    }
}

/// The schema as committed: pretty JSON ending with a newline.
pub fn spec_file_schema_text() -> String {
    let text = serde_json::to_string_pretty(&spec_file_schema()).unwrap_or_default();
    format!("{text}\n")
}

impl JsonSchema for Methods {
    fn schema_name() -> Cow<'static, str> {
        "Methods".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One method or several: `\"GET\"` or `[\"GET\", \"HEAD\"]`.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

impl JsonSchema for RouteCorsSpec {
    fn schema_name() -> Cow<'static, str> {
        "RouteCorsSpec".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let own = generator.subschema_for::<CorsSpec>();
        json_schema!({
            "description": "`false` (no CORS on this route), `true` (the listener's), or this route's own settings.",
            "anyOf": [{ "type": "boolean" }, own]
        })
    }
}

impl JsonSchema for CompactRoutes {
    fn schema_name() -> Cow<'static, str> {
        "CompactRoutes".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let entry = generator.subschema_for::<CompactEntry>();
        json_schema!({
            "description": "`[routes]`: route id = \"METHOD /path  summary\", or a table { at = \"...\", other route keys }.",
            "type": "object",
            "additionalProperties": entry
        })
    }
}

/// One value of `[routes]` (see `compact.rs`): a line, a route written as an
/// inline table (first key `at`), or a table of ids a dotted key makes.
struct CompactEntry;

impl JsonSchema for CompactEntry {
    fn schema_name() -> Cow<'static, str> {
        "CompactEntry".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inline = generator.subschema_for::<InlineRouteSpec>();
        let group = generator.subschema_for::<CompactGroup>();
        json_schema!({
            "anyOf": [
                { "type": "string", "description": "\"METHOD /path  summary\", e.g. \"GET /v1/models  List models\"." },
                inline,
                group
            ]
        })
    }
}

/// The table a dotted id (`files.get = "..."`) or `[routes.files]` makes:
/// more entries, whose ids join with `.`. A table with `at` is a route.
struct CompactGroup;

impl JsonSchema for CompactGroup {
    fn schema_name() -> Cow<'static, str> {
        "CompactGroup".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let entry = generator.subschema_for::<CompactEntry>();
        json_schema!({
            "description": "Routes whose ids start with this key and a `.`.",
            "type": "object",
            "propertyNames": { "not": { "const": "at" } },
            "additionalProperties": entry
        })
    }
}
