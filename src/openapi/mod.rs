//! OpenAPI 3.1 and ChatGPT Actions documents, generated from the route table.
//!
//! The documents are built by [`crate::compile`] together with the table and
//! kept in it ([`Documents`], serialized once), so a reload publishes routes
//! and documents together and serving a document is a lookup:
//!
//! - [`document`]: the full document, one operation per (route, method);
//!   [`operation`] builds each operation object.
//! - [`actions`]: one document per Actions set (`openapi = { actions = [...] }`).
//! - [`checks`]: the rules ChatGPT Actions impose; an error leaves its route
//!   out of the Actions documents (the table still serves), and is kept with
//!   the warnings for `relay check` and the log.
//! - [`schemas`]: the schema files routes name, as document components.
//! - [`trim`]: schemas trimmed for a model to read, in Actions documents.
//! - [`manifest`]: the short description behind `GET /manifest`.
//!
//! The `default` Actions set holds the routes that list `"default"`; when no
//! route does, it is the union of all sets. Without any set it does not exist.

pub mod actions;
pub mod checks;
pub mod document;
pub mod manifest;
pub mod model;
pub mod operation;
pub mod schemas;
pub mod trim;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use checks::Warning;

use crate::diagnostics::SpecError;
use crate::env::Env;
use crate::table::Route;

/// The environment variable with the relay's public base URL (no `/v1`).
pub const PUBLIC_URL_VAR: &str = "RELAY_PUBLIC_URL";
/// The server URL of the documents when [`PUBLIC_URL_VAR`] is unset.
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8080";
/// The name of the default Actions set.
pub const DEFAULT_SET: &str = "default";

/// The generated documents of one table, as served (compact JSON).
#[derive(Debug, Default)]
pub struct Documents {
    /// The server URL written in every document, without a trailing slash.
    pub server_url: String,
    /// `GET /openapi.json`.
    pub full: Bytes,
    /// Each named Actions set's document.
    pub actions: BTreeMap<String, Bytes>,
    /// The default set's document (`GET /openapi.actions.json`), if any set exists.
    pub default_actions: Option<Bytes>,
    /// `GET /manifest`.
    pub manifest: Bytes,
    /// Actions rules that are advice, not errors (shown by `relay check`).
    pub warnings: Vec<Warning>,
}

impl Documents {
    /// Builds every document, or the errors that make the full document
    /// invalid. Actions errors only leave their routes out of the Actions
    /// documents; they are in `warnings`.
    pub fn build(routes: &[Route], server_url: &str, auth_required: bool) -> Result<Documents, Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let server_url = server_url.trim_end_matches('/').to_owned();
        let operations = document::operations(routes);
        checks::unique_operation_ids(&operations, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let sets = actions::sets(routes);
        let values: Vec<Option<serde_json::Value>> =
            operations.iter().map(|op| sets.union.contains(&op.route).then(|| actions::operation_value(op))).collect();
        let excluded = checks::check_actions(routes, &operations, &values, &sets, &server_url, &mut warnings);
        let full = to_bytes(&document::full(&operations, &server_url));
        let health = document::health_operation(&operations);
        let set_document = |name: &str, members: &[usize]| {
            let chosen = operations
                .iter()
                .zip(&values)
                .filter(|(op, _)| members.contains(&op.route) && !excluded.contains(&op.route))
                .filter_map(|(op, value)| Some((op, value.clone()?)));
            let health = if name == DEFAULT_SET { health.as_ref() } else { None };
            to_bytes(&actions::document(name, chosen, health, &server_url))
        };
        let mut docs = BTreeMap::new();
        for (name, members) in sets.named.iter().filter(|(name, _)| checks::valid_name(name)) {
            docs.insert(name.clone(), set_document(name, members));
        }
        let default_actions = match docs.get(DEFAULT_SET) {
            Some(doc) => Some(doc.clone()),
            None if sets.union.is_empty() => None,
            None => Some(set_document(DEFAULT_SET, &sets.union)),
        };
        let manifest = manifest::manifest(routes, &docs, default_actions.is_some(), &server_url, auth_required);
        Ok(Documents { full, actions: docs, default_actions, manifest: to_bytes(&manifest), warnings, server_url })
    }

    /// Whether an Actions error left a route out of the Actions documents.
    pub fn has_actions_errors(&self) -> bool {
        self.warnings.iter().any(|w| w.error)
    }

    /// The document of an Actions set; `default` is the default set.
    pub fn actions_set(&self, name: &str) -> Option<&Bytes> {
        match name {
            DEFAULT_SET => self.default_actions.as_ref(),
            _ => self.actions.get(name),
        }
    }
}

/// The server URL of the documents: `RELAY_PUBLIC_URL` or the default.
pub fn server_url(env: &Env) -> String {
    env.get(PUBLIC_URL_VAR).unwrap_or(DEFAULT_SERVER_URL).trim().trim_end_matches('/').to_owned()
}

fn to_bytes(value: &serde_json::Value) -> Bytes {
    Bytes::from(value.to_string())
}
