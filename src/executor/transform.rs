//! Stage 6: request transforms. Runs only on routes that have some.
//!
//! When a transform needs the JSON body, the body is read here, bounded by
//! the route's `body.max` (and never more than [`MAX_JSON_BODY`]) and by its
//! idle timeout, then parsed; every other body keeps streaming untouched.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::body::BodyShape;
use crate::auth::RELAY_KEY_HEADER;
use crate::error::RelayError;
use crate::table::Route;
use crate::transforms::json_to_multipart::{FetchContext, Multipart};
use crate::transforms::{Applied, RequestParts, is_json};

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

/// Runs the route's transforms. Takes the payload when it reads the body.
pub async fn run(
    route: &Route,
    req: &HttpRequest,
    params: &[&str],
    shape: BodyShape,
    payload: &mut Option<web::Payload>,
    fetch: &FetchContext,
) -> Result<Transformed, RelayError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let read_body = route.transforms.needs_json_body() && shape != BodyShape::None && is_json(content_type);
    let mut client_body = None;
    let body = match (read_body, payload.take()) {
        (true, Some(mut taken)) => {
            let limit = route.body.max.min(MAX_JSON_BODY);
            let bytes = match read_limited(&mut taken, limit, route.body.idle_timeout).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    // Given back unread: the caller holds it until the answer is sent.
                    *payload = Some(taken);
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
            *payload = untouched;
            None
        }
    };
    let parts = request_parts(route, params, req.uri().query(), req.headers());
    let had_body = body.is_some();
    let mut applied = route.transforms.apply(&parts, body)?;
    let body = match (applied.body.take(), route.transforms.multipart()) {
        (Some(value), Some(multipart)) if !multipart.passes_through(&value) => {
            Some(Body::Multipart(multipart.build(&value, fetch).await?))
        }
        (Some(value), _) if had_body || route.transforms.needs_json_body() => {
            Some(Body::Json(Bytes::from(value.to_string())))
        }
        _ => None,
    };
    Ok(Transformed { body, applied, client_body })
}

pub(super) async fn read_limited(payload: &mut web::Payload, limit: u64, idle: Duration) -> Result<Bytes, RelayError> {
    let mut collected = BytesMut::new();
    loop {
        match tokio::time::timeout(idle, payload.next()).await {
            Err(_) => return Err(RelayError::request_timeout("The client stopped sending its request body.")),
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(Err(_))) => {
                return Err(RelayError::bad_request(
                    "body_incomplete",
                    "The request body could not be read completely.",
                ));
            }
            Ok(Some(Ok(chunk))) => {
                if (collected.len() + chunk.len()) as u64 > limit {
                    return Err(RelayError::payload_too_large(limit));
                }
                collected.extend_from_slice(&chunk);
            }
        }
    }
}

/// What transforms, guards and conditions see of a request: path
/// parameters and query (decoded) and headers (credentials left out).
pub fn request_parts(route: &Route, params: &[&str], query: Option<&str>, headers: &HeaderMap) -> RequestParts {
    let params = route.params.iter().cloned().zip(params.iter().map(|v| percent_decode(v))).collect();
    let mut decoded = BTreeMap::new();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        decoded
            .entry(percent_decode(&key.replace('+', " ")))
            .or_insert_with(|| percent_decode(&value.replace('+', " ")));
    }
    RequestParts { params, query: decoded, headers: visible_headers(headers) }
}

fn visible_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let secret = *name == header::AUTHORIZATION
            || *name == header::COOKIE
            || *name == header::PROXY_AUTHORIZATION
            || name.as_str() == RELAY_KEY_HEADER;
        if let (false, Ok(value)) = (secret, value.to_str()) {
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

/// Decodes `%XX` escapes; invalid escapes and non-UTF-8 stay as written.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%ff"), "%ff");
    }
}
