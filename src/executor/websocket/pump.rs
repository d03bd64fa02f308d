//! One session: frames relayed both ways at once, with the route's limits.
//!
//! Each direction is a loop that reads one message and writes it to the
//! other side before it reads the next, so a slow reader holds back its
//! sender instead of filling the relay's memory. The loops run in one task
//! with the idle and duration timers; the first of them to finish decides
//! how the session ends:
//!
//! - a close frame from one side is relayed, then the other side's close
//!   reply is awaited (at most [`CLOSE_GRACE`]) and relayed back;
//! - otherwise each side gets the close frame [`Ending::closes`] gives, and
//!   the upstream's close reply is awaited (at most [`CLOSE_GRACE`]).
//!
//! Dropping the client's sender ends the response body, which closes the
//! client's connection; dropping the upstream socket closes that one. Nothing
//! outlives the task.

use std::cell::Cell;
use std::pin::pin;
use std::time::Duration;

use actix_http::ws::Message as ClientMessage;
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc::Sender;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::ProtocolError};

use super::close::{self, Close, Ending, INVALID_DATA, PROTOCOL_ERROR, Side};
use super::frames::{Assembler, ClientFrames, FromClient, too_big, violation};
use super::upstream::UpstreamSocket;
use crate::table::WebSocketLimits;

/// How long the relay waits for the reply to a close frame.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Everything one session needs.
pub struct Session {
    pub client: ClientFrames,
    /// Frames for the client, encoded as the response body.
    pub to_client: Sender<ClientMessage>,
    pub upstream: UpstreamSocket,
    pub limits: WebSocketLimits,
    pub request_id: String,
    /// Ends the session (1001) when the relay's drain deadline passes.
    pub drain: crate::drain::Drain,
    /// A consumer's session, settled with each response's usage.
    pub ticket: Option<crate::quota::Ticket>,
}

/// Why one direction stopped.
enum Stop {
    /// Its side sent this close frame, which was relayed.
    Closed(Option<Close>),
    Ended(Ending),
}

type UpSink = SplitSink<UpstreamSocket, Message>;
type UpStream = SplitStream<UpstreamSocket>;

/// Relays until the session ends.
pub async fn run(session: Session) {
    let Session { mut client, to_client, upstream, limits, request_id, drain, ticket } = session;
    let (mut up_tx, mut up_rx) = upstream.split();
    let activity = Cell::new(Instant::now());
    let deadline = Instant::now() + limits.max_duration;
    let mut echo = None;
    let ending = {
        let mut c2u = pin!(client_to_upstream(&mut client, &mut up_tx, &activity, limits.max_message));
        let mut u2c = pin!(upstream_to_client(&mut up_rx, &to_client, &activity, limits.max_message, ticket.as_ref()));
        let first = tokio::select! {
            stop = &mut c2u => (Side::Client, stop),
            stop = &mut u2c => (Side::Upstream, stop),
            () = idle(&activity, limits.idle_timeout) => (Side::Client, Stop::Ended(Ending::Idle)),
            () = tokio::time::sleep_until(deadline) => (Side::Client, Stop::Ended(Ending::Duration)),
            () = drain.deadline() => (Side::Client, Stop::Ended(Ending::Shutdown)),
        };
        match first {
            (Side::Client, Stop::Closed(close)) => {
                // A missing reply: the relay answers the client's close itself.
                if !matches!(timeout(CLOSE_GRACE, &mut u2c).await, Ok(Stop::Closed(_))) {
                    echo = Some(close);
                }
                None
            }
            (Side::Upstream, Stop::Closed(_)) => {
                let _ = timeout(CLOSE_GRACE, &mut c2u).await;
                None
            }
            (_, Stop::Ended(ending)) => Some(ending),
        }
    };
    if let Some(close) = echo {
        let _ = timeout(CLOSE_GRACE, to_client.send(ClientMessage::Close(close::to_client(close)))).await;
    }
    let Some(ending) = ending else {
        tracing::debug!(request_id, "websocket session closed");
        return;
    };
    tracing::info!(request_id, ?ending, "websocket session ended by the relay");
    let (for_client, for_upstream) = ending.closes();
    if let Some(close) = for_client {
        let frame = ClientMessage::Close(close::to_client(Some(close)));
        let _ = timeout(CLOSE_GRACE, to_client.send(frame)).await;
    }
    drop(to_client);
    if let Some(close) = for_upstream {
        let _ = timeout(CLOSE_GRACE, async {
            up_tx.send(Message::Close(close::to_upstream(Some(close)))).await?;
            // Wait for the upstream's close reply, discarding anything else.
            while let Some(message) = up_rx.next().await {
                if matches!(message?, Message::Close(_)) {
                    break;
                }
            }
            Ok::<(), WsError>(())
        })
        .await;
    }
}

