//! Stage 1, resolve: the raw path is checked (dot segments, encoded
//! slashes: 400), the route matched among the listener's routes (404, 405;
//! 426 for a plain request to a WebSocket-only path) and the upstream URL
//! built. A WebSocket handshake matches only WebSocket routes, a plain
//! request only HTTP routes (see [`crate::matcher`]).

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};

use super::sender::Inbound;
use crate::error::RelayError;
use crate::table::{Resolved, Table};

/// Whether the request asks for a WebSocket upgrade (`GET` with
/// `Upgrade: websocket`); the full handshake is checked when it is served.
pub fn is_handshake(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && headers
            .get_all(header::UPGRADE)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case("websocket")))
}

/// Matches the request to a route of its listener.
pub fn resolve<'a>(table: &Table, inbound: &Inbound<'a>) -> Result<Resolved<'a>, RelayError> {
    let handshake = is_handshake(inbound.method, inbound.headers);
    table.resolve_handshake(inbound.listener, inbound.method, inbound.path, inbound.query, handshake)
}
