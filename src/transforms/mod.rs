//! Request transforms: a closed set, compiled with the table and applied by
//! the executor in one fixed order, whatever order the spec lists them in:
//!
//! 0. [`validate`]: the client's JSON body (on an envelope route, the
//!    envelope) is checked against a schema.
//! 1. [`envelope`]: the request to send is read from the JSON body
//!    (method, path, query, body), if it is on the route's allowlist.
//! 2. [`json_fields`]: fields are set, defaulted or removed.
//! 3. [`chat_to_responses`]: a chat completion request becomes a Responses
//!    request. It runs on the client's chat body, so `validate` and
//!    `json_fields` see chat fields and `template` sees the Responses body.
//!    It also picks the [`ResponseTransform`] the executor applies to the
//!    answer.
//! 4. [`template`]: path, headers or the whole body are rendered.
//! 5. [`json_to_multipart`]: the JSON body becomes a multipart upload, with
//!    linked files fetched safely (async; run by the executor after the rest).
//!
//! JSON transforms apply to JSON bodies (`application/json` or `+json`);
//! other bodies (a multipart upload on the same route) stream untouched.
//! A route lists each kind at most once.

pub mod chat_to_responses;
pub mod envelope;
pub mod json_fields;
pub mod json_to_multipart;
pub mod template;
pub mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use actix_web::http::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::RelayError;

/// `[[route.transforms]]` as written, tagged by `type`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransformSpec {
    Envelope(envelope::EnvelopeSpec),
    Validate(validate::ValidateSpec),
    JsonFields(json_fields::JsonFieldsSpec),
    ChatToResponses(chat_to_responses::ChatToResponsesSpec),
    Template(template::TemplateSpec),
    JsonToMultipart(json_to_multipart::JsonToMultipartSpec),
}

/// A compiled transform.
#[derive(Debug)]
pub enum Transform {
    Envelope(envelope::Envelope),
    Validate(validate::Validate),
    JsonFields(json_fields::JsonFields),
    ChatToResponses(chat_to_responses::ChatToResponses),
    Template(Box<template::Template>),
    JsonToMultipart(json_to_multipart::JsonToMultipart),
}

impl Transform {
    /// Compiles one spec; schemas are read from `schemas_dir`.
    pub fn compile(spec: &TransformSpec, schemas_dir: &Path) -> Result<Transform, String> {
        Ok(match spec {
            TransformSpec::Envelope(s) => Transform::Envelope(envelope::Envelope::compile(s)?),
            TransformSpec::Validate(s) => Transform::Validate(validate::Validate::compile(s, schemas_dir)?),
            TransformSpec::JsonFields(s) => Transform::JsonFields(json_fields::JsonFields::compile(s)?),
            TransformSpec::ChatToResponses(s) => {
                Transform::ChatToResponses(chat_to_responses::ChatToResponses::compile(s)?)
            }
            TransformSpec::Template(s) => Transform::Template(Box::new(template::Template::compile(s)?)),
            TransformSpec::JsonToMultipart(s) => {
                Transform::JsonToMultipart(json_to_multipart::JsonToMultipart::compile(s)?)
            }
        })
    }

    /// Position in the fixed order, and the kind's name.
    fn stage(&self) -> (u8, &'static str) {
        match self {
            Transform::Validate(_) => (0, "validate"),
            Transform::Envelope(_) => (1, "envelope"),
            Transform::JsonFields(_) => (2, "json_fields"),
            Transform::ChatToResponses(_) => (3, "chat_to_responses"),
            Transform::Template(_) => (4, "template"),
            Transform::JsonToMultipart(_) => (5, "json_to_multipart"),
        }
    }

    fn needs_json_body(&self) -> bool {
        match self {
            Transform::Envelope(_)
            | Transform::Validate(_)
            | Transform::JsonFields(_)
            | Transform::ChatToResponses(_)
            | Transform::JsonToMultipart(_) => true,
            Transform::Template(t) => t.uses_body(),
        }
    }
}

/// What a template may read about the request, besides its body.
#[derive(Debug, Default, Serialize)]
pub struct RequestParts {
    pub params: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    /// Lowercase names; credentials are never included.
    pub headers: BTreeMap<String, String>,
}

/// The template context: the request parts and the current JSON body.
#[derive(Debug, Serialize)]
pub struct RequestContext<'a> {
    #[serde(flatten)]
    pub parts: &'a RequestParts,
    pub body: Option<&'a Value>,
}

