//! [`Tapped`]: a body stream that logs the chunks passing through it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use super::ChunkLog;

/// Passes `inner` through unchanged; with a log, each chunk is also logged
/// (a refcount on the chunk, until the body limit is spent).
pub struct Tapped<S> {
    inner: S,
    log: Option<ChunkLog>,
}

impl<S> Tapped<S> {
    pub fn new(inner: S, log: Option<ChunkLog>) -> Self {
        Tapped { inner, log }
    }
}

impl<S, E> Stream for Tapped<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = Pin::new(&mut this.inner).poll_next(cx);
        if let (Some(log), Poll::Ready(Some(Ok(chunk)))) = (this.log.as_mut(), &item) {
            log.chunk(chunk);
        }
        item
    }
}
