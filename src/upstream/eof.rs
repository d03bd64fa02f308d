//! Telling a chunked body cut by the upstream's close from one that ended.
//!
//! awc's HTTP/1 client ends a response body with `None` both when the last
//! chunk arrives and when the connection reaches end of file inside a
//! chunked body, so a cut answer would reach the client as a complete one.
//! The two differ in one way the relay can observe: only a cut body reads
//! end of file from the socket while the body is polled (after the last
//! chunk, awc returns the end before reading the socket again).
//!
//! [`Watched`] wraps every upstream socket and notes a read of end of file
//! in a flag of the current thread; [`EndChecked`] clears the flag, polls
//! the body, and turns an end that came with an end of file into an error.
//! Both happen inside one synchronous `poll_next` on one thread, and awc
//! polls only this response's connection there, so the flag cannot mix up
//! two connections.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::rt::net::{ActixStream, Ready};
use awc::error::PayloadError;
use awc::http::header::{HeaderMap, TRANSFER_ENCODING};
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

thread_local! {
    static READ_EOF: Cell<bool> = const { Cell::new(false) };
}

/// An upstream socket that notes when a read finds end of file.
#[derive(Debug)]
pub struct Watched<IO>(pub IO);

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let (before, room) = (buf.filled().len(), buf.remaining());
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && room > 0 && buf.filled().len() == before {
            READ_EOF.with(|eof| eof.set(true));
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// awc's connector needs its readiness (rustls waits on it).
impl<IO: ActixStream> ActixStream for Watched<IO> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        self.0.poll_read_ready(cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        self.0.poll_write_ready(cx)
    }
}

/// An upstream body that fails, instead of ending, when a chunked body is
/// cut by the connection's end of file.
pub struct EndChecked<S> {
    inner: S,
    chunked: bool,
    cut: bool,
}

impl<S> EndChecked<S> {
    /// `headers`: the upstream answer's; only a chunked body is checked
    /// (a body sized by `Content-Length` is checked by awc, and one that
    /// runs to the close ends at end of file by definition).
    pub fn new(inner: S, headers: &HeaderMap) -> Self {
        let chunked = headers.get_all(TRANSFER_ENCODING).into_iter().any(|value| {
            value.to_str().is_ok_and(|codings| {
                codings.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
            })
        });
        EndChecked { inner, chunked, cut: false }
    }
}

impl<S> Stream for EndChecked<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.cut {
            return Poll::Ready(None);
        }
        if !self.chunked {
            return Pin::new(&mut self.inner).poll_next(cx);
        }
        READ_EOF.with(|eof| eof.set(false));
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if matches!(polled, Poll::Ready(None)) && READ_EOF.with(Cell::get) {
            self.cut = true;
            let cut = io::Error::new(io::ErrorKind::UnexpectedEof, "the upstream closed it inside a chunked body");
            return Poll::Ready(Some(Err(PayloadError::Io(cut))));
        }
        polled
    }
}
