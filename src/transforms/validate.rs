//! `type = "validate"`: check a JSON body against a JSON Schema from
//! `schemas/`, compiled when the table is built.
//!
//! ```toml
//! [[route.transforms]]
//! type = "validate"
//! schema = "images_edit.json"   # relative to the schemas/ folder beside routes.d/
//! ```
//!
//! An invalid body gets 400 in the OpenAI error shape, with the JSON pointer
//! of the first problem in `param` (a missing or unexpected property is
//! named itself: `/path`, not `/`).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::RelayError;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateSpec {
    /// A file name in the schemas folder.
    pub schema: String,
}

/// A compiled schema.
pub struct Validate {
    name: String,
    /// The schema as read, for the generated OpenAPI document.
    schema: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Validate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validate").field("schema", &self.name).finish()
    }
}

impl Validate {
    /// Reads and compiles `schemas_dir/spec.schema`.
    pub fn compile(spec: &ValidateSpec, schemas_dir: &Path) -> Result<Self, String> {
        let name = &spec.schema;
        if name.contains("..") || Path::new(name).is_absolute() {
            return Err(format!("schema {name:?} must be a file name inside the schemas folder"));
        }
        let path = schemas_dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read schema {}: {e}", path.display()))?;
        let schema: Value =
            serde_json::from_str(&text).map_err(|e| format!("schema {} is not JSON: {e}", path.display()))?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("schema {} is not a valid JSON Schema: {e}", path.display()))?;
        Ok(Validate { name: name.clone(), schema, validator })
    }

    /// The JSON Schema the body is checked against.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// 400 with the first problem's JSON pointer, or `Ok`.
    pub fn check(&self, body: &Value) -> Result<(), RelayError> {
        match self.validator.iter_errors(body).next() {
            None => Ok(()),
            Some(error) => {
                let pointer = field_pointer(&error);
                let at = if pointer.is_empty() { "the body".to_owned() } else { pointer.clone() };
                let param = if pointer.is_empty() { "/".to_owned() } else { pointer };
                Err(RelayError::bad_request("invalid_body", format!("Invalid request body at {at}: {error}."))
                    .with_param(param))
            }
        }
    }
}

/// The pointer of the field at fault: a missing or unexpected property is
/// named itself, not the object that lacks or has it.
fn field_pointer(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind;
    let object = error.instance_path().to_string();
    let field = match error.kind() {
        ValidationErrorKind::Required { property } => property.as_str().map(str::to_owned),
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.first().cloned(),
        _ => None,
    };
    match field {
        Some(name) => format!("{object}/{}", name.replace('~', "~0").replace('/', "~1")),
        None => object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_the_pointer_of_the_first_problem() {
        let dir = tempfile::tempdir().unwrap();
        let schema = json!({"type": "object", "required": ["model"], "properties": {
            "model": {"type": "string"}, "n": {"type": "integer", "maximum": 4}}});
        std::fs::write(dir.path().join("s.json"), schema.to_string()).unwrap();
        let v = Validate::compile(&ValidateSpec { schema: "s.json".into() }, dir.path()).unwrap();
        assert!(v.check(&json!({"model": "m", "n": 2})).is_ok());
        let err = v.check(&json!({"model": "m", "n": 9})).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert_eq!(err.param.as_deref(), Some("/n"));
        assert!(err.message.contains("/n"), "{}", err.message);
        let err = v.check(&json!({})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("/model"), "a missing field is named");
        assert!(err.message.contains("model"), "{}", err.message);
    }

    #[test]
    fn bad_schemas_are_spec_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.json"), "{\"type\": 12}").unwrap();
        assert!(Validate::compile(&ValidateSpec { schema: "bad.json".into() }, dir.path()).is_err());
        assert!(Validate::compile(&ValidateSpec { schema: "missing.json".into() }, dir.path()).is_err());
        assert!(Validate::compile(&ValidateSpec { schema: "../x.json".into() }, dir.path()).is_err());
    }
}
