//! Stage 5, transform: the route's transforms run (only on routes that
//! have some), after the guards.
//!
//! When a transform needs the JSON body, the body is read here, bounded by
//! the route's `body.max` (and never more than [`MAX_JSON_BODY`]) and by its
//! idle timeout, then parsed; every other body keeps streaming untouched. A
//! `json_to_multipart` transform then builds its multipart body, fetching
//! linked files through the given fetch context (a dry run fetches nothing).

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderMap};
use bytes::Bytes;

use super::admit::BodyShape;
use super::client_body::{ClientBody, read_limited};
use crate::error::RelayError;
use crate::media;
use crate::secrets::is_secret_header;
use crate::table::Route;
use crate::transforms::json_to_multipart::{FetchContext, Multipart};
use crate::transforms::{Applied, RequestParts};

/// The most a JSON body read for transforms may hold.
pub const MAX_JSON_BODY: u64 = 16 * 1024 * 1024;

/// The transforms' output, ready to send.
pub struct Transformed {
    /// The new body, when the transforms made one.
    pub body: Option<Body>,
    pub applied: Applied,
    /// The client's JSON body as received, when it was read.
    pub client_body: Option<Bytes>,
}

/// A body made by the transforms.
pub enum Body {
    Json(Bytes),
    Multipart(Multipart),
}

/// Runs the route's transforms. Takes the body from `body` when it reads
/// it; on an error the unread body is left there.
pub async fn transform(
    route: &Route,
    headers: &HeaderMap,
    parts: &RequestParts,
    shape: BodyShape,
    body: &mut Option<ClientBody>,
    fetch: &FetchContext,
) -> Result<Transformed, RelayError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let read_body = route.transforms.needs_json_body() && shape != BodyShape::None && media::is_json(content_type);
    let mut client_body = None;
    let json = match (read_body, body.take()) {
        (true, Some(mut taken)) => {
            let limit = route.body.max.min(MAX_JSON_BODY);
            let bytes = match read_limited(&mut taken, limit, route.body.idle_timeout, route.timeout).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    *body = Some(taken);
                    return Err(error);
                }
            };
            client_body = Some(bytes.clone());
            Some(serde_json::from_slice(&bytes).map_err(|e| {
                RelayError::bad_request("invalid_json", format!("The request body is not valid JSON: {e}."))
                    .with_param("body")
            })?)
        }
        (_, untouched) => {
            *body = untouched;
            None
        }
    };
    let had_body = json.is_some();
    let mut applied = route.transforms.apply(parts, json)?;
    let made = match (applied.body.take(), route.transforms.multipart()) {
        (Some(value), Some(multipart)) if !multipart.passes_through(&value) => {
            Some(Body::Multipart(multipart.build(&value, fetch).await?))
        }
        (Some(value), _) if had_body || route.transforms.needs_json_body() => {
            Some(Body::Json(Bytes::from(value.to_string())))
        }
        _ => None,
    };
    Ok(Transformed { body: made, applied, client_body })
}

/// What transforms, guards and conditions see of a request: path
/// parameters and query (decoded; the first of a repeated query key) and
/// headers (credentials left out, by the one rule of [`crate::secrets`]).
pub fn request_parts(route: &Route, params: &[&str], query: Option<&str>, headers: &HeaderMap) -> RequestParts {
    let decode = |value: &str| percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
    let params = route.params.iter().cloned().zip(params.iter().map(|v| decode(v))).collect();
    let mut decoded = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        decoded.entry(key.into_owned()).or_insert_with(|| value.into_owned());
    }
    RequestParts { params, query: decoded, headers: visible_headers(headers) }
}

fn visible_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        if let (false, Ok(value)) = (is_secret_header(name), value.to_str()) {
            out.entry(name.as_str().to_owned())
                .and_modify(|existing| {
                    existing.push_str(", ");
                    existing.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
    }
    out
}