/// Resolves once no frame has passed for `limit`.
async fn idle(activity: &Cell<Instant>, limit: Duration) {
    loop {
        let deadline = activity.get() + limit;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

async fn client_to_upstream(client: &mut ClientFrames, up: &mut UpSink, activity: &Cell<Instant>, max: usize) -> Stop {
    let mut assembler = Assembler::new(max);
    loop {
        let frame = match client.next().await {
            Ok(frame) => frame,
            Err(ending) => return Stop::Ended(ending),
        };
        activity.set(Instant::now());
        match assembler.push(frame) {
            Ok(None) => {}
            Ok(Some(FromClient::Message(message))) => {
                if up.send(message).await.is_err() {
                    return Stop::Ended(Ending::Vanished(Side::Upstream));
                }
            }
            Ok(Some(FromClient::Close(close))) => {
                // Sent even if the upstream has gone; then the relay replies.
                let _ = up.send(Message::Close(close::to_upstream(close.clone()))).await;
                return Stop::Closed(close);
            }
            Err(ending) => return Stop::Ended(ending),
        }
    }
}

async fn upstream_to_client(
    up: &mut UpStream,
    client: &Sender<ClientMessage>,
    activity: &Cell<Instant>,
    max: usize,
    ticket: Option<&crate::quota::Ticket>,
) -> Stop {
    loop {
        let message = match up.next().await {
            Some(Ok(message)) => message,
            Some(Err(error)) => return Stop::Ended(upstream_error(error, max)),
            None => return Stop::Ended(Ending::Vanished(Side::Upstream)),
        };
        activity.set(Instant::now());
        let (frame, closed) = match message {
            Message::Text(text) => match ByteString::try_from(Bytes::from(text)) {
                Ok(text) => {
                    if let Some(usage) = ticket.and_then(|_| crate::quota::usage::of_event(text.as_bytes())) {
                        ticket.inspect(|ticket| ticket.settle(&usage));
                    }
                    (ClientMessage::Text(text), None)
                }
                Err(_) => return Stop::Ended(violation(Side::Upstream, INVALID_DATA, "sent invalid UTF-8")),
            },
            Message::Binary(bytes) => (ClientMessage::Binary(bytes), None),
            Message::Ping(bytes) => (ClientMessage::Ping(bytes), None),
            Message::Pong(bytes) => (ClientMessage::Pong(bytes), None),
            Message::Close(frame) => {
                let close = close::from_upstream(frame);
                (ClientMessage::Close(close::to_client(close.clone())), Some(close))
            }
            Message::Frame(_) => continue,
        };
        if client.send(frame).await.is_err() {
            return Stop::Ended(Ending::Vanished(Side::Client));
        }
        if let Some(close) = closed {
            return Stop::Closed(close);
        }
    }
}

/// What an error reading the upstream means for the session.
fn upstream_error(error: WsError, max: usize) -> Ending {
    match error {
        WsError::Capacity(_) => too_big(Side::Upstream, max),
        WsError::Utf8(_) => violation(Side::Upstream, INVALID_DATA, "sent invalid UTF-8"),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Ending::Vanished(Side::Upstream),
        WsError::Protocol(error) => violation(Side::Upstream, PROTOCOL_ERROR, error.to_string()),
        _ => Ending::Vanished(Side::Upstream),
    }
}