/// The transforms of a route, in the order they run.
#[derive(Debug, Default)]
pub struct Pipeline {
    transforms: Vec<Transform>,
}

/// What the transforms changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub body: Option<Value>,
    /// A method that replaces the client's (from an envelope).
    pub method: Option<actix_web::http::Method>,
    pub path: Option<String>,
    /// A query that replaces the client's (from an envelope).
    pub query: Option<Option<String>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What the executor does to a 2xx answer, if anything.
    pub response: Option<ResponseTransform>,
}

/// A translation of the upstream's 2xx answer, chosen by a request
/// transform for this one exchange. Applied in one place, the executor's
/// response stage (`executor::translate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseTransform {
    /// A Responses answer (JSON or SSE) becomes a chat completion.
    ChatFromResponses(chat_to_responses::Exchange),
}

impl Pipeline {
    /// Orders the transforms; a kind listed twice is an error.
    pub fn new(mut transforms: Vec<Transform>) -> Result<Self, String> {
        transforms.sort_by_key(|t| t.stage().0);
        if let Some(pair) = transforms.windows(2).find(|w| w[0].stage().0 == w[1].stage().0) {
            return Err(format!("`{}` is listed twice; merge the two entries", pair[0].stage().1));
        }
        Ok(Pipeline { transforms })
    }

    pub fn is_empty(&self) -> bool {
        self.transforms.is_empty()
    }

    /// The `json_to_multipart` transform, if the route has one.
    pub fn multipart(&self) -> Option<&json_to_multipart::JsonToMultipart> {
        self.transforms.iter().find_map(|t| match t {
            Transform::JsonToMultipart(m) => Some(m),
            _ => None,
        })
    }

    /// The schema of the `validate` transform, if the route has one.
    pub fn validate_schema(&self) -> Option<&Value> {
        self.transforms.iter().find_map(|t| match t {
            Transform::Validate(v) => Some(v.schema()),
            _ => None,
        })
    }

    /// Whether a JSON body must be read (and may be replaced).
    pub fn needs_json_body(&self) -> bool {
        self.transforms.iter().any(Transform::needs_json_body)
    }

    /// Runs every transform. `body` is the parsed JSON body, if read.
    pub fn apply(&self, parts: &RequestParts, body: Option<Value>) -> Result<Applied, RelayError> {
        let mut applied = Applied { body, ..Applied::default() };
        for transform in &self.transforms {
            match transform {
                Transform::Envelope(e) => {
                    let body = applied.body.take().ok_or_else(|| {
                        RelayError::bad_request("invalid_envelope", "This endpoint takes a JSON envelope.")
                    })?;
                    let inner = e.open(&body)?;
                    applied.method = Some(inner.method);
                    applied.path = Some(inner.path);
                    applied.query = Some(inner.query);
                    applied.body = inner.body;
                }
                Transform::Validate(v) => {
                    if let Some(body) = &applied.body {
                        v.check(body)?;
                    }
                }
                Transform::JsonFields(f) => {
                    // With no body, fields it sets make one (`{"stream": true}`).
                    if applied.body.is_none() && f.sets_fields() {
                        applied.body = Some(Value::Object(serde_json::Map::new()));
                    }
                    if let Some(body) = &mut applied.body {
                        f.apply(body);
                    }
                }
                Transform::ChatToResponses(c) => {
                    let body = applied.body.take().ok_or_else(|| {
                        RelayError::bad_request(
                            "invalid_chat_request",
                            "This endpoint takes a chat completion request.",
                        )
                        .with_param("body")
                    })?;
                    let (body, exchange) = c.request(&body)?;
                    applied.body = Some(body);
                    applied.response = Some(ResponseTransform::ChatFromResponses(exchange));
                    // The answer is translated: it must come uncompressed.
                    applied
                        .headers
                        .push((actix_web::http::header::ACCEPT_ENCODING, HeaderValue::from_static("identity")));
                }
                // Async: run by the executor once the others are done.
                Transform::JsonToMultipart(_) => {}
                Transform::Template(t) => {
                    let cx = RequestContext { parts, body: applied.body.as_ref() };
                    let (path, headers, new_body) = (t.render_path(&cx)?, t.render_headers(&cx)?, t.render_body(&cx)?);
                    if path.is_some() {
                        applied.path = path;
                    }
                    applied.headers.extend(headers);
                    if let Some(new_body) = new_body {
                        applied.body = Some(new_body);
                    }
                }
            }
        }
        Ok(applied)
    }
}
