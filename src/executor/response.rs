//! Stage 7: the upstream response goes back to the client.
//!
//! Status and body pass through unchanged (upstream errors included). The body
//! is streamed chunk by chunk; [`IdleGuard`] ends a stream whose upstream goes
//! silent for longer than the route's idle timeout, and for SSE it first
//! sends a final `event: error` so the client knows why. Framing is rebuilt:
//! a known `Content-Length` is kept exact, anything else is chunked.
//!
//! Exception: when a request transform chose a response transform for the
//! exchange, a 2xx answer is translated by [`super::translate`] instead.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::RelayError;
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
    super::headers::client_headers(upstream_headers, route, response.headers_mut());
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
    let is_sse = upstream_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let length =
        upstream_headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let idle = route.idle_timeout;
    let guarded = IdleGuard::new(body, idle, is_sse, table);
    match length {
        Some(length) => response.set_body(actix_web::body::BoxBody::new(SizedStream::new(length, guarded))),
        None => response.set_body(actix_web::body::BoxBody::new(BodyStream::new(guarded))),
    }
}

fn status_has_body(status: StatusCode) -> bool {
    !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED)
}

pub(super) async fn read_all<S, E>(body: &mut S, max: u64, idle: Duration) -> Result<Bytes, RelayError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let mut collected = bytes::BytesMut::new();
    loop {
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => return Err(RelayError::gateway_timeout("The upstream stopped sending its response.")),
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(Err(e))) => {
                return Err(RelayError::bad_gateway(format!("Reading the upstream response failed: {e}")));
            }
            Ok(Some(Ok(chunk))) => {
                if (collected.len() + chunk.len()) as u64 > max {
                    return Err(RelayError::bad_gateway(format!(
                        "The upstream response exceeds this route's limit of {max} bytes."
                    )));
                }
                collected.extend_from_slice(&chunk);
            }
        }
    }
}

/// Forwards an upstream body; ends it after `idle` without data.
///
/// Holds the table the request started on, so the route it uses stays alive
/// (and unchanged) until the last byte has been sent.
pub struct IdleGuard<S> {
    inner: S,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    is_sse: bool,
    done: bool,
    _table: Arc<Table>,
}

impl<S> IdleGuard<S> {
    pub(super) fn new(inner: S, idle: Duration, is_sse: bool, table: Arc<Table>) -> Self {
        IdleGuard { inner, idle, timer: Box::pin(tokio::time::sleep(idle)), is_sse, done: false, _table: table }
    }

    /// Ends the stream: with a final error event for SSE, by failing otherwise.
    fn fail(&mut self, error: RelayError) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.done = true;
        tracing::warn!(code = error.code, "upstream body ended early: {}", error.message);
        if self.is_sse {
            Poll::Ready(Some(Ok(Bytes::from(error.sse_event()))))
        } else {
            // The error itself rides along (a translating body reads it).
            Poll::Ready(Some(Err(std::io::Error::other(error))))
        }
    }
}

impl<S, E> Stream for IdleGuard<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let deadline = Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.fail(RelayError::bad_gateway(format!("The upstream connection failed mid-response: {e}")))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let idle = humantime::format_duration(self.idle);
                    self.fail(RelayError::gateway_timeout(format!(
                        "The upstream sent nothing for {idle}; the stream was closed."
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
