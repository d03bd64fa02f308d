//! Conditions: boolean minijinja expressions over a request, shared by
//! guards (`deny_when`) and the retry verify step (`success_when`).
//!
//! An expression is compiled when the table is built and evaluated per
//! request over `params`, `query`, `headers` and, after a probe, `probe` (its
//! JSON answer). A missing field is undefined (false), never an error.

use std::sync::LazyLock;

use minijinja::{Environment, Expression, UndefinedBehavior};

use crate::error::RelayError;
use crate::transforms::RequestParts;

/// The one environment every condition is compiled in: undefined values
/// chain (`probe.a.b` on a missing `a` is undefined, not an error).
static CONDITIONS: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
});

/// A compiled boolean expression.
pub struct Condition {
    expression: Expression<'static, 'static>,
    pub source: String,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl Condition {
    /// Compiles `source`; `key` names the spec key in the error.
    pub fn compile(source: &str, key: &str) -> Result<Self, String> {
        let expression = CONDITIONS
            .compile_expression_owned(source.to_owned())
            .map_err(|e| format!("`{key}` is not a valid expression: {}", e.detail().unwrap_or("syntax error")))?;
        Ok(Condition { expression, source: source.to_owned() })
    }

    /// Evaluates over the request parts and a probe's answer.
    pub fn holds(&self, parts: &RequestParts, probe: Option<&serde_json::Value>) -> Result<bool, RelayError> {
        #[derive(serde::Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            parts: &'a RequestParts,
            probe: Option<&'a serde_json::Value>,
        }
        let context = minijinja::Value::from(minijinja::value::Serde(Context { parts, probe }));
        let verdict = self.expression.eval(context).map_err(|e| {
            RelayError::internal("condition_failed", format!("A condition of this route could not be evaluated: {e}."))
        })?;
        Ok(verdict.is_true())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts() -> RequestParts {
        RequestParts {
            params: [("file_id".to_owned(), "file-1".to_owned())].into(),
            query: Default::default(),
            headers: Default::default(),
        }
    }

    #[test]
    fn expressions_read_the_request_and_the_probe() {
        let purpose = Condition::compile("probe.purpose == 'user_data'", "deny_when").unwrap();
        assert!(purpose.holds(&parts(), Some(&json!({"purpose": "user_data"}))).unwrap());
        assert!(!purpose.holds(&parts(), Some(&json!({}))).unwrap(), "a missing field is false");
        assert!(!purpose.holds(&parts(), None).unwrap(), "no probe is false");
        let prefix = Condition::compile("params.file_id is startingwith('file-')", "deny_when").unwrap();
        assert!(prefix.holds(&parts(), None).unwrap());
        let deep = Condition::compile("probe.a.b.c == 1", "deny_when").unwrap();
        assert!(!deep.holds(&parts(), Some(&json!({}))).unwrap(), "undefined chains");
    }

    #[test]
    fn syntax_errors_name_the_key() {
        let error = Condition::compile("probe.purpose ==", "deny_when").unwrap_err();
        assert!(error.contains("`deny_when`"), "{error}");
        assert!(Condition::compile("{% if %}", "deny_when").is_err());
    }
}
