//! WebSocket routes (`protocol = "websocket"`): the handshake with the
//! client, the upstream session, and the frames in between.
//!
//! The executor has matched the route and admitted the client (a relay key in
//! `X-Relay-Key`, `Authorization: Bearer`, or, for browsers, which cannot set
//! headers, a subprotocol entry `openai-insecure-api-key.<key>`; see
//! [`admits`]). [`serve`] then:
//!
//! 1. checks the client's handshake (400 when it is not a valid one);
//! 2. opens the upstream WebSocket ([`upstream`]) with the headers the
//!    route's policy lets through (the server key, never the client's
//!    credentials), the client's query string and its subprotocols minus the
//!    relay key entry. A refused handshake answers the client with the
//!    upstream's status and body; unreachable is 502, too slow 504;
//! 3. answers 101 with the subprotocol the upstream chose, and spawns the
//!    session ([`pump`]) that relays frames both ways until either side
//!    closes or a limit ends it ([`close`] lists the close codes).

mod close;
mod frames;
mod pump;
mod upstream;

use std::sync::Arc;

use actix_codec::Encoder;
use actix_http::ws::{Codec, Message as ClientMessage};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::Stream;
use tokio::sync::mpsc;

use super::headers;
use crate::auth::ClientKeys;
use crate::error::RelayError;
use crate::table::{Route, WebSocketLimits};

/// The subprotocol prefix that carries a relay key (as OpenAI's browser
/// clients pass their API key). The entry never reaches the upstream.
pub const KEY_PROTOCOL_PREFIX: &str = "openai-insecure-api-key.";

/// Frames queued for the client before the upstream is read again.
const QUEUED_FOR_CLIENT: usize = 4;

/// Whether the request asks for a WebSocket upgrade (`GET` with
/// `Upgrade: websocket`); the full handshake is checked by [`serve`].
pub fn is_handshake(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && headers
            .get_all(header::UPGRADE)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case("websocket")))
}

/// The subprotocols a client offered: its relay key entry (if any) and the rest.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Offered<'a> {
    pub relay_key: Option<&'a str>,
    pub protocols: Vec<&'a str>,
}

/// Splits the `Sec-WebSocket-Protocol` entries of a request.
pub fn offered(headers: &HeaderMap) -> Offered<'_> {
    let mut offered = Offered::default();
    let entries = headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).filter_map(|v| v.to_str().ok());
    for entry in entries.flat_map(|v| v.split(',')).map(str::trim).filter(|e| !e.is_empty()) {
        match entry.strip_prefix(KEY_PROTOCOL_PREFIX) {
            Some(key) => offered.relay_key = offered.relay_key.or(Some(key)),
            None => offered.protocols.push(entry),
        }
    }
    offered
}

/// Whether the relay key entry of the offered subprotocols is a valid key.
pub fn admits(keys: &ClientKeys, headers: &HeaderMap) -> bool {
    offered(headers).relay_key.is_some_and(|key| keys.matches(key))
}

/// Headers of the client's handshake that the relay sets itself upstream.
const HANDSHAKE_HEADERS: [HeaderName; 5] = [
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
    header::SEC_WEBSOCKET_PROTOCOL,
    header::SEC_WEBSOCKET_ACCEPT,
];

