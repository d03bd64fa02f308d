//! WebSocket routes (`protocol = "websocket"`): the handshake with the
//! client, the upstream session, and the frames in between.
//!
//! The executor has matched the route and admitted the client (a relay key in
//! `X-Relay-Key`, `Authorization: Bearer`, or, for browsers, which cannot set
//! headers, a subprotocol entry `openai-insecure-api-key.<key>`; see
//! [`crate::auth::admits`]). [`serve`] then:
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

use std::rc::Rc;
use std::sync::Arc;

use actix_codec::Encoder;
use actix_http::ws::{Codec, Message as ClientMessage};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::auth::{KEY_PROTOCOL_PREFIX, offered};
use crate::error::RelayError;
use crate::stages::headers;
use crate::table::{Route, WebSocketLimits};
use crate::telemetry::access::{AccessLog, Entry};

/// Frames queued for the client before the upstream is read again.
const QUEUED_FOR_CLIENT: usize = 4;

/// Headers of the client's handshake that the relay sets itself upstream.
const HANDSHAKE_HEADERS: [HeaderName; 5] = [
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
    header::SEC_WEBSOCKET_PROTOCOL,
    header::SEC_WEBSOCKET_ACCEPT,
];

/// What a session needs besides the route: its request id, the TLS
/// settings for the upstream, and the access log (with the listener's
/// name) that gets a line when the session closes.
pub struct SessionContext<'a> {
    pub request_id: &'a str,
    pub tls: Arc<rustls::ClientConfig>,
    pub access: Option<(AccessLog, Rc<str>)>,
    /// A consumer's session: its place among the consumer's requests in
    /// flight, and what settles the usage the session's responses report.
    pub ticket: Option<crate::quota::Ticket>,
}

/// Opens the upstream session and answers the client's handshake.
pub async fn serve(
    req: &HttpRequest,
    payload: web::Payload,
    route: &Route,
    limits: WebSocketLimits,
    url: &str,
    context: SessionContext<'_>,
) -> Result<HttpResponse, RelayError> {
    let SessionContext { request_id, tls, access, ticket } = context;
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
        pump::Session { client, to_client, upstream: socket, limits, request_id: request_id.to_owned(), drain, ticket };
    let open = metrics::gauge!(crate::telemetry::metrics::OPEN_WEBSOCKETS, "route" => route.id.clone());
    let (route_id, path, request_id) = (route.id.clone(), req.path().to_owned(), request_id.to_owned());
    let (started, arrived) = (std::time::Instant::now(), std::time::SystemTime::now());
    actix_web::rt::spawn(async move {
        open.increment(1.0);
        pump::run(session).await;
        open.decrement(1.0);
        // The access log's line for the session, when it closes.
        if let Some((access, listener)) = access {
            access.record(&Entry {
                time: arrived,
                request_id: &request_id,
                listener: &listener,
                route: &route_id,
                method: &actix_web::http::Method::GET,
                path: &path,
                status: actix_web::http::StatusCode::SWITCHING_PROTOCOLS,
                bytes_in: 0,
                bytes_out: 0,
                duration: started.elapsed(),
                upstream_ttfb: None,
                retries: 0,
                completed: true,
                consumer: None,
                usage: None,
            });
        }
    });
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
