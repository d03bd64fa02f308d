//! The rules of ChatGPT Actions, checked when the table is compiled.
//!
//! An error in the full document fails the table: operationIds are unique.
//!
//! Errors in Actions metadata leave the route out of every Actions document
//! but do not stop the table, so a reload of other routes still applies
//! (`relay check` prints them and fails; `serve` logs them):
//!
//! - set names and operationIds use letters, digits, `_` and `-`;
//! - `summary` and `description` have at most 300 characters, parameter
//!   descriptions at most 700;
//! - no multipart request body; no hidden route.
//!
//! Warnings (printed; nothing fails):
//!
//! - a set with more than 30 operations;
//! - a route that streams (`sse`, `json_or_sse`) or returns binary: Actions
//!   read at most ~100,000 characters and wait at most 45 s;
//! - a route whose JSON request body has no schema (`openapi.request_schema`);
//! - a server URL that is not https while Actions sets exist.
//!
//! Each message is located at the route's `openapi = {...}` (else the route).

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use super::actions::Sets;
use super::model::{MAX_OPERATIONS, MAX_PARAMETER_DESCRIPTION, MAX_SUMMARY, Operation};
use crate::diagnostics::SpecError;
use crate::spec::ResponseKind;
use crate::table::{Origin, Route};

/// A problem in a document that does not stop the table: advice, or an
/// Actions error that left a route out of the Actions documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where it was written; `None` for the environment (server URL).
    pub origin: Option<Origin>,
    pub message: String,
    pub hint: Option<String>,
    /// An Actions error: the route is in no Actions document.
    pub error: bool,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.error { "error" } else { "warning" };
        match &self.origin {
            Some(origin) => write!(f, "{origin}: {kind}: {}", self.message)?,
            None => write!(f, "{kind}: {}", self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Where messages about a route's documents point.
fn origin(route: &Route) -> &Origin {
    route.docs.openapi_origin.as_ref().unwrap_or(&route.origin)
}

fn error(route: &Route, message: String, hint: impl Into<String>) -> SpecError {
    let at = origin(route);
    SpecError { file: at.file.clone(), line: at.line, column: at.column, message, hint: Some(hint.into()) }
}

fn warning(route: &Route, message: String, hint: impl Into<String>) -> Warning {
    Warning { origin: Some(origin(route).clone()), message, hint: Some(hint.into()), error: false }
}

fn actions_error(route: &Route, message: String, hint: impl Into<String>) -> Warning {
    Warning { error: true, ..warning(route, message, hint) }
}

/// Two operations with one operationId make the document invalid.
pub fn unique_operation_ids(operations: &[Operation<'_>], errors: &mut Vec<SpecError>) {
    let mut seen: HashMap<&str, &Route> = HashMap::new();
    for op in operations {
        if let Some(first) = seen.insert(&op.id, op.spec)
            && !std::ptr::eq(first, op.spec)
        {
            errors.push(error(
                op.spec,
                format!("operationId `{}` of route `{}` is also used by route `{}`", op.id, op.spec.id, first.id),
                format!(
                    "`{}` is at {}; set `openapi = {{ operation_id = \"...\" }}` to a unique name",
                    first.id, first.origin
                ),
            ));
        }
    }
}

/// The Actions rules, for every route in a set and every set. `values`
/// are the Actions operation objects (by position in `operations`, `None`
/// outside the sets). Returns the routes left out for an error.
pub fn check_actions(
    routes: &[Route],
    operations: &[Operation<'_>],
    values: &[Option<Value>],
    sets: &Sets,
    server_url: &str,
    warnings: &mut Vec<Warning>,
) -> HashSet<usize> {
    let mut excluded = HashSet::new();
    for &index in &sets.union {
        let route = &routes[index];
        let mut errors = Vec::new();
        for name in &route.docs.actions {
            if !valid_name(name) {
                errors.push(actions_error(
                    route,
                    format!("Actions set name {name:?} of route `{}` is not valid", route.id),
                    "use letters, digits, `_` and `-`: the set is served at /openapi.actions/NAME.json",
                ));
            }
        }
        if route.docs.hidden {
            errors.push(actions_error(
                route,
                format!("route `{}` is hidden but listed in an Actions set", route.id),
                "remove `hidden = true` or the `actions` list",
            ));
        }
        check_route(route, &mut errors, warnings);
        for (op, value) in operations.iter().zip(values).filter(|(op, _)| op.route == index) {
            check_operation(op, value.as_ref(), &mut errors, warnings);
        }
        if !errors.is_empty() {
            excluded.insert(index);
            warnings.extend(errors);
        }
    }
    let mut all: Vec<(&str, &[usize])> = sets.named.iter().map(|(n, m)| (n.as_str(), &m[..])).collect();
    if !sets.named.contains_key(super::DEFAULT_SET) && !sets.union.is_empty() {
        all.push((super::DEFAULT_SET, &sets.union));
    }
    for (name, members) in all {
        let ops: Vec<&Operation<'_>> = operations.iter().filter(|op| members.contains(&op.route)).collect();
        if let Some(extra) = ops.get(MAX_OPERATIONS) {
            warnings.push(warning(
                extra.spec,
                format!("Actions set `{name}` has {} operations; ChatGPT uses at most {MAX_OPERATIONS}", ops.len()),
                "split the set: give some routes another `actions` name",
            ));
        }
    }
    if !sets.union.is_empty() && !server_url.starts_with("https://") {
        warnings.push(Warning {
            origin: None,
            message: format!("the documents' server URL {server_url} is not https; ChatGPT Actions need https"),
            hint: Some(format!("set {}=https://YOUR-HOST before importing an Actions set", super::PUBLIC_URL_VAR)),
            error: false,
        });
    }
    excluded
}

fn check_route(route: &Route, errors: &mut Vec<Warning>, warnings: &mut Vec<Warning>) {
    let docs = &route.docs;
    for (field, text) in [("summary", &docs.summary), ("description", &docs.description)] {
        let length = text.as_deref().map_or(0, |t| t.chars().count());
        if length > MAX_SUMMARY {
            errors.push(actions_error(
                route,
                format!(
                    "the {field} of route `{}` has {length} characters; ChatGPT Actions allow {MAX_SUMMARY}",
                    route.id
                ),
                format!("shorten `{field}` of this route, which is in an Actions set"),
            ));
        }
    }
    if route.body.accept.iter().any(|media| media == "multipart/form-data") {
        errors.push(actions_error(
            route,
            format!("route `{}` takes multipart/form-data, which ChatGPT Actions cannot send", route.id),
            "offer a JSON form of this route (the `json_to_multipart` transform, when available) and list that one",
        ));
    }
    let limits = "ChatGPT Actions read at most ~100,000 characters of a response and wait at most 45 s";
    match docs.response {
        ResponseKind::Sse | ResponseKind::JsonOrSse => warnings.push(warning(
            route,
            format!("route `{}` can stream server-sent events; {limits}", route.id),
            "Actions do not read streams: keep `stream` off, or leave this route out of the set",
        )),
        ResponseKind::Binary => warnings.push(warning(
            route,
            format!("route `{}` returns binary content; {limits}", route.id),
            "prefer a route that answers JSON (metadata, a URL) in an Actions set",
        )),
        _ => {}
    }
}

fn check_operation(op: &Operation<'_>, value: Option<&Value>, errors: &mut Vec<Warning>, warnings: &mut Vec<Warning>) {
    if !valid_name(&op.id) {
        errors.push(actions_error(
            op.spec,
            format!("operationId {:?} of route `{}` is not valid for ChatGPT Actions", op.id, op.spec.id),
            "use letters, digits, `_` and `-` in `openapi.operation_id`",
        ));
    }
    let Some(value) = value else { return };
    for problem in long_parameter_descriptions(value) {
        errors.push(actions_error(op.spec, format!("{problem} in route `{}`", op.spec.id), "shorten the description"));
    }
    let json_body = &value["requestBody"]["content"]["application/json"]["schema"];
    if *json_body == serde_json::json!({"type": "object"}) {
        warnings.push(warning(
            op.spec,
            format!("the JSON body of route `{}` has no schema; a GPT will guess its fields", op.spec.id),
            "set `openapi.request_schema` to a schema in schemas/",
        ));
    }
}

/// Parameter descriptions longer than ChatGPT accepts, as messages.
pub fn long_parameter_descriptions(operation: &Value) -> Vec<String> {
    let params = operation.get("parameters").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    params
        .iter()
        .filter_map(|p| {
            let length = p.get("description").and_then(Value::as_str)?.chars().count();
            let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
            (length > MAX_PARAMETER_DESCRIPTION).then(|| {
                format!(
                    "the description of parameter `{name}` has {length} characters; ChatGPT Actions allow {MAX_PARAMETER_DESCRIPTION}"
                )
            })
        })
        .collect()
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameter_descriptions_are_limited() {
        let long = "x".repeat(701);
        let op = json!({"parameters": [{"name": "a", "description": "short"}, {"name": "b", "description": long}]});
        assert_eq!(
            long_parameter_descriptions(&op),
            vec!["the description of parameter `b` has 701 characters; ChatGPT Actions allow 700".to_owned()]
        );
        assert!(long_parameter_descriptions(&json!({})).is_empty());
    }

    #[test]
    fn names_are_letters_digits_underscore_dash() {
        assert!(valid_name("files_list-2"));
        assert!(!valid_name("files.list"));
        assert!(!valid_name(""));
    }
}