/// Opens the upstream session and answers the client's handshake.
pub async fn serve(
    req: &HttpRequest,
    payload: web::Payload,
    route: &Route,
    limits: WebSocketLimits,
    url: &str,
    request_id: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<HttpResponse, RelayError> {
    actix_http::ws::verify_handshake(req.head()).map_err(|e| {
        RelayError::bad_request("invalid_websocket_handshake", format!("Invalid WebSocket handshake: {e}."))
    })?;
    let mut upstream_headers = HeaderMap::new();
    let peer = req.peer_addr().map(|addr| addr.ip());
    headers::upstream_headers(req.headers(), route, peer, request_id, &mut upstream_headers);
    for name in &HANDSHAKE_HEADERS {
        upstream_headers.remove(name);
    }
    let protocols: Vec<String> = offered(req.headers()).protocols.into_iter().map(str::to_owned).collect();
    let handshake = upstream::Handshake { route, url, headers: &upstream_headers, protocols: &protocols, tls };
    let (socket, answer) = match upstream::connect(handshake).await {
        Ok(connected) => connected,
        Err(upstream::Failure::Relay(error)) => return Err(error),
        Err(upstream::Failure::Refused(refusal)) => return Ok(upstream::refused(route, *refusal)),
    };
    let mut response = HttpResponse::SwitchingProtocols();
    let mut passed = HeaderMap::new();
    headers::client_headers(&upstream::actix_headers(answer.headers()), route, &mut passed);
    for (name, value) in passed.iter().filter(|(name, _)| !HANDSHAKE_HEADERS.contains(name)) {
        response.append_header((name.clone(), value.clone()));
    }
    if let Some(chosen) = chosen_protocol(answer.headers(), req.headers()) {
        response.insert_header((header::SEC_WEBSOCKET_PROTOCOL, chosen));
    }
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).map(|k| actix_http::ws::hash_key(k.as_bytes()));
    let accept = key.and_then(|key| HeaderValue::from_bytes(&key).ok());
    let accept = accept.ok_or_else(|| RelayError::bad_request("invalid_websocket_handshake", "No key."))?;
    response.upgrade("websocket").insert_header((header::SEC_WEBSOCKET_ACCEPT, accept));
    let (to_client, queued) = mpsc::channel(QUEUED_FOR_CLIENT);
    let client = frames::ClientFrames::new(payload, limits.max_message);
    let drain = req.app_data::<web::Data<crate::drain::Drain>>().map(|d| d.get_ref().clone()).unwrap_or_default();
    let session =
        pump::Session { client, to_client, upstream: socket, limits, request_id: request_id.to_owned(), drain };
    actix_web::rt::spawn(pump::run(session));
    Ok(response.streaming(encoded(queued)))
}

/// The subprotocol for the client: the upstream's choice. When the upstream
/// chose none and the client offered nothing but its key entry, that entry:
/// browsers fail a handshake that offered subprotocols and got none back.
fn chosen_protocol(
    upstream: &tokio_tungstenite::tungstenite::http::HeaderMap,
    client: &HeaderMap,
) -> Option<HeaderValue> {
    if let Some(chosen) = upstream.get("sec-websocket-protocol") {
        return HeaderValue::from_bytes(chosen.as_bytes()).ok();
    }
    let offered = offered(client);
    let key = offered.relay_key.filter(|_| offered.protocols.is_empty())?;
    HeaderValue::from_str(&format!("{KEY_PROTOCOL_PREFIX}{key}")).ok()
}

/// The client's frames, encoded as the response body; it ends when the
/// session drops its sender.
fn encoded(
    queued: mpsc::Receiver<ClientMessage>,
) -> impl Stream<Item = Result<bytes::Bytes, actix_http::ws::ProtocolError>> {
    futures_util::stream::unfold((queued, Codec::new()), |(mut queued, mut codec)| async move {
        let message = queued.recv().await?;
        let mut buf = BytesMut::new();
        let encoded = codec.encode(message, &mut buf).map(|()| buf.freeze());
        Some((encoded, (queued, codec)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_entry_is_split_from_the_protocols() {
        let mut headers = HeaderMap::new();
        let value = "realtime, openai-insecure-api-key.rk-1 ,openai-beta.realtime-v1";
        headers.append(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(value));
        headers.append(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("openai-insecure-api-key.rk-2"));
        let offered = offered(&headers);
        assert_eq!(offered.relay_key, Some("rk-1"));
        assert_eq!(offered.protocols, ["realtime", "openai-beta.realtime-v1"]);
        assert!(admits(&ClientKeys::from_list("rk-1"), &headers));
        assert!(!admits(&ClientKeys::from_list("rk-2"), &headers));
        assert_eq!(super::offered(&HeaderMap::new()), Offered::default());
    }
}
