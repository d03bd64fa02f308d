//! A WebSocket test upstream, built on tungstenite (not on the relay's code),
//! on its own thread and runtime. It records every handshake and how every
//! session ended, and answers by what the client sends:
//!
//! - text and binary messages are echoed;
//! - text `close:CODE:REASON` makes it close with that code and reason;
//! - text `ping:PAYLOAD` makes it send a ping; text `big:N` an N-byte binary;
//! - text `vanish:` makes it drop the connection without a close frame;
//! - pings are answered (by tungstenite) and noted as `ping:PAYLOAD`, pongs
//!   as `pong:PAYLOAD` ([`WsUpstream::events`]).
//!
//! A handshake with `reject=STATUS` in its query is refused with that status
//! and a JSON body. The server picks the first subprotocol offered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// One handshake as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Path and query as received.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Handshake {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    handshakes: Mutex<Vec<Handshake>>,
    events: Mutex<Vec<String>>,
    /// `(target, how)`: `close:CODE:REASON`, `close:none`, `eof` or `error:...`.
    ended: Mutex<Vec<(String, String)>>,
}

/// A running WebSocket test upstream.
pub struct WsUpstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl WsUpstream {
    pub fn start() -> WsUpstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(stream, state.clone()));
                }
            });
        });
        WsUpstream { addr, shared }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn handshakes(&self) -> Vec<Handshake> {
        self.shared.handshakes.lock().unwrap().clone()
    }

    pub fn last(&self) -> Handshake {
        self.handshakes().pop().expect("the upstream saw a handshake")
    }

    pub fn events(&self) -> Vec<String> {
        self.shared.events.lock().unwrap().clone()
    }

    /// How the session whose target contains `tag` ended, waiting up to `patience`.
    pub fn ended(&self, tag: &str, patience: Duration) -> Option<String> {
        let deadline = Instant::now() + patience;
        loop {
            let ended = self.shared.ended.lock().unwrap().iter().find(|(t, _)| t.contains(tag)).cloned();
            if let Some((_, how)) = ended {
                return Some(how);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
async fn session(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut target = String::new();
    let callback = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        target = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("<binary>").to_owned()))
            .collect();
        shared.handshakes.lock().unwrap().push(Handshake { target: target.clone(), headers });
        if let Some(status) = target.split("reject=").nth(1).and_then(|s| s.get(..3)?.parse::<u16>().ok()) {
            let body = format!(r#"{{"error":{{"message":"refused by the test upstream","code":"{status}"}}}}"#);
            let mut refusal = ErrorResponse::new(Some(body.clone()));
            *refusal.status_mut() = StatusCode::from_u16(status).unwrap();
            refusal.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
            refusal.headers_mut().insert("content-length", HeaderValue::from(body.len()));
            refusal.headers_mut().insert("x-upstream-refusal", HeaderValue::from_static("yes"));
            return Err(refusal);
        }
        let offered = request.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
        if let Some(first) = offered.and_then(|v| v.split(',').next()) {
            response.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(first.trim()).unwrap());
        }
        response.headers_mut().insert("x-upstream-session", HeaderValue::from_static("yes"));
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    let how = loop {
        let message = match ws.next().await {
            Some(Ok(message)) => message,
            Some(Err(error)) => break format!("error:{error}"),
            None => break "eof".to_owned(),
        };
        let reply = match message {
            Message::Text(text) => match text.split_once(':') {
                Some(("close", rest)) => {
                    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
                    let code = CloseCode::from(code.parse::<u16>().unwrap());
                    Some(Message::Close(Some(CloseFrame { code, reason: reason.to_owned().into() })))
                }
                Some(("ping", payload)) => Some(Message::Ping(Bytes::copy_from_slice(payload.as_bytes()))),
                Some(("big", n)) => Some(Message::Binary(vec![7u8; n.parse().unwrap()].into())),
                Some(("vanish", _)) => break "vanished".to_owned(),
                _ => Some(Message::Text(text)),
            },
            Message::Binary(bytes) => Some(Message::Binary(bytes)),
            Message::Ping(payload) => note(&shared, "ping", &payload),
            Message::Pong(payload) => note(&shared, "pong", &payload),
            Message::Close(frame) => {
                let how = match frame {
                    Some(frame) => format!("close:{}:{}", u16::from(frame.code), frame.reason),
                    None => "close:none".to_owned(),
                };
                // Flush tungstenite's close reply, then stop.
                let _ = tokio::time::timeout(Duration::from_secs(5), ws.flush()).await;
                break how;
            }
            Message::Frame(_) => None,
        };
        if let Some(reply) = reply
            && ws.send(reply).await.is_err()
        {
            break "error:send".to_owned();
        }
    };
    shared.ended.lock().unwrap().push((target, how));
}

fn note(shared: &Shared, kind: &str, payload: &[u8]) -> Option<Message> {
    shared.events.lock().unwrap().push(format!("{kind}:{}", String::from_utf8_lossy(payload)));
    None
}
