//! Graceful drain: what a stopping relay tells its requests and probes.
//!
//! `relay serve` owns one [`Drain`] for the whole process. On SIGTERM or
//! SIGINT it calls [`Drain::begin`]: from then on `/ready` answers 503 and the
//! traffic listeners stop accepting while the requests in flight go on. When
//! the drain timeout passes, [`Drain::reach_deadline`] ends what is still
//! running: an SSE response gets a final `event: error` ([`SseUntilDeadline`])
//! and a WebSocket session a close frame 1001 (see
//! `executor::websocket::pump`). Servers started without one (tests, tools)
//! get a [`Drain::default`] that never drains.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use actix_web::HttpResponse;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use bytes::Bytes;
use tokio::sync::watch;

use crate::error::{ErrorType, RelayError};

/// The process's drain state, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    draining: AtomicBool,
    /// `true` once the drain deadline has passed.
    deadline: watch::Sender<bool>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner { draining: AtomicBool::new(false), deadline: watch::Sender::new(false) }
    }
}

impl Drain {
    /// Starts draining: `/ready` turns 503 from now on.
    pub fn begin(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`Drain::begin`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// The drain timeout has passed: every stream still open ends now.
    pub fn reach_deadline(&self) {
        self.begin();
        self.inner.deadline.send_replace(true);
    }

    /// Resolves once the drain deadline has passed (never, if it does not).
    pub fn deadline(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut passed = self.inner.deadline.subscribe();
        async move {
            // An error means the sender is gone: the deadline can no longer pass.
            if passed.wait_for(|passed| *passed).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// `GET /ready`: 200 while serving, 503 once draining.
    pub fn ready_response(&self) -> HttpResponse {
        let (status, body) = if self.is_draining() {
            (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"draining"}"#)
        } else {
            (StatusCode::OK, r#"{"status":"ready"}"#)
        };
        HttpResponse::build(status).content_type("application/json").body(body)
    }
}

/// Whether a response is an event stream (`text/event-stream`).
pub fn is_sse(headers: &HeaderMap) -> bool {
    crate::media::is_event_stream(headers)
}

/// An SSE body that ends with a final error event when the drain deadline
/// passes, in the shape of the relay's other stream errors.
pub struct SseUntilDeadline {
    inner: BoxBody,
    deadline: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
}

impl SseUntilDeadline {
    pub fn new(inner: BoxBody, drain: &Drain) -> Self {
        SseUntilDeadline { inner, deadline: Box::pin(drain.deadline()), done: false }
    }
}

/// The event that ends a stream cut by the drain deadline.
pub fn deadline_event() -> String {
    RelayError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorType::Server,
        "relay_shutting_down",
        "The relay is shutting down and its drain timeout has passed; the stream was closed. Retry the request.",
    )
    .retryable(true)
    .sse_event()
}

impl MessageBody for SseUntilDeadline {
    type Error = Box<dyn std::error::Error>;

    /// Always a stream: the final event would not fit a declared length.
    fn size(&self) -> BodySize {
        match self.inner.size() {
            BodySize::None => BodySize::None,
            _ => BodySize::Stream,
        }
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    tracing::warn!("drain timeout passed: an event stream was ended with an error event");
                    Poll::Ready(Some(Ok(Bytes::from(deadline_event()))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_follows_the_drain() {
        let drain = Drain::default();
        assert_eq!(drain.ready_response().status(), StatusCode::OK);
        drain.begin();
        assert_eq!(drain.ready_response().status(), StatusCode::SERVICE_UNAVAILABLE);
        let deadline = drain.deadline();
        drain.reach_deadline();
        tokio::time::timeout(std::time::Duration::from_secs(1), deadline).await.expect("deadline seen");
    }

    #[test]
    fn the_deadline_event_is_an_openai_error() {
        let event = deadline_event();
        let data = event.strip_prefix("event: error\ndata: ").and_then(|e| e.strip_suffix("\n\n")).expect("shape");
        let body: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(body["error"]["code"], "relay_shutting_down");
        assert_eq!(body["error"]["type"], "server_error");
    }

    #[test]
    fn event_streams_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!is_sse(&headers));
        headers.insert(
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderValue::from_static("Text/Event-Stream; charset=utf-8"),
        );
        assert!(is_sse(&headers));
    }
}
