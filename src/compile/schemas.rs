//! Loading the schema files `openapi = {...}` names, from the `schemas/`
//! folder beside the routes directory.
//!
//! Each file is read, parsed and compiled as a JSON Schema once per table
//! build, however many routes name it; routes share it through an `Arc`. A
//! file that is missing, not JSON or not a valid schema is an error located
//! at the key that names it. A `query_schema` must describe an object with
//! `properties` (one per query parameter).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use toml::Spanned;

use crate::diagnostics::{Source, SpecError};
use crate::openapi::schemas::{RouteSchemas, Schema};
use crate::spec::OpenApiSpec;

/// The schema files loaded so far in this build, by path.
#[derive(Default)]
pub struct SchemaStore {
    loaded: RefCell<HashMap<PathBuf, Result<Arc<Schema>, String>>>,
}

impl SchemaStore {
    /// The schemas of one route's `openapi` table; each problem is pushed to `errors`.
    pub fn route_schemas(&self, src: &Source, spec: &OpenApiSpec, errors: &mut Vec<SpecError>) -> RouteSchemas {
        let routes_dir = src.path.parent().unwrap_or(Path::new("."));
        let dir = routes_dir.with_file_name("schemas");
        let mut load = |key: &str, name: &Option<Spanned<String>>| {
            let name = name.as_ref()?;
            match self.load(&dir, name.get_ref(), key == "query_schema") {
                Ok(schema) => Some(schema),
                Err(message) => {
                    errors.push(src.error_at(name.span().start, format!("`openapi.{key}`: {message}")).with_hint(
                        "name a JSON Schema file in the schemas/ folder beside the routes directory; \
                             tools/gen_schemas.py writes those under openai/",
                    ));
                    None
                }
            }
        };
        RouteSchemas {
            request: load("request_schema", &spec.request_schema),
            multipart: load("multipart_schema", &spec.multipart_schema),
            query: load("query_schema", &spec.query_schema),
            response: load("response_schema", &spec.response_schema),
        }
    }

    fn load(&self, dir: &Path, name: &str, query: bool) -> Result<Arc<Schema>, String> {
        if name.is_empty() || name.split(['/', '\\']).any(|part| part == "..") || Path::new(name).is_absolute() {
            return Err(format!("schema {name:?} must be a relative path inside the schemas folder"));
        }
        let path = dir.join(name);
        let result = self.loaded.borrow_mut().entry(path.clone()).or_insert_with(|| read(&path, name)).clone();
        let schema = result?;
        if query && !schema.value.get("properties").is_some_and(Value::is_object) {
            return Err(format!("schema {name:?} has no `properties`; a query schema lists one per parameter"));
        }
        Ok(schema)
    }
}

fn read(path: &Path, name: &str) -> Result<Arc<Schema>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read schema {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("schema {} is not JSON: {e}", path.display()))?;
    jsonschema::validator_for(&value)
        .map_err(|e| format!("schema {} is not a valid JSON Schema: {e}", path.display()))?;
    Ok(Arc::new(Schema { name: name.to_owned(), value }))
}
