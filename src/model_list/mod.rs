//! Model lists a route can serve itself: `[route.models]`.
//!
//! `GET /v1/models` answers from the first source that works, and says which
//! in the log:
//!
//! 1. `file`: a JSON file in the routes directory, read when the table is
//!    built (so editing it reloads like any spec file);
//! 2. the route's upstream, when it answers 2xx with a model list (a 4xx
//!    passes through unchanged: it is the client's problem to see);
//! 3. a built-in list ([`builtin`]), when the upstream cannot be reached or
//!    fails (5xx, not JSON).
//!
//! Every source is filtered by `include` and `exclude` (globs, or regular
//! expressions written `/…/`), and by the `models` of the consumer asking.
//! A `[route.models]` with no rules and no file changes nothing: the
//! request is forwarded as usual, unless a consumer limited to some models
//! asks, who then gets the list filtered for it. On a route with a `{model}` parameter the same
//! rules answer 404 for a hidden model before anything is forwarded.

mod builtin;
mod filter;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub use builtin::builtin_models;
pub use filter::ModelFilter;

/// `[route.models]` as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelListSpec {
    /// Only models matching one of these are shown (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Models matching one of these are hidden, even if included.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// A JSON file beside the spec files: `{"object":"list","data":[…]}`,
    /// an array of model objects, or an array of model ids.
    pub file: Option<String>,
}

/// A compiled `[route.models]`.
#[derive(Debug)]
pub struct ModelList {
    pub filter: ModelFilter,
    /// The models of `file`, if it was present when the table was built.
    pub local: Option<LocalList>,
}

/// A model list read from a file.
#[derive(Debug)]
pub struct LocalList {
    pub file: String,
    pub models: Vec<Value>,
}

impl ModelList {
    /// Compiles the patterns and reads `file` from `routes_dir` if present.
    pub fn compile(spec: &ModelListSpec, routes_dir: &Path) -> Result<ModelList, String> {
        let filter = ModelFilter::compile(&spec.include, &spec.exclude)?;
        let local = match &spec.file {
            None => None,
            Some(name) => read_local(routes_dir, name)?,
        };
        Ok(ModelList { filter, local })
    }

    /// Whether the list changes anything: a file to serve, or rules.
    pub fn has_rules(&self) -> bool {
        self.local.is_some() || !self.filter.is_empty()
    }

    /// `{"object":"list","data":[…]}` of the `models` this filter shows and
    /// `also` allows (a consumer's models).
    pub fn list_body(&self, models: &[Value], also: impl Fn(&str) -> bool) -> Value {
        let shown = |id: &str| self.filter.shows(id) && also(id);
        let data: Vec<&Value> = models.iter().filter(|m| model_id(m).is_some_and(shown)).collect();
        serde_json::json!({"object": "list", "data": data})
    }
}

/// The models of an upstream answer or a file, in any of the accepted shapes.
pub fn models_of(answer: Value) -> Option<Vec<Value>> {
    let list = match answer {
        Value::Object(mut object) => object.remove("data")?,
        other => other,
    };
    let Value::Array(items) = list else { return None };
    let models = items
        .into_iter()
        .map(|item| match item {
            Value::String(id) => serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "relay"}),
            other => other,
        })
        .collect::<Vec<_>>();
    models.iter().all(|m| model_id(m).is_some()).then_some(models)
}

fn model_id(model: &Value) -> Option<&str> {
    model.get("id").and_then(Value::as_str)
}

fn read_local(routes_dir: &Path, name: &str) -> Result<Option<LocalList>, String> {
    if name.is_empty() || Path::new(name).components().count() != 1 || name.starts_with('.') {
        return Err(format!("`file = {name:?}` must name a file directly inside the routes directory"));
    }
    let text = match std::fs::read_to_string(routes_dir.join(name)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the model list {name}: {e}")),
    };
    let answer: Value = serde_json::from_str(&text).map_err(|e| format!("the model list {name} is not JSON: {e}"))?;
    let models = models_of(answer).ok_or_else(|| {
        format!("the model list {name} must be {{\"data\": [...]}} or an array of models or ids, each with an `id`")
    })?;
    Ok(Some(LocalList { file: name.to_owned(), models }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_accepted_shape_reads_as_model_objects() {
        let ids = models_of(json!(["gpt-a", "gpt-b"])).unwrap_or_default();
        assert_eq!(ids[1]["id"], "gpt-b");
        assert_eq!(ids[1]["object"], "model");
        let listed = models_of(json!({"object": "list", "data": [{"id": "x", "owned_by": "me"}]})).unwrap_or_default();
        assert_eq!(listed, vec![json!({"id": "x", "owned_by": "me"})]);
        assert!(models_of(json!({"data": [{"name": "no id"}]})).is_none());
        assert!(models_of(json!({"error": {}})).is_none());
    }

    #[test]
    fn the_file_is_optional_but_must_be_valid_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ModelListSpec { file: Some("models.json".into()), ..Default::default() };
        let absent = ModelList::compile(&spec, dir.path());
        assert!(absent.is_ok_and(|list| list.local.is_none()));
        std::fs::write(dir.path().join("models.json"), "[\"a\", \"b\"]").unwrap();
        let present = ModelList::compile(&spec, dir.path()).map(|l| l.local.map(|l| l.models.len()));
        assert_eq!(present, Ok(Some(2)));
        std::fs::write(dir.path().join("models.json"), "{not json").unwrap();
        assert!(ModelList::compile(&spec, dir.path()).is_err_and(|e| e.contains("not JSON")));
        let escape = ModelListSpec { file: Some("../secrets.json".into()), ..Default::default() };
        assert!(ModelList::compile(&escape, dir.path()).is_err());
    }

    #[test]
    fn the_list_body_keeps_only_shown_models() {
        let list = ModelList { filter: ModelFilter::compile(&[], &["*codex*".into()]).unwrap(), local: None };
        let body = list.list_body(&[json!({"id": "gpt-5"}), json!({"id": "gpt-5-codex"})], |_| true);
        assert_eq!(body, json!({"object": "list", "data": [{"id": "gpt-5"}]}));
    }
}
