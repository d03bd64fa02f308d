//! The fields of a consumer's JSON request body that the consumer stages
//! read: `model` ([`super::permit`]) and `stream` with
//! `stream_options.include_usage` ([`super::stream_usage`]). The body is
//! read whole within the route's limits (and kept to send) and parsed once,
//! into these typed fields only, when either stage needs them.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderMap};
use bytes::Bytes;
use memchr::memmem;
use serde::Deserialize;

use super::admit::BodyShape;
use super::client_body::{ClientBody, hold_whole};
use crate::error::RelayError;
use crate::media;
use crate::policy::consumer::Consumer;
use crate::table::Route;

/// A JSON request body, and what it says.
pub struct JsonBody {
    pub bytes: Bytes,
    pub fields: Fields,
}

/// What the consumer stages read of a request (absent when not given, or
/// when the body is not a JSON object).
#[derive(Deserialize, Default)]
pub struct Fields {
    pub model: Option<String>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
}

/// `stream_options`, as far as usage goes.
#[derive(Deserialize)]
pub struct StreamOptions {
    pub include_usage: Option<bool>,
}

/// Reads the JSON body if the consumer's model rule or the route's
/// `stream_usage` needs it; its shape becomes its size.
pub async fn read(
    consumer: &Consumer,
    route: &Route,
    headers: &HeaderMap,
    shape: &mut BodyShape,
    body: &mut Option<ClientBody>,
) -> Result<Option<JsonBody>, RelayError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let wanted = consumer.needs_model() || route.stream_usage;
    if !wanted || *shape == BodyShape::None || !media::is_json(content_type) {
        return Ok(None);
    }
    let Some(bytes) = hold_whole(body, shape, &route.body, route.timeout).await? else { return Ok(None) };
    // Without a model rule, only `stream` matters: a body that cannot hold
    // that key (not even written with `\u` escapes) needs no parse.
    let fields = if consumer.needs_model() || may_name_stream(&bytes) {
        serde_json::from_slice::<Fields>(&bytes).unwrap_or_default()
    } else {
        Fields::default()
    };
    Ok(Some(JsonBody { bytes, fields }))
}

/// Whether a JSON text may have a `stream` key: it has `"stream"`, or an
/// escape that could spell it (`\u`).
fn may_name_stream(json: &[u8]) -> bool {
    static STREAM: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"stream\""));
    STREAM.find(json).is_some() || memchr::memchr_iter(b'\\', json).any(|at| json.get(at + 1) == Some(&b'u'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut may skip a parse only where `stream` cannot be a key.
    #[test]
    fn a_body_that_may_stream_is_parsed() {
        let may = |body: &str| may_name_stream(body.as_bytes());
        assert!(may(r#"{"model":"m","stream":true}"#));
        assert!(may(r#"{"model":"m","str\u0065am":true}"#));
        let escaped: Fields = serde_json::from_str(r#"{"str\u0065am":true}"#).unwrap();
        assert_eq!(escaped.stream, Some(true));
        assert!(!may(r#"{"model":"m","messages":[]}"#));
    }
}
