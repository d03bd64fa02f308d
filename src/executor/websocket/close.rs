//! How a WebSocket session ends, and which close frame each side gets.
//!
//! A close frame from one side is relayed to the other unchanged (code and
//! reason). When the relay ends the session itself, it chooses:
//!
//! | cause                                   | to the client | to the upstream |
//! |-----------------------------------------|---------------|-----------------|
//! | a message over `max_message`            | 1009          | 1009            |
//! | invalid UTF-8 in a text message         | 1007          | 1007            |
//! | a protocol violation (bad frame)        | 1002          | 1002            |
//! | no frame for `idle_timeout`             | 1001          | 1001            |
//! | the session reached `max_duration`      | 1008          | 1008            |
//! | the relay's drain timeout passed        | 1001          | 1001            |
//! | the client vanished (no close frame)    | -             | 1001            |
//! | the upstream vanished or failed         | 1011          | -               |
//!
//! 1006 (abnormal closure) describes a connection lost without a close frame
//! and may never be sent, so a vanished peer becomes 1001 ("going away") for
//! the upstream and 1011 ("internal error", the relay's side of the session
//! failed) for the client. The reason always says what happened.

use actix_http::ws::{CloseCode as ClientCode, CloseReason};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as UpstreamCode;

pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_DATA: u16 = 1007;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const INTERNAL_ERROR: u16 = 1011;

/// One close frame's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

impl Close {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Close { code, reason: reason.into() }
    }
}

/// Whether a code may appear in a close frame (RFC 6455 7.4): 1004-1006 and
/// 1015 are reserved, below 1000 and from 5000 on are not codes.
pub fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Which side of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Upstream => "upstream",
        }
    }
}

/// Why the relay ends a session (other than a relayed close frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The side's connection ended or failed without a close frame.
    Vanished(Side),
    /// The side sent a message over the limit (1009), invalid UTF-8 (1007)
    /// or a frame breaking the protocol (1002).
    Violation {
        by: Side,
        code: u16,
        detail: String,
    },
    Idle,
    Duration,
    /// The relay is shutting down and its drain timeout passed.
    Shutdown,
}

impl Ending {
    /// The close frames for the client and for the upstream.
    pub fn closes(&self) -> (Option<Close>, Option<Close>) {
        match self {
            Ending::Vanished(Side::Client) => (None, Some(Close::new(GOING_AWAY, "client went away"))),
            Ending::Vanished(Side::Upstream) => (Some(Close::new(INTERNAL_ERROR, "upstream connection lost")), None),
            Ending::Violation { by, code, detail } => {
                let close = Close::new(*code, truncate(format!("{} {detail}", by.name())));
                (Some(close.clone()), Some(close))
            }
            Ending::Idle => both(Close::new(GOING_AWAY, "idle timeout")),
            Ending::Duration => both(Close::new(POLICY, "maximum session duration reached")),
            Ending::Shutdown => both(Close::new(GOING_AWAY, "relay shutting down")),
        }
    }
}

fn both(close: Close) -> (Option<Close>, Option<Close>) {
    (Some(close.clone()), Some(close))
}

/// A close reason fits 123 bytes (a control frame carries 125).
fn truncate(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 123;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// The client's close frame, as received.
pub fn from_client(reason: Option<CloseReason>) -> Option<Close> {
    reason.map(|r| Close { code: r.code.into(), reason: r.description.unwrap_or_default() })
}

/// A close frame to send to the client.
pub fn to_client(close: Option<Close>) -> Option<CloseReason> {
    close.map(|c| CloseReason {
        code: ClientCode::from(c.code),
        description: (!c.reason.is_empty()).then_some(c.reason),
    })
}

/// The upstream's close frame, as received.
pub fn from_upstream(frame: Option<CloseFrame>) -> Option<Close> {
    frame.map(|f| Close { code: f.code.into(), reason: f.reason.as_str().to_owned() })
}

/// A close frame to send upstream.
pub fn to_upstream(close: Option<Close>) -> Option<CloseFrame> {
    close.map(|c| CloseFrame { code: UpstreamCode::from(c.code), reason: c.reason.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wire_codes_are_sendable() {
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1014, 3000, 4000, 4999] {
            assert!(sendable(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000] {
            assert!(!sendable(code), "{code}");
        }
    }

    #[test]
    fn each_ending_has_its_codes() {
        let codes = |e: Ending| {
            let (client, upstream) = e.closes();
            (client.map(|c| c.code), upstream.map(|c| c.code))
        };
        assert_eq!(codes(Ending::Vanished(Side::Client)), (None, Some(1001)));
        assert_eq!(codes(Ending::Vanished(Side::Upstream)), (Some(1011), None));
        assert_eq!(codes(Ending::Idle), (Some(1001), Some(1001)));
        assert_eq!(codes(Ending::Duration), (Some(1008), Some(1008)));
        let big = Ending::Violation { by: Side::Client, code: TOO_BIG, detail: "x".repeat(300) };
        let (client, upstream) = big.closes();
        let client = client.unwrap();
        assert_eq!((client.code, upstream.unwrap().code), (1009, 1009));
        assert!(client.reason.starts_with("client x") && client.reason.len() == 123);
    }

    #[test]
    fn frames_convert_both_ways_without_loss() {
        let close = Close::new(4001, "done");
        let client = to_client(Some(close.clone()));
        assert_eq!(from_client(client), Some(close.clone()));
        assert_eq!(from_upstream(to_upstream(Some(close.clone()))), Some(close));
        assert_eq!(to_client(Some(Close::new(1000, ""))).unwrap().description, None);
        assert_eq!(from_client(None), None);
    }
}
