//! The response hook: where a 2xx answer is translated, for routes whose
//! request transforms chose a [`ResponseTransform`] for the exchange. Upstream
//! errors (non-2xx) never come here; they pass unchanged.
//!
//! A JSON answer is read whole (bounded by the route's `body.max_response`)
//! and converted; its length is recomputed. An SSE answer is translated one
//! event at a time by [`Translating`], which sits on the [`IdleGuard`]: an
//! event is written to the client as soon as it is complete, and a silent or
//! failing upstream ends the stream with a chat-style error event
//! (`data: {"error": {...}}`, no `[DONE]`). This is the
//! one place to observe the translated body (e.g. for a traffic log).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use actix_web::HttpResponse;
use actix_web::body::{BodyStream, BoxBody};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use bytes::Bytes;
use futures_util::Stream;

use super::upstream_body::{IdleGuard, read_all};
use crate::error::RelayError;
use crate::table::{Route, Table};
use crate::traffic_log::tap::Tapped;
use crate::traffic_log::{Direction, RequestLog};
use crate::transforms::ResponseTransform;
use crate::transforms::chat_to_responses::response::error_body;
use crate::transforms::chat_to_responses::sse::{SseSplitter, TooLarge};
use crate::transforms::chat_to_responses::stream::ChatStream;

/// Translates a 2xx answer; `response` already has the client's head.
pub async fn translate<S, E>(
    mut response: HttpResponse,
    transform: ResponseTransform,
    upstream_headers: &HeaderMap,
    mut body: S,
    table: Arc<Table>,
    route_index: usize,
    log: Option<RequestLog>,
) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + 'static,
    E: std::fmt::Display,
{
    let ResponseTransform::ChatFromResponses(exchange) = transform;
    let route: &Route = &table.routes[route_index];
    let value = |name| upstream_headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if value(header::CONTENT_ENCODING).is_some_and(|encoding| !encoding.eq_ignore_ascii_case("identity")) {
        return RelayError::bad_gateway("The upstream sent a compressed answer, which the bridge cannot translate.")
            .response();
    }
    if crate::media::is_event_stream(upstream_headers) {
        let (idle, limit) = (route.idle_timeout, usize::try_from(route.body.max_response).unwrap_or(usize::MAX));
        // Not in SSE mode: its failures come as errors, not as bytes that
        // would land in the middle of a half-read event.
        let guarded = IdleGuard::new(body, idle, false, table.clone());
        let translating =
            Translating { inner: Some(guarded), splitter: SseSplitter::new(limit), chat: exchange.stream() };
        let logged = Tapped::new(translating, log.map(|log| log.chunks(Direction::ClientChunk)));
        return response.set_body(BoxBody::new(BodyStream::new(logged)));
    }
    let bytes = match read_all(&mut body, route.body.max_response, route.idle_timeout).await {
        Ok(bytes) => bytes,
        Err(error) => return error.response(),
    };
    match exchange.completion(&bytes) {
        Ok(chat) => {
            let chat = Bytes::from(chat);
            if let Some(log) = log {
                log.chunks(Direction::ClientChunk).chunk(&chat);
            }
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response.set_body(BoxBody::new(chat))
        }
        Err(error) => {
            tracing::warn!(route = route.id, "the bridge could not translate the upstream answer: {error}");
            HttpResponse::build(StatusCode::BAD_GATEWAY).content_type("application/json").body(error.to_string())
        }
    }
}

/// Upstream Responses SSE in, chat chunk SSE out, one event at a time.
pub struct Translating<S> {
    /// `None` once the upstream ended or the client's stream is complete.
    inner: Option<S>,
    splitter: SseSplitter,
    chat: ChatStream,
}

impl<S> Stream for Translating<S>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
            let (out, ended) = match ready!(Pin::new(inner).poll_next(cx)) {
                Some(Ok(chunk)) => match this.splitter.push(&chunk) {
                    Ok(events) => (events.iter().map(|event| this.chat.event(event)).collect::<String>(), false),
                    Err(TooLarge(limit)) => {
                        let message = format!("An upstream event exceeds this route's limit of {limit} bytes.");
                        (this.chat.fail(error_body("bridge_event_too_large", &message, None)), true)
                    }
                },
                Some(Err(e)) => {
                    let error = match e.get_ref().and_then(|inner| inner.downcast_ref::<RelayError>()) {
                        Some(relay) => relay.body(),
                        None => {
                            error_body("upstream_unreachable", &format!("The upstream failed mid-response: {e}"), None)
                        }
                    };
                    (this.chat.fail(error), true)
                }
                None => {
                    let mut out = this.splitter.finish().map(|event| this.chat.event(&event)).unwrap_or_default();
                    out.push_str(&this.chat.end());
                    (out, true)
                }
            };
            if ended || this.chat.is_finished() {
                // Dropping the upstream body closes its connection.
                this.inner = None;
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
        }
    }
}
