//! Stage 3c, `stream_usage`: a consumer's streamed chat completion that did
//! not ask for its usage is sent with `stream_options.include_usage`, so
//! the upstream reports the tokens the consumer's limits count; the usage
//! chunk it adds is then kept from the client
//! ([`crate::quota::tap::UsageTap`]). A client that asked for it gets it.

use serde_json::{Value, json};

use super::admit::BodyShape;
use super::client_body::ClientBody;
use super::json_fields::JsonBody;
use crate::table::Route;

/// Asks for the usage where the route says so; returns whether the
/// client's stream must not see the usage chunk.
pub fn ask(route: &Route, json: Option<JsonBody>, shape: &mut BodyShape, body: &mut Option<ClientBody>) -> bool {
    let Some(JsonBody { bytes, fields }) = json.filter(|_| route.stream_usage) else { return false };
    // Most requests do not stream, or ask already: nothing to rewrite.
    if fields.stream != Some(true) || fields.stream_options.and_then(|o| o.include_usage) == Some(true) {
        return false;
    }
    let Ok(mut request) = serde_json::from_slice::<Value>(&bytes) else { return false };
    let Some(fields) = request.as_object_mut() else { return false };
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
    true
}
