//! The upstream's response body on its way to the client: read whole
//! within limits ([`read_all`]), or streamed with an idle timer
//! ([`IdleGuard`]). Used by the plain response and by the translating one.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::RelayError;
use crate::table::Table;

/// Reads a whole answer of at most `max` bytes, `idle` the longest pause.
pub async fn read_all<S, E>(body: &mut S, max: u64, idle: Duration) -> Result<Bytes, RelayError>
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
    pub fn new(inner: S, idle: Duration, is_sse: bool, table: Arc<Table>) -> Self {
        IdleGuard { inner, idle, timer: Box::pin(tokio::time::sleep(idle)), is_sse, done: false, _table: table }
    }

    /// Ends the stream: with a final error event for SSE, by failing otherwise.
    fn fail(&mut self, error: RelayError) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.done = true;
        let kind = if error.status == actix_web::http::StatusCode::GATEWAY_TIMEOUT { "idle" } else { "broken_stream" };
        metrics::counter!(crate::telemetry::metrics::UPSTREAM_FAILURES, "kind" => kind).increment(1);
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
