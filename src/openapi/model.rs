//! What the documents are made of, shared by the full document, the
//! Actions documents and their checks: an [`Operation`] (a route and one
//! method), how schemas are written ([`Style`]), the security schemes and
//! the limits ChatGPT Actions impose. A leaf of [`crate::openapi`].

use actix_web::http::Method;
use serde_json::Value;

use super::schemas::{Components, Schema};
use super::trim;
use crate::table::Route;

/// Longest `summary` or `description` ChatGPT accepts.
pub const MAX_SUMMARY: usize = 300;
/// Longest parameter description ChatGPT accepts.
pub const MAX_PARAMETER_DESCRIPTION: usize = 700;
/// Operations beyond this many per set are not all offered to the model.
pub const MAX_OPERATIONS: usize = 30;

/// Name of the bearer security scheme.
pub const BEARER_SCHEME: &str = "bearerAuth";
/// Name of the `X-Relay-Key` security scheme.
pub const HEADER_SCHEME: &str = "relayKey";

/// One operation of the document, with the route it documents.
#[derive(Debug)]
pub struct Operation<'r> {
    /// Index into the table's routes.
    pub route: usize,
    pub spec: &'r Route,
    pub method: Method,
    /// The OpenAPI path template.
    pub path: String,
    pub id: String,
}

/// How schemas are written into an operation.
pub enum Style<'c> {
    /// As `$ref`s into the full document's components.
    Full(&'c mut Components),
    /// Inline, trimmed for a model to read.
    Actions,
}

impl Style<'_> {
    pub(super) fn schema(&mut self, schema: &Schema, depth: usize) -> Value {
        match self {
            Style::Full(components) => components.reference(schema),
            Style::Actions => trim::trim(&schema.value, depth),
        }
    }

    /// A schema that is not a file of its own (a `validate` schema).
    pub(super) fn inline(&self, schema: &Value) -> Value {
        match self {
            Style::Full(_) => embedded_schema(schema),
            Style::Actions => trim::trim(schema, trim::REQUEST_DEPTH),
        }
    }
}

/// A `validate` schema inside the document: `$schema` and `$id` are dropped
/// (the document's dialect applies).
pub(super) fn embedded_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("$id");
    }
    schema
}
