//! Stage 7, respond: the upstream response goes back to the client.
//!
//! Status and body pass through unchanged (upstream errors included). The body
//! is streamed chunk by chunk; [`IdleGuard`] ends a stream whose upstream goes
//! silent for longer than the route's idle timeout, and for SSE it first
//! sends a final `event: error` so the client knows why (see
//! [`super::upstream_body`]). Framing is rebuilt:
//! a known `Content-Length` is kept exact, anything else is chunked; a
//! length beside a `Transfer-Encoding` is dropped (RFC 9112 section 6.3).
//!
//! Exception: when a request transform chose a response transform for the
//! exchange, a 2xx answer is translated by [`super::translate`] instead.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use bytes::Bytes;
use futures_util::Stream;

use super::upstream_body::{IdleGuard, read_all};

use crate::table::{ResponseMode, Route, Table};
use crate::traffic_log::RequestLog;
use crate::transforms::ResponseTransform;

/// Builds the client response from the upstream's head and body stream.
pub async fn relay_response<S, E>(
    table: Arc<Table>,
    route_index: usize,
    status: StatusCode,
    upstream_headers: &HeaderMap,
    mut body: S,
    transform: Option<ResponseTransform>,
    log: Option<RequestLog>,
) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + 'static,
    E: std::fmt::Display,
{
    let route: &Route = &table.routes[route_index];
    let mut response = HttpResponse::new(status);
    crate::stages::headers::client_headers(upstream_headers, route, response.headers_mut());
    if !status_has_body(status) {
        return response;
    }
    if let Some(transform) = transform.filter(|_| status.is_success()) {
        let translate =
            super::translate::translate(response, transform, upstream_headers, body, table, route_index, log);
        return translate.await;
    }
    if route.response_mode == ResponseMode::Buffer {
        return match read_all(&mut body, route.body.max_response, route.idle_timeout).await {
            Ok(bytes) => response.set_body(actix_web::body::BoxBody::new(bytes)),
            Err(error) => error.response(),
        };
    }
    let is_sse = crate::media::is_event_stream(upstream_headers);
    let length = declared_length(upstream_headers);
    let idle = route.idle_timeout;
    let guarded = IdleGuard::new(body, idle, is_sse, table);
    match length {
        Some(length) => response.set_body(actix_web::body::BoxBody::new(SizedStream::new(length, guarded))),
        None => response.set_body(actix_web::body::BoxBody::new(BodyStream::new(guarded))),
    }
}

/// The upstream's `Content-Length`, unless a `Transfer-Encoding` overrides
/// it (RFC 9112 section 6.3: the body was read by its transfer coding, and
/// a proxy drops the length). A body that ends before its length is not
/// passed off as complete: actix-http fails the response and closes the
/// connection.
fn declared_length(upstream_headers: &HeaderMap) -> Option<u64> {
    if upstream_headers.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    upstream_headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn status_has_body(status: StatusCode) -> bool {
    !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED)
}
