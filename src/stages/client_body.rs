//! The client's request body while the stages handle it.
//!
//! The body is never collected unless a stage needs it whole (transforms
//! reading JSON, a small body held for retries): [`read_limited`] then reads
//! it with a byte limit, an idle timer and the route's `timeout` for the
//! whole body. A streamed body goes upstream
//! through [`GuardedBody`], which counts bytes as they pass and stops the
//! upload the moment the route's limit is crossed (chunked bodies included)
//! or the client goes quiet for longer than the route allows. What stopped
//! it is left in a shared [`BodyVerdict`] cell, so the answer is 413 or 408
//! instead of a generic upstream failure.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use super::admit::BodyShape;
use crate::error::RelayError;
use crate::table::BodyRules;

/// The client's body: the connection's stream when serving, or bytes in
/// memory for `relay explain` (and tests).
pub enum ClientBody {
    Payload(web::Payload),
    Bytes(Option<Bytes>),
    /// Bytes a stage read ahead (a form read up to its `model`), then the
    /// rest of the body.
    ReadAhead(Option<Bytes>, Box<ClientBody>),
}

impl Stream for ClientBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            ClientBody::Payload(payload) => Pin::new(payload).poll_next(cx),
            ClientBody::Bytes(bytes) => Poll::Ready(bytes.take().map(Ok)),
            ClientBody::ReadAhead(ahead, rest) => match ahead.take() {
                Some(bytes) => Poll::Ready(Some(Ok(bytes))),
                None => Pin::new(rest.as_mut()).poll_next(cx),
            },
        }
    }
}

/// Reads a whole body of at most `limit` bytes, with `idle` as the longest
/// pause between pieces and `total` as the longest time for all of it (408
/// after either, 413 past the limit): a body that trickles in just fast
/// enough is cut too.
pub async fn read_limited<S, E>(body: &mut S, limit: u64, idle: Duration, total: Duration) -> Result<Bytes, RelayError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let deadline = Instant::now() + total;
    // A body that comes in one chunk (most do) is kept as it came, not copied.
    let mut first: Option<Bytes> = None;
    let mut collected = BytesMut::new();
    loop {
        // A piece already received is taken without arming a timer.
        let item = match body.next().now_or_never() {
            Some(item) => item,
            None => {
                let wait = (Instant::now() + idle).min(deadline);
                match tokio::time::timeout_at(wait, body.next()).await {
                    Ok(item) => item,
                    Err(_) if wait == deadline => {
                        let total = humantime::format_duration(total);
                        return Err(RelayError::request_timeout(format!(
                            "The client took longer than {total} to send its request body."
                        )));
                    }
                    Err(_) => {
                        return Err(RelayError::request_timeout("The client stopped sending its request body."));
                    }
                }
            }
        };
        match item {
            None => return Ok(first.unwrap_or_else(|| collected.freeze())),
            Some(Err(_)) => {
                return Err(RelayError::bad_request(
                    "body_incomplete",
                    "The request body could not be read completely.",
                ));
            }
            Some(Ok(chunk)) => {
                let held = first.as_ref().map_or(0, Bytes::len) + collected.len();
                if (held + chunk.len()) as u64 > limit {
                    return Err(RelayError::payload_too_large(limit));
                }
                if first.is_none() && collected.is_empty() {
                    first = Some(chunk);
                } else {
                    if let Some(earlier) = first.take() {
                        collected.extend_from_slice(&earlier);
                    }
                    collected.extend_from_slice(&chunk);
                }
            }
        }
    }
}

/// Reads what is left of `body` whole, with the route's limits, and puts
/// it back as bytes (its shape becomes its size): for a stage that needs
/// the whole JSON body before anything is sent. `None` without a body.
pub async fn hold_whole(
    body: &mut Option<ClientBody>,
    shape: &mut BodyShape,
    rules: &BodyRules,
    total: Duration,
) -> Result<Option<Bytes>, RelayError> {
    let Some(mut client) = body.take() else { return Ok(None) };
    match read_limited(&mut client, rules.max, rules.idle_timeout, total).await {
        Ok(bytes) => {
            *shape = BodyShape::Sized(bytes.len() as u64);
            *body = Some(ClientBody::Bytes(Some(bytes.clone())));
            Ok(Some(bytes))
        }
        Err(error) => {
            *body = Some(client);
            Err(error)
        }
    }
}

/// Why a request body stream was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyVerdict {
    TooLarge,
    Idle,
    ClientFailed,
}

/// Shared between the body stream and the executor.
pub type VerdictCell = Rc<Cell<Option<BodyVerdict>>>;

