//! The head timeout, for every request of a connection.
//!
//! actix-http times only the first request head of a connection, and
//! answers it with an empty 408. Here the connection's socket is wrapped
//! ([`Connection`]) and the relay times every head itself:
//!
//! - the clock starts when a connection opens, and again when the first
//!   byte of a later request arrives after the previous answer was sent;
//! - it stops when the request reaches the relay's handler ([`Marker`]
//!   marks it; dropping the answer's body marks its end);
//! - when it runs out, the relay writes 408 in the OpenAI shape (nothing
//!   else is being written then: no request is in flight) and closes.
//!
//! actix-http's own head timer is set a second later, as a backstop.
//! Bytes that arrive while a request is in flight (its body, or a pipelined
//! head) are not timed here: the body has its own timers.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{Extensions, Protocol};
use actix_service::{Service, ServiceFactory, fn_service};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::error::{ErrorType, RelayError};

/// Accepts a connection: TCP_NODELAY (streamed bodies go out in pieces of
/// any size; with Nagle's algorithm a small piece waits for the client's
/// delayed ACK), the peer address, and the head timer around the socket.
pub fn accept(
    timeout: Duration,
) -> impl ServiceFactory<
    TcpStream,
    Config = (),
    Response = (Connection<TcpStream>, Protocol, Option<std::net::SocketAddr>),
    Error = DispatchError,
    InitError = (),
> {
    fn_service(move |stream: TcpStream| {
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        std::future::ready(Ok((Connection::new(stream, timeout), Protocol::Http1, peer)))
    })
}

/// Puts the connection's flight state where [`mark`] finds it.
pub fn on_connect(connection: &Connection<TcpStream>, extensions: &mut Extensions) {
    extensions.insert(connection.flight());
}

/// Middleware (`App::wrap_fn`): marks each request in flight until its
/// answer's body is dropped.
pub fn mark<S>(
    request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<Marked<BoxBody>>, actix_web::Error>> + use<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    let marker = request.conn_data::<Rc<Flight>>().map(Marker::start);
    let call = service.call(request);
    async move { Ok(call.await?.map_body(|_, body| Marked { body, _marker: marker })) }
}

/// Whether a request of the connection is in flight; shared by the socket
/// wrapper and the handler side (through the connection's extensions).
#[derive(Debug, Default)]
pub struct Flight {
    in_flight: Cell<bool>,
}

/// A connection's socket with the head timer.
pub struct Connection<T> {
    io: T,
    flight: Rc<Flight>,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// The 408 still to write, once the timer ran out.
    refusal: Option<Bytes>,
}

impl<T> Connection<T> {
    /// Wraps a new connection; its first head is timed from now.
    pub fn new(io: T, timeout: Duration) -> Self {
        let timer = Some(Box::pin(tokio::time::sleep(timeout)));
        Connection { io, flight: Rc::default(), timeout, timer, refusal: None }
    }

    /// The flight state, for the connection's extensions.
    pub fn flight(&self) -> Rc<Flight> {
        self.flight.clone()
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

/// The answer to a head that took too long, as bytes on the wire.
fn refusal(timeout: Duration) -> Bytes {
    let message = format!("The request head did not arrive within {}.", humantime::format_duration(timeout));
    let error = RelayError::new(StatusCode::REQUEST_TIMEOUT, ErrorType::InvalidRequest, "head_timeout", message);
    let body = error.body().to_string();
    Bytes::from(format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Connection<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.flight.in_flight.get() {
            this.timer = None;
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        if let Some(pending) = this.refusal.as_mut() {
            // Write what fits; the connection ends either way.
            while !pending.is_empty() {
                match Pin::new(&mut this.io).poll_write(cx, pending) {
                    Poll::Ready(Ok(n)) if n > 0 => drop(pending.split_to(n)),
                    Poll::Pending => return Poll::Pending,
                    _ => break,
                }
            }
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head timeout")));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.timer.is_none() && buf.filled().len() > before {
            this.timer = Some(Box::pin(tokio::time::sleep(this.timeout)));
        }
        if let Some(timer) = this.timer.as_mut()
            && timer.as_mut().poll(cx).is_ready()
        {
            tracing::info!("a request head took longer than {:?}; closing the connection", this.timeout);
            this.timer = None;
            this.refusal = Some(refusal(this.timeout));
            cx.waker().wake_by_ref();
            // Bytes just read are dropped with the connection.
            buf.set_filled(before);
            return Poll::Pending;
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Connection<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Marks a request in flight from the handler's start until its answer's
/// body is dropped (sent, or abandoned with the connection).
pub struct Marker(Rc<Flight>);

impl Marker {
    pub fn start(flight: &Rc<Flight>) -> Marker {
        flight.in_flight.set(true);
        Marker(flight.clone())
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        self.0.in_flight.set(false);
    }
}

/// An answer's body that holds the request's [`Marker`].
pub struct Marked<B> {
    body: B,
    _marker: Option<Marker>,
}

impl<B: MessageBody + Unpin> MessageBody for Marked<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}
