//! The `protocol` of a route and, for `websocket` routes, their limits.
//!
//! A WebSocket route is `GET` only and relays frames, not bodies, so the
//! route keys about bodies and HTTP exchanges (`body`, `response`,
//! `transforms`, `guards`, `retry`, `idle_timeout`, `openapi`) are errors on
//! it; the same keys inherited from `[defaults]` are ignored. Its session
//! limits live in `[route.websocket]`.

use std::time::Duration;

use actix_web::http::Method;

use super::values;
use crate::diagnostics::{Source, SpecError};
use crate::spec::{Protocol as ProtocolSpec, RouteSpec};
use crate::table::{Protocol, WebSocketLimits};

const DEFAULT_MAX_MESSAGE: u64 = 16 * 1024 * 1024;
const DEFAULT_IDLE: Duration = Duration::from_secs(5 * 60);
const DEFAULT_DURATION: Duration = Duration::from_secs(60 * 60);
/// Far above any real message, and safe to hold as `usize` on 32-bit targets.
const LARGEST_MAX_MESSAGE: u64 = 1024 * 1024 * 1024;

/// The route's protocol; `methods` are the route's compiled methods, if they
/// compiled. `at` is where the route starts.
pub fn protocol(src: &Source, spec: &RouteSpec, methods: Option<&[Method]>, at: usize) -> Result<Protocol, SpecError> {
    let websocket = spec.protocol.as_ref().is_some_and(|p| *p.get_ref() == ProtocolSpec::Websocket);
    if !websocket {
        return match &spec.websocket {
            Some(table) => Err(src
                .error_at(table.span().start, "`websocket` limits on a route that is not a WebSocket route")
                .with_hint("add protocol = \"websocket\" to the route, or remove the `websocket` table")),
            None => Ok(Protocol::Http),
        };
    }
    if methods.is_some_and(|methods| methods != [Method::GET]) {
        return Err(src
            .error_at(spec.method.span().start, "a WebSocket route takes method = \"GET\" only")
            .with_hint("the WebSocket handshake is a GET request with `Upgrade: websocket`"));
    }
    reject_http_keys(src, spec)?;
    let limits = spec.websocket.as_ref().map(|t| t.get_ref().clone()).unwrap_or_default();
    let max_message = match &limits.max_message {
        Some(value) => values::size(src, value, "websocket.max_message")?,
        None => DEFAULT_MAX_MESSAGE,
    };
    if !(1..=LARGEST_MAX_MESSAGE).contains(&max_message) {
        let at = limits.max_message.as_ref().map_or(at, |v| v.span().start);
        return Err(src
            .error_at(at, format!("`websocket.max_message` must be between 1 byte and 1GiB, not {max_message}"))
            .with_hint("write a size such as \"16MiB\""));
    }
    Ok(Protocol::WebSocket(WebSocketLimits {
        max_message: usize::try_from(max_message).unwrap_or(usize::MAX),
        idle_timeout: values::duration_or(src, limits.idle_timeout.as_ref(), "websocket.idle_timeout", DEFAULT_IDLE)?,
        max_duration: values::duration_or(
            src,
            limits.max_duration.as_ref(),
            "websocket.max_duration",
            DEFAULT_DURATION,
        )?,
    }))
}

/// Keys of an HTTP exchange, written on a WebSocket route.
fn reject_http_keys(src: &Source, spec: &RouteSpec) -> Result<(), SpecError> {
    // `body` and `response` carry no position: point at `protocol`.
    let protocol_at = spec.protocol.as_ref().map_or(0, |p| p.span().start);
    let written = [
        ("body", spec.body.as_ref().map(|_| protocol_at)),
        ("response", spec.response.map(|_| protocol_at)),
        ("transforms", spec.transforms.first().map(|t| t.span().start)),
        ("guards", spec.guards.first().map(|g| g.span().start)),
        ("retry", spec.retry.as_ref().map(|r| r.span().start)),
        ("idle_timeout", spec.idle_timeout.as_ref().map(|v| v.span().start)),
        ("openapi", spec.openapi.as_ref().map(|o| o.span().start)),
    ];
    let Some((key, at)) = written.into_iter().find_map(|(key, at)| at.map(|at| (key, at))) else {
        return Ok(());
    };
    let hint = match key {
        "idle_timeout" => "a WebSocket route sets its idle timeout in [route.websocket] idle_timeout",
        "openapi" => "WebSocket routes are not part of the generated OpenAPI documents",
        _ => "WebSocket routes relay frames: bodies, transforms, guards and retries do not apply",
    };
    Err(src.error_at(at, format!("`{key}` does not apply to a WebSocket route")).with_hint(hint))
}