/// The error to answer for a verdict.
pub fn verdict_error(verdict: BodyVerdict, rules: &BodyRules) -> RelayError {
    match verdict {
        BodyVerdict::TooLarge => RelayError::payload_too_large(rules.max),
        BodyVerdict::Idle => RelayError::request_timeout(format!(
            "The client sent no body data for {}.",
            humantime::format_duration(rules.idle_timeout)
        )),
        BodyVerdict::ClientFailed => {
            RelayError::bad_request("body_incomplete", "The request body could not be read completely.")
        }
    }
}

/// The client's body in a shared slot: the sender streams it upstream, and
/// it can still be taken back ([`SharedPayload::take`]) after the sender
/// dropped it.
#[derive(Clone, Default)]
pub struct SharedPayload(Rc<RefCell<Option<ClientBody>>>);

impl SharedPayload {
    pub fn new(body: ClientBody) -> Self {
        SharedPayload(Rc::new(RefCell::new(Some(body))))
    }

    pub fn take(&self) -> Option<ClientBody> {
        self.0.borrow_mut().take()
    }
}

impl Stream for SharedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.borrow_mut().as_mut() {
            Some(payload) => Pin::new(payload).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

/// A client body stream with a byte limit and an idle timer.
pub struct GuardedBody<S> {
    inner: S,
    seen: u64,
    max: u64,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    verdict: VerdictCell,
}

impl<S> GuardedBody<S> {
    pub fn new(inner: S, rules: &BodyRules, verdict: VerdictCell) -> Self {
        GuardedBody {
            inner,
            seen: 0,
            max: rules.max,
            idle: rules.idle_timeout,
            timer: Box::pin(tokio::time::sleep(rules.idle_timeout)),
            verdict,
        }
    }

    fn stop(&mut self, verdict: BodyVerdict) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.verdict.set(Some(verdict));
        Poll::Ready(Some(Err(std::io::Error::other(format!("request body stopped: {verdict:?}")))))
    }
}

impl<S, E> Stream for GuardedBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.verdict.get().is_some() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.seen += chunk.len() as u64;
                if self.seen > self.max {
                    return self.stop(BodyVerdict::TooLarge);
                }
                let deadline = Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(_))) => self.stop(BodyVerdict::ClientFailed),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => self.stop(BodyVerdict::Idle),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(max: u64) -> BodyRules {
        BodyRules { accept: Vec::new(), max, idle_timeout: Duration::from_millis(50), max_response: 1 << 20 }
    }

    #[tokio::test]
    async fn stops_when_the_limit_is_crossed() {
        let verdict = VerdictCell::default();
        let chunks = futures_util::stream::iter(vec![
            Ok::<_, ()>(Bytes::from_static(b"123456")),
            Ok(Bytes::from_static(b"789012")),
        ]);
        let mut body = GuardedBody::new(chunks, &rules(10), verdict.clone());
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.unwrap().is_err());
        assert_eq!(verdict.get(), Some(BodyVerdict::TooLarge));
        assert!(body.next().await.is_none());
    }

    #[tokio::test]
    async fn stops_when_the_client_goes_quiet() {
        let verdict = VerdictCell::default();
        let mut body =
            GuardedBody::new(futures_util::stream::pending::<Result<Bytes, ()>>(), &rules(10), verdict.clone());
        assert!(body.next().await.unwrap().is_err());
        assert_eq!(verdict.get(), Some(BodyVerdict::Idle));
    }

    #[tokio::test]
    async fn bodies_in_memory_are_read_within_their_limit() {
        let mut body = ClientBody::Bytes(Some(Bytes::from_static(b"{\"a\":1}")));
        let second = Duration::from_secs(1);
        assert_eq!(read_limited(&mut body, 100, second, second).await.unwrap(), "{\"a\":1}");
        let mut body = ClientBody::Bytes(Some(Bytes::from_static(b"0123456789")));
        assert_eq!(read_limited(&mut body, 5, second, second).await.unwrap_err().status.as_u16(), 413);
    }

    #[tokio::test]
    async fn a_trickle_is_cut_at_the_total_time() {
        // A byte every 10 ms: never idle for 100 ms, never done.
        let mut trickle = Box::pin(futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Some((Ok::<_, ()>(Bytes::from_static(b"x")), ()))
        }));
        let started = Instant::now();
        let error = read_limited(&mut trickle, 1 << 20, Duration::from_millis(100), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!((error.status.as_u16(), error.code), (408, "body_timeout"));
        assert!(error.message.contains("took longer than 200ms"), "{}", error.message);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
