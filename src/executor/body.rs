//! Stage 4: the request body, checked while it streams to the upstream.
//!
//! The body is never collected. [`GuardedBody`] counts bytes as they pass and
//! stops the upload the moment the route's limit is crossed (chunked bodies
//! included) or the client goes quiet for longer than the route allows. What
//! stopped it is left in a shared [`BodyVerdict`] cell, so the executor can
//! answer 413 or 408 instead of a generic upstream failure.
//!
//! A body the relay answers without reading to its end is held until the
//! answer is sent ([`hold_until_sent`]), so the connection is closed: actix
//! would otherwise drain a dropped chunked body, with no timer at all.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody, SizedStream};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::error::RelayError;
use crate::table::BodyRules;

/// Why a request body stream was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyVerdict {
    TooLarge,
    Idle,
    ClientFailed,
}

/// Shared between the body stream and the executor.
pub type VerdictCell = Rc<Cell<Option<BodyVerdict>>>;

/// What the request headers say about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    None,
    Sized(u64),
    Chunked,
}

/// Reads the body framing from the headers; checks size and media type.
pub fn inspect(headers: &HeaderMap, rules: &BodyRules) -> Result<BodyShape, RelayError> {
    let length =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let shape = match length {
        Some(0) if !chunked => BodyShape::None,
        Some(n) if !chunked => BodyShape::Sized(n),
        _ if chunked => BodyShape::Chunked,
        _ => BodyShape::None,
    };
    if let BodyShape::Sized(n) = shape
        && n > rules.max
    {
        return Err(RelayError::payload_too_large(rules.max));
    }
    if shape != BodyShape::None && !rules.accept.is_empty() {
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !rules.accept.iter().any(|accepted| media_matches(accepted, &media)) {
            let shown = if media.is_empty() { "(none)" } else { media.as_str() };
            return Err(RelayError::unsupported_media_type(shown, &rules.accept));
        }
    }
    Ok(shape)
}

fn media_matches(accepted: &str, media: &str) -> bool {
    if media.is_empty() {
        return false;
    }
    match accepted.strip_suffix("/*") {
        Some("*") => true,
        Some(kind) => media.split_once('/').is_some_and(|(t, _)| t == kind),
        None => accepted == media,
    }
}

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

/// A request body the relay stopped reading before it answered, left in the
/// request's extensions for the handler to hold until the answer is sent.
pub struct Unread(pub web::Payload);

/// Leaves `payload` (if any) in the request's extensions as [`Unread`].
pub fn abandon(req: &HttpRequest, payload: Option<web::Payload>) {
    if let Some(payload) = payload {
        req.extensions_mut().insert(Unread(payload));
    }
}

/// Makes `response` keep `payload` alive until it has been sent. actix closes
/// the connection after answering a request whose body is unread and still
/// alive; a dropped chunked body it drains instead, with no timer, so a
/// client that stopped sending would keep the connection forever.
pub fn hold_until_sent(response: HttpResponse, payload: web::Payload) -> HttpResponse {
    let (response, body) = response.into_parts();
    match body.try_into_bytes() {
        Ok(bytes) => {
            let length = bytes.len() as u64;
            let end = futures_util::stream::poll_fn(move |_| {
                let _held = &payload;
                Poll::Ready(None)
            });
            let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) }).chain(end);
            response.set_body(BoxBody::new(SizedStream::new(length, stream)))
        }
        Err(body) => response.set_body(body),
    }
}

/// The client's payload in a shared slot: awc streams it upstream, and it
/// can still be taken back ([`SharedPayload::take`]) after awc dropped it.
#[derive(Clone, Default)]
pub struct SharedPayload(Rc<RefCell<Option<web::Payload>>>);

impl SharedPayload {
    pub fn new(payload: web::Payload) -> Self {
        SharedPayload(Rc::new(RefCell::new(Some(payload))))
    }

    pub fn take(&self) -> Option<web::Payload> {
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
    use actix_web::http::header::{HeaderName, HeaderValue};
    use futures_util::StreamExt;

    fn rules(accept: &[&str], max: u64) -> BodyRules {
        BodyRules {
            accept: accept.iter().map(|s| s.to_string()).collect(),
            max,
            idle_timeout: Duration::from_millis(50),
            max_response: 1 << 20,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn media_types_and_sizes() {
        let json = rules(&["application/json"], 10);
        let h = headers(&[("content-length", "5"), ("content-type", "application/json; charset=utf-8")]);
        assert_eq!(inspect(&h, &json).unwrap(), BodyShape::Sized(5));
        let h = headers(&[("content-length", "5"), ("content-type", "text/plain")]);
        assert_eq!(inspect(&h, &json).unwrap_err().status.as_u16(), 415);
        let h = headers(&[("content-length", "11"), ("content-type", "application/json")]);
        assert_eq!(inspect(&h, &json).unwrap_err().status.as_u16(), 413);
        // No body, no content type: allowed even where only JSON is accepted.
        assert_eq!(inspect(&headers(&[]), &json).unwrap(), BodyShape::None);
        let audio = rules(&["audio/*"], 10);
        let h = headers(&[("transfer-encoding", "chunked"), ("content-type", "audio/mpeg")]);
        assert_eq!(inspect(&h, &audio).unwrap(), BodyShape::Chunked);
    }

    #[tokio::test]
    async fn stops_when_the_limit_is_crossed() {
        let verdict = VerdictCell::default();
        let chunks = futures_util::stream::iter(vec![
            Ok::<_, ()>(Bytes::from_static(b"123456")),
            Ok(Bytes::from_static(b"789012")),
        ]);
        let mut body = GuardedBody::new(chunks, &rules(&[], 10), verdict.clone());
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.unwrap().is_err());
        assert_eq!(verdict.get(), Some(BodyVerdict::TooLarge));
        assert!(body.next().await.is_none());
    }

    #[tokio::test]
    async fn stops_when_the_client_goes_quiet() {
        let verdict = VerdictCell::default();
        let mut body =
            GuardedBody::new(futures_util::stream::pending::<Result<Bytes, ()>>(), &rules(&[], 10), verdict.clone());
        assert!(body.next().await.unwrap().is_err());
        assert_eq!(verdict.get(), Some(BodyVerdict::Idle));
    }
}
