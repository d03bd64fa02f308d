//! [`UsageTap`]: the upstream's answer on its way to the client, watched
//! for the usage it reports ([`super::usage::UsageScanner`], shared with
//! whoever settles it when the answer is finished), and, for a stream whose
//! usage chunk the relay asked for on the client's behalf (`stream_usage`),
//! with that chunk kept from the client. Hiding works on whole SSE events:
//! bytes after the last complete event wait for the rest of it, so nothing
//! is held longer than one event.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use super::usage::UsageScanner;

/// A scanner shared between the tap and the record of the request.
pub type SharedScanner = Rc<RefCell<UsageScanner>>;

/// Passes an answer through, watching it and hiding what was asked.
pub struct UsageTap<S> {
    inner: S,
    scanner: Option<SharedScanner>,
    /// Bytes of an event not complete yet; `None` when nothing is hidden.
    pending: Option<BytesMut>,
}

impl<S> UsageTap<S> {
    /// `scanner`: where the answer's usage is read; `hide`: drop the
    /// usage-only chunk of a chat-completions stream.
    pub fn new(inner: S, scanner: Option<SharedScanner>, hide: bool) -> Self {
        UsageTap { inner, scanner, pending: hide.then(BytesMut::new) }
    }
}

impl<S, E> Stream for UsageTap<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let item = Pin::new(&mut this.inner).poll_next(cx);
            if let (Some(scanner), Poll::Ready(Some(Ok(chunk)))) = (&this.scanner, &item) {
                scanner.borrow_mut().feed(chunk);
            }
            let Some(pending) = this.pending.as_mut() else { return item };
            match item {
                Poll::Ready(Some(Ok(chunk))) => {
                    pending.extend_from_slice(&chunk);
                    let Some(end) = pending.windows(2).rposition(|w| w == b"\n\n") else { continue };
                    let complete = pending.split_to(end + 2).freeze();
                    let shown = without_usage_chunk(complete);
                    if !shown.is_empty() {
                        return Poll::Ready(Some(Ok(shown)));
                    }
                }
                Poll::Ready(None) if !pending.is_empty() => {
                    return Poll::Ready(Some(Ok(pending.split().freeze())));
                }
                other => return other,
            }
        }
    }
}

/// Complete SSE events without the chunk that carries only the usage
/// (`"choices":[]` and a `"usage"` object).
fn without_usage_chunk(events: Bytes) -> Bytes {
    let is_usage_only = |event: &[u8]| contains(event, b"\"choices\":[]") && contains(event, b"\"usage\":{");
    if !is_usage_only(&events) {
        return events;
    }
    let mut shown = BytesMut::with_capacity(events.len());
    let mut rest = &events[..];
    while !rest.is_empty() {
        let end = rest.windows(2).position(|w| w == b"\n\n").map_or(rest.len(), |at| at + 2);
        let (event, after) = rest.split_at(end);
        if !is_usage_only(event) {
            shown.extend_from_slice(event);
        }
        rest = after;
    }
    shown.freeze()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[actix_web::test]
    async fn the_usage_chunk_is_hidden_and_still_counted() {
        let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":6}}\n\n";
        let text = format!("data: {{\"choices\":[{{\"delta\":{{}}}}],\"usage\":null}}\n\n{usage}data: [DONE]\n\n");
        // Cut anywhere: events are whole on the way out.
        for cut in [1, 10, 50, text.len() - 3] {
            let chunks =
                vec![Ok::<_, ()>(Bytes::from(text[..cut].to_owned())), Ok(Bytes::from(text[cut..].to_owned()))];
            let scanner = SharedScanner::default();
            let tap = UsageTap::new(futures_util::stream::iter(chunks), Some(scanner.clone()), true);
            let out: Vec<u8> = tap.map(|c| c.unwrap().to_vec()).concat().await;
            assert_eq!(String::from_utf8(out).unwrap(), text.replace(usage, ""), "cut at {cut}");
            assert_eq!(scanner.borrow().finish().unwrap().total(), 9);
        }
        // Not hiding: everything passes.
        let chunks = vec![Ok::<_, ()>(Bytes::from(text.clone()))];
        let out: Vec<u8> =
            UsageTap::new(futures_util::stream::iter(chunks), None, false).map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(out, text.as_bytes());
    }
}
