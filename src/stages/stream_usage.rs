//! Stage 3c, `stream_usage`: a consumer's streamed chat completion that did
//! not ask for its usage is sent with `stream_options.include_usage`, so
//! the upstream reports the tokens the consumer's limits count; the usage
//! chunk it adds is then kept from the client
//! ([`crate::quota::tap::UsageTap`]). A client that asked for it gets it.

use actix_web::http::header::{self, HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admit::BodyShape;
use super::client_body::{ClientBody, hold_whole};
use crate::error::RelayError;
use crate::media;
use crate::table::Route;

/// Asks for the usage where the route says so; returns whether the
/// client's stream must not see the usage chunk.
pub async fn ask(
    route: &Route,
    headers: &HeaderMap,
    shape: &mut BodyShape,
    body: &mut Option<ClientBody>,
) -> Result<bool, RelayError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !route.stream_usage || *shape == BodyShape::None || !media::is_json(content_type) {
        return Ok(false);
    }
    let Some(bytes) = hold_whole(body, shape, &route.body, route.timeout).await? else { return Ok(false) };
    // Most requests do not stream or ask already: read just those fields.
    let Ok(asked) = serde_json::from_slice::<Asked>(&bytes) else { return Ok(false) };
    if asked.stream != Some(true) || asked.stream_options.and_then(|o| o.include_usage) == Some(true) {
        return Ok(false);
    }
    let Ok(mut request) = serde_json::from_slice::<Value>(&bytes) else { return Ok(false) };
    let Some(fields) = request.as_object_mut() else { return Ok(false) };
    match fields.get_mut("stream_options").and_then(Value::as_object_mut) {
        Some(options) => {
            options.insert("include_usage".to_owned(), Value::Bool(true));
        }
        None => {
            fields.insert("stream_options".to_owned(), json!({"include_usage": true}));
        }
    }
    let rewritten = bytes::Bytes::from(serde_json::to_vec(&request).unwrap_or_else(|_| bytes.to_vec()));
    *shape = BodyShape::Sized(rewritten.len() as u64);
    *body = Some(ClientBody::Bytes(Some(rewritten)));
    Ok(true)
}

/// What a request says about streaming and its usage.
#[derive(Deserialize)]
struct Asked {
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}
