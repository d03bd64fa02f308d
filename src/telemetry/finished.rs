//! [`Finished`]: the answer's body on its way out, counted; when it is
//! dropped (sent to the end, or the client went away) the request is
//! recorded once: its metrics and its access-log line, and a consumer's
//! usage (read from the upstream's answer as it passed,
//! [`crate::quota::tap`]) is settled.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::{Method, StatusCode};
use bytes::Bytes;

use super::access::{AccessLog, Entry};
use super::metrics::{Done, OPEN_STREAMS, RouteHandles};
use crate::quota::Ticket;
use crate::quota::tap::SharedScanner;
use crate::quota::usage::Usage;

/// Everything recorded of a request once its answer is finished.
pub struct Closing {
    pub started: Instant,
    pub arrived: SystemTime,
    pub request_id: String,
    pub listener: Rc<str>,
    /// The route id, if a route matched.
    pub route: Option<String>,
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub bytes_in: u64,
    pub upstream_ttfb: Option<Duration>,
    pub retries: u32,
    pub handles: Option<Rc<RouteHandles>>,
    pub access: Option<AccessLog>,
    /// An SSE answer: counted in the open-streams gauge while it lasts.
    pub stream: bool,
    /// The consumer whose key the request carried.
    pub consumer: Option<String>,
    /// A consumer's request, settled with the usage its answer reports.
    pub ticket: Option<Ticket>,
    /// Where that usage was read as the upstream's answer passed.
    pub usage: Option<SharedScanner>,
}

/// A body that records its request when it is done.
pub struct Finished<B> {
    inner: B,
    sent: u64,
    ended: bool,
    closing: Option<Closing>,
}

impl<B: MessageBody> Finished<B> {
    pub fn new(inner: B, closing: Closing) -> Finished<B> {
        if closing.stream {
            metrics::gauge!(OPEN_STREAMS, "listener" => closing.listener.to_string()).increment(1.0);
        }
        // A body with nothing to send is never polled: it is complete as is.
        let ended = matches!(inner.size(), BodySize::None | BodySize::Sized(0));
        Finished { inner, sent: 0, ended, closing: Some(closing) }
    }
}

impl<B> Drop for Finished<B> {
    fn drop(&mut self) {
        if let Some(closing) = self.closing.take() {
            let usage = closing.usage.as_ref().and_then(|scanner| scanner.borrow().finish());
            record(closing, self.sent, self.ended, usage);
        }
    }
}

/// Records a request whose answer is done: `completed` when its body was
/// sent to the end.
pub fn record(mut closing: Closing, bytes_out: u64, completed: bool, usage: Option<Usage>) {
    let duration = closing.started.elapsed();
    let ticket = closing.ticket.take();
    let consumer = closing.consumer.take();
    if let (Some(ticket), Some(usage)) = (ticket, &usage) {
        ticket.settle(usage);
    }
    if closing.stream {
        metrics::gauge!(OPEN_STREAMS, "listener" => closing.listener.to_string()).decrement(1.0);
    }
    if let Some(handles) = &closing.handles {
        handles.finished(&Done {
            method: closing.method.clone(),
            status: closing.status,
            duration,
            upstream_ttfb: closing.upstream_ttfb,
            bytes_in: closing.bytes_in,
            bytes_out,
        });
    }
    if let Some(access) = &closing.access {
        access.record(&Entry {
            time: closing.arrived,
            request_id: &closing.request_id,
            listener: &closing.listener,
            route: closing.route.as_deref().unwrap_or("-"),
            method: &closing.method,
            path: &closing.path,
            status: closing.status,
            bytes_in: closing.bytes_in,
            bytes_out,
            duration,
            upstream_ttfb: closing.upstream_ttfb,
            retries: closing.retries,
            completed,
            consumer: consumer.as_deref(),
            usage: usage.as_ref(),
        });
    }
}

impl<B: MessageBody + Unpin> MessageBody for Finished<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => this.sent += chunk.len() as u64,
            Poll::Ready(None) => this.ended = true,
            _ => {}
        }
        polled
    }
}
