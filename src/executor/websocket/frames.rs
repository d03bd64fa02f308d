//! The client's frames: read from the upgraded connection, checked against
//! the message limit before their payload is buffered, and turned into
//! upstream messages. Fragmented messages are reassembled up to the limit,
//! so a session holds at most one message per direction.

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Item};
use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::close::{self, Close, Ending, INVALID_DATA, PROTOCOL_ERROR, Side, TOO_BIG};

/// Frames decoded from the client's side of the connection.
pub struct ClientFrames {
    payload: web::Payload,
    buf: BytesMut,
    codec: Codec,
    max: usize,
}

/// What the client sent, for the upstream.
#[derive(Debug, PartialEq, Eq)]
pub enum FromClient {
    Message(Message),
    Close(Option<Close>),
}

impl ClientFrames {
    pub fn new(payload: web::Payload, max: usize) -> Self {
        // The codec's own limit only applies once a whole frame is buffered.
        ClientFrames { payload, buf: BytesMut::new(), codec: Codec::new().max_size(max), max }
    }

    /// The next frame; a frame declaring a payload over the limit fails
    /// before its payload is read.
    pub async fn next(&mut self) -> Result<Frame, Ending> {
        loop {
            if declared_length(&self.buf).is_some_and(|len| len > self.max as u64) {
                return Err(too_big(Side::Client, self.max));
            }
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(actix_http::ws::ProtocolError::Overflow) => return Err(too_big(Side::Client, self.max)),
                Err(error) => return Err(violation(Side::Client, PROTOCOL_ERROR, error.to_string())),
            }
            match self.payload.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(_)) | None => return Err(Ending::Vanished(Side::Client)),
            }
        }
    }
}

/// The payload length a frame header declares, once the header is complete.
pub fn declared_length(buf: &[u8]) -> Option<u64> {
    let short = buf.get(1)? & 0x7f;
    match short {
        126 => buf.get(2..4).map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
        127 => buf.get(2..10).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes),
        len => Some(u64::from(len)),
    }
}

pub fn too_big(by: Side, max: usize) -> Ending {
    violation(by, TOO_BIG, format!("message exceeds the limit of {max} bytes"))
}

pub fn violation(by: Side, code: u16, detail: impl Into<String>) -> Ending {
    Ending::Violation { by, code, detail: detail.into() }
}

/// Reassembles fragmented client messages.
pub struct Assembler {
    /// The message being reassembled: whether it is text, and its bytes.
    partial: Option<(bool, BytesMut)>,
    max: usize,
}

impl Assembler {
    pub fn new(max: usize) -> Self {
        Assembler { partial: None, max }
    }

    /// The upstream message for one client frame, once it is complete.
    pub fn push(&mut self, frame: Frame) -> Result<Option<FromClient>, Ending> {
        let message = match frame {
            Frame::Text(bytes) => text(bytes)?,
            Frame::Binary(bytes) => Message::Binary(bytes),
            Frame::Ping(bytes) => Message::Ping(bytes),
            Frame::Pong(bytes) => Message::Pong(bytes),
            Frame::Close(reason) => {
                let close = close::from_client(reason);
                if close.as_ref().is_some_and(|c| !close::sendable(c.code)) {
                    return Err(violation(Side::Client, PROTOCOL_ERROR, "sent a reserved close code"));
                }
                return Ok(Some(FromClient::Close(close)));
            }
            Frame::Continuation(item) => match self.fragment(item)? {
                Some(message) => message,
                None => return Ok(None),
            },
        };
        Ok(Some(FromClient::Message(message)))
    }

    fn fragment(&mut self, item: Item) -> Result<Option<Message>, Ending> {
        let (first, bytes, last) = match item {
            Item::FirstText(bytes) => (Some(true), bytes, false),
            Item::FirstBinary(bytes) => (Some(false), bytes, false),
            Item::Continue(bytes) => (None, bytes, false),
            Item::Last(bytes) => (None, bytes, true),
        };
        let (is_text, buf) = match (first, self.partial.as_mut()) {
            (Some(is_text), None) => self.partial.insert((is_text, BytesMut::new())),
            (None, Some(partial)) => partial,
            _ => return Err(violation(Side::Client, PROTOCOL_ERROR, "sent a stray continuation frame")),
        };
        if buf.len() + bytes.len() > self.max {
            return Err(too_big(Side::Client, self.max));
        }
        buf.extend_from_slice(&bytes);
        let is_text = *is_text;
        if !last {
            return Ok(None);
        }
        let whole = self.partial.take().map(|(_, buf)| buf.freeze()).unwrap_or_default();
        Ok(Some(if is_text { text(whole)? } else { Message::Binary(whole) }))
    }
}

fn text(bytes: Bytes) -> Result<Message, Ending> {
    Utf8Bytes::try_from(bytes)
        .map(Message::Text)
        .map_err(|_| violation(Side::Client, INVALID_DATA, "sent a text message that is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<Option<FromClient>, Ending>) -> u16 {
        match result {
            Err(Ending::Violation { code, .. }) => code,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn header_lengths_are_read_before_the_payload() {
        assert_eq!(declared_length(&[0x82]), None);
        assert_eq!(declared_length(&[0x82, 0x85]), Some(5));
        assert_eq!(declared_length(&[0x82, 0xfe, 0x01]), None);
        assert_eq!(declared_length(&[0x82, 0xfe, 0x01, 0x00]), Some(256));
        assert_eq!(declared_length(&[0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0]), Some(1 << 32));
    }

    #[test]
    fn fragments_are_joined_up_to_the_limit() {
        let mut a = Assembler::new(6);
        assert_eq!(a.push(Frame::Continuation(Item::FirstText(Bytes::from_static(b"ab")))).unwrap(), None);
        assert_eq!(a.push(Frame::Continuation(Item::Continue(Bytes::from_static(b"cd")))).unwrap(), None);
        let whole = a.push(Frame::Continuation(Item::Last(Bytes::from_static(b"ef")))).unwrap();
        assert_eq!(whole, Some(FromClient::Message(Message::text("abcdef"))));
        a.push(Frame::Continuation(Item::FirstBinary(Bytes::from_static(b"1234")))).unwrap();
        assert_eq!(code(a.push(Frame::Continuation(Item::Last(Bytes::from_static(b"567"))))), TOO_BIG);
    }

    #[test]
    fn bad_frames_are_violations() {
        let mut a = Assembler::new(16);
        assert_eq!(code(a.push(Frame::Text(Bytes::from_static(b"\xff")))), INVALID_DATA);
        assert_eq!(code(a.push(Frame::Continuation(Item::Last(Bytes::new())))), PROTOCOL_ERROR);
        let reserved = actix_http::ws::CloseReason { code: 1006.into(), description: None };
        assert_eq!(code(a.push(Frame::Close(Some(reserved)))), PROTOCOL_ERROR);
        assert_eq!(a.push(Frame::Close(None)).unwrap(), Some(FromClient::Close(None)));
        assert_eq!(
            a.push(Frame::Ping(Bytes::from_static(b"p"))).unwrap(),
            Some(FromClient::Message(Message::Ping(Bytes::from_static(b"p"))))
        );
    }
}
