//! The request header, response header and body rules of a route, from
//! their merged spec (see [`crate::spec::merge`]).

use actix_web::http::header::{self, HeaderName};
use toml::Spanned;

use super::values;
use crate::diagnostics::{Source, SpecError};
use crate::env::Env;
use crate::spec::{BodySpec, HeaderPolicySpec, ResponseHeaderSpec};
use crate::table::{BodyRules, HeaderPolicy, ResponseHeaderPolicy};

const DEFAULT_MAX_BODY: u64 = 512 * 1024 * 1024;
const DEFAULT_BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(60);
const DEFAULT_MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// Headers the relay manages itself; a spec may not set them.
const MANAGED_HEADERS: [HeaderName; 5] =
    [header::HOST, header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION, header::UPGRADE];

fn header_names(src: &Source, at: usize, names: &[String]) -> Result<Vec<HeaderName>, SpecError> {
    names.iter().map(|n| values::header_name(src, at, n)).collect()
}

fn header_settings(
    src: &Source,
    env: &Env,
    map: &std::collections::BTreeMap<String, Spanned<String>>,
) -> Result<Vec<(HeaderName, actix_web::http::header::HeaderValue)>, SpecError> {
    let mut out = Vec::new();
    for (name, value) in map {
        let header = values::header_name(src, value.span().start, name)?;
        if MANAGED_HEADERS.contains(&header) {
            return Err(src
                .error_at(value.span().start, format!("`{name}` is managed by the relay and cannot be set"))
                .with_hint("the relay sets Host, Content-Length and the connection headers itself"));
        }
        if let Some(value) = values::header_value(src, env, name, value)? {
            out.push((header, value));
        }
    }
    Ok(out)
}

pub fn header_policy(
    src: &Source,
    env: &Env,
    spec: Option<&HeaderPolicySpec>,
    at: usize,
) -> Result<HeaderPolicy, SpecError> {
    let Some(spec) = spec else { return Ok(HeaderPolicy::default()) };
    Ok(HeaderPolicy {
        pass: spec.pass.as_deref().map(|names| header_names(src, at, names)).transpose()?,
        remove: header_names(src, at, spec.remove.as_deref().unwrap_or_default())?,
        set: header_settings(src, env, &spec.set)?,
        default: header_settings(src, env, &spec.default)?,
    })
}

pub fn response_header_policy(
    src: &Source,
    env: &Env,
    spec: Option<&ResponseHeaderSpec>,
    at: usize,
) -> Result<ResponseHeaderPolicy, SpecError> {
    let Some(spec) = spec else { return Ok(ResponseHeaderPolicy::default()) };
    Ok(ResponseHeaderPolicy {
        remove: header_names(src, at, spec.remove.as_deref().unwrap_or_default())?,
        set: header_settings(src, env, &spec.set)?,
    })
}

pub fn body_rules(src: &Source, spec: Option<&BodySpec>, at: usize) -> Result<BodyRules, SpecError> {
    let empty = BodySpec::default();
    let spec = spec.unwrap_or(&empty);
    let mut accept = Vec::new();
    for media in spec.accept.iter().flatten() {
        let media = media.trim().to_ascii_lowercase();
        let valid = media.split_once('/').is_some_and(|(t, s)| !t.is_empty() && !s.is_empty() && !s.contains('/'));
        if !valid {
            return Err(src
                .error_at(at, format!("`body.accept` entry {media:?} is not a media type"))
                .with_hint("write types such as \"application/json\", \"multipart/form-data\" or \"audio/*\""));
        }
        accept.push(media);
    }
    Ok(BodyRules {
        accept,
        max: spec.max.as_ref().map_or(Ok(DEFAULT_MAX_BODY), |v| values::size(src, v, "body.max"))?,
        idle_timeout: values::duration_or(src, spec.idle_timeout.as_ref(), "body.idle_timeout", DEFAULT_BODY_IDLE)?,
        max_response: spec
            .max_response
            .as_ref()
            .map_or(Ok(DEFAULT_MAX_RESPONSE), |v| values::size(src, v, "body.max_response"))?,
    })
}
