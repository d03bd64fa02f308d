//! A connection's socket, wrapped ([`Connection`]) so that the relay's
//! rules hold for what actix-http decides on its own.
//!
//! **Head timeout, for every request.** actix-http times only the first
//! request head of a connection, and answers it with an empty 408. Here
//! every head is timed:
//!
//! - the clock starts when a connection opens, and again when the first
//!   byte of a later request arrives after the previous answer was sent;
//! - it stops when the request reaches the relay's handler ([`mark`] marks
//!   it in flight; dropping the answer's body ends the flight);
//! - when it runs out, the relay writes 408 `head_timeout` in the OpenAI
//!   shape (nothing else is being written then: no request is in flight)
//!   and closes. actix-http's own timer is set a second later, as a
//!   backstop. Bytes that arrive while a request is in flight (its body, a
//!   pipelined head) are not timed here: the body has its own timers.
//!
//! **The HTTP layer's own refusals.** A head actix-http cannot parse (400)
//! or that is too large (431) is answered by actix-http before the relay
//! sees a request, with an empty body. Such an answer is recognised as it
//! is written (no request in flight, one bare head with
//! `content-length: 0` and no `x-request-id`, which every answer of the
//! relay carries) and replaced by the same status in the OpenAI shape
//! ([`refusals`]).

pub mod refusals;

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
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use self::refusals::{head_timeout, own_refusal, wire};

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
    /// An answer written in place of one of actix-http's own, and how many
    /// bytes of actix-http's to report written once it is out.
    replacement: Option<(Bytes, usize)>,
}

impl<T> Connection<T> {
    /// Wraps a new connection; its first head is timed from now.
    pub fn new(io: T, timeout: Duration) -> Self {
        let timer = Some(Box::pin(tokio::time::sleep(timeout)));
        Connection { io, flight: Rc::default(), timeout, timer, refusal: None, replacement: None }
    }

    /// The flight state, for the connection's extensions.
    pub fn flight(&self) -> Rc<Flight> {
        self.flight.clone()
    }
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
            this.refusal = Some(wire(&head_timeout(this.timeout)));
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
        let this = self.get_mut();
        if !this.flight.in_flight.get() {
            // An answer outside a flight (a refusal before `100 Continue`, the
            // tail of the last answer) ends the head it answers; the next
            // byte that arrives starts the clock again.
            this.timer = None;
        }
        if this.replacement.is_none()
            && !this.flight.in_flight.get()
            && let Some(error) = own_refusal(buf)
        {
            tracing::info!(status = error.status.as_u16(), "{}", error.message);
            this.replacement = Some((wire(&error), buf.len()));
        }
        if let Some((answer, replaced)) = this.replacement.as_mut() {
            while !answer.is_empty() {
                match Pin::new(&mut this.io).poll_write(cx, answer) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => drop(answer.split_to(n)),
                    other => return other,
                }
            }
            // Reported once; anything written after goes through.
            let replaced = std::mem::take(replaced);
            if replaced > 0 {
                return Poll::Ready(Ok(replaced));
            }
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
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
