//! OpenAPI 3.1 and ChatGPT Actions documents, generated from the route table.
//!
//! The documents are built by [`crate::compile`] together with the table and
//! kept in it ([`Documents`], serialized once), so a reload publishes routes
//! and documents together and serving a document is a lookup:
//!
//! - [`document`]: the full document, one operation per (route, method).
//! - [`actions`]: one document per Actions set (`openapi = { actions = [...] }`).
//! - [`checks`]: the rules ChatGPT Actions impose; errors fail the compile,
//!   warnings are kept for `relay check`.
//! - [`manifest`]: the short description behind `GET /manifest`.
//!
//! The `default` Actions set holds the routes that list `"default"`; when no
//! route does, it is the union of all sets. Without any set it does not exist.

pub mod actions;
pub mod checks;
pub mod document;
pub mod manifest;
pub mod schemas;

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
    /// Builds every document, or the Actions rule errors found.
    pub fn build(routes: &[Route], server_url: &str, auth_required: bool) -> Result<Documents, Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let server_url = server_url.trim_end_matches('/').to_owned();
        let operations = document::operations(routes);
        checks::unique_operation_ids(&operations, &mut errors);
        let sets = actions::sets(routes);
        checks::check_actions(routes, &operations, &sets, &server_url, &mut errors, &mut warnings);
        if !errors.is_empty() {
            return Err(errors);
        }
        let full = document::full(&operations, &server_url);
        let mut docs = BTreeMap::new();
        for (name, members) in &sets.named {
            docs.insert(name.clone(), to_bytes(&actions::document(name, members, &operations, &server_url)));
        }
        let default_actions = match docs.get(DEFAULT_SET) {
            Some(doc) => Some(doc.clone()),
            None if sets.union.is_empty() => None,
            None => Some(to_bytes(&actions::document(DEFAULT_SET, &sets.union, &operations, &server_url))),
        };
        let manifest = manifest::manifest(routes, &docs, default_actions.is_some(), &server_url, auth_required);
        Ok(Documents {
            full: to_bytes(&full),
            actions: docs,
            default_actions,
            manifest: to_bytes(&manifest),
            warnings,
            server_url,
        })
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
