//! The fields of a consumer's JSON request body that the consumer stages
//! read: `model` ([`super::permit`]) and `stream` with
//! `stream_options.include_usage` ([`super::stream_usage`]). The body is
//! read whole within the route's limits (and kept to send) and parsed once,
//! into these typed fields only, when either stage needs them.

use actix_web::http::header::{self, HeaderMap};
use bytes::Bytes;
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
    let fields = serde_json::from_slice::<Fields>(&bytes).unwrap_or_default();
    Ok(Some(JsonBody { bytes, fields }))
}
