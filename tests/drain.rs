#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! Graceful drain of the real binary: SIGTERM during a slow SSE stream from a
//! real upstream (12 events 500 ms apart, about 6 s; the issue's 40 s stream
//! is an example, shortened to keep the suite fast).
//!
//! - a drain timeout longer than the stream: the stream completes, `/ready`
//!   on the admin address is 503 meanwhile, new connections are refused, idle
//!   keep-alive ones closed, and the process exits 0 after the stream;
//! - `--drain-timeout 2s`: the stream ends with the relay's error event about
//!   2 s after the signal;
//! - a second SIGTERM ends the process at once;
//! - a WebSocket session still open at the deadline is closed with 1001 on
//!   both sides.

mod support;

use std::time::{Duration, Instant};

use support::raw::Conn;
use support::relay::{Process, routes_dir};
use support::upstream::Upstream;
use support::ws_upstream::WsUpstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[[route]]
id = "paced"
method = "GET"
path = "/v1/paced/{count}/{gap}"
public = true
"#;

const STREAM: &[u8] = b"GET /v1/paced/12/500 HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n";

fn start(upstream: &Upstream, drain_timeout: &str) -> Process {
    let dir = routes_dir(ROUTES);
    let args = ["--admin-listen", "127.0.0.1:0", "--drain-timeout", drain_timeout];
    let relay = Process::start(dir.path(), &args, &[("OPENAI_BASE_URL", &upstream.base_url())]);
    // The directory must outlive the test: the relay watches it.
    std::mem::forget(dir);
    relay
}

async fn ready_status(relay: &Process) -> u16 {
    let response = support::relay::client().get(relay.url_on("admin", "/ready")).send().await.unwrap();
    response.status().as_u16()
}

/// Opens the stream and waits for its first event.
async fn open_stream(relay: &Process) -> Conn {
    let mut conn = Conn::open(relay.addr).await;
    conn.write(STREAM).await;
    conn.read_until(b"data: {\"n\":0}").await;
    conn
}

#[actix_web::test]
async fn a_stream_in_flight_completes_within_a_long_drain_timeout() {
    let upstream = Upstream::start().await;
    let mut relay = start(&upstream, "60s");
    assert_eq!(ready_status(&relay).await, 200);
    let ready = support::relay::client().get(relay.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "traffic listeners answer /ready too");
    let mut stream = open_stream(&relay).await;
    // An idle keep-alive connection must not hold the drain up.
    let mut idle = Conn::open(relay.addr).await;
    idle.write(b"GET /health HTTP/1.1\r\nHost: relay\r\n\r\n").await;
    assert_eq!(idle.read_response().await.status, 200);

    relay.terminate();
    assert!(relay.wait_for_log("SIGTERM received: draining"), "{}", relay.log.lock().unwrap());
    assert!(idle.closes_within(Duration::from_secs(2)).await, "idle keep-alive connections are closed");
    assert_eq!(ready_status(&relay).await, 503, "readiness turns 503 while draining");
    let mut status = support::relay::client().get(relay.url_on("admin", "/relay/status")).send().await.unwrap();
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["draining"], true, "{status}");
    let refused = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(relay.addr)).await;
    assert!(matches!(refused, Ok(Err(_))), "the traffic listener accepts no new connection: {refused:?}");

    let rest = String::from_utf8(stream.read_to_close().await).unwrap();
    assert!(rest.contains("data: {\"n\":11}") && rest.contains("data: [DONE]"), "the stream completes: {rest}");
    assert!(!rest.contains("event: error"), "{rest}");
    let status = relay.exit_within(Duration::from_secs(5)).expect("the relay exits once drained");
    assert!(status.success(), "{status:?}");
    assert!(relay.wait_for_log("relay stopped"));
}

#[actix_web::test]
async fn at_the_drain_deadline_a_stream_ends_with_an_error_event() {
    let upstream = Upstream::start().await;
    let mut relay = start(&upstream, "2s");
    let mut stream = open_stream(&relay).await;

    let signalled = Instant::now();
    relay.terminate();
    let rest = String::from_utf8(stream.read_to_close().await).unwrap();
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "ended {took:?} after the signal, expected about 2 s"
    );
    assert!(!rest.contains("data: [DONE]"), "the stream was cut: {rest}");
    let event = rest.split("event: error\ndata: ").nth(1).expect("a final error event").split("\n\n").next().unwrap();
    let error: serde_json::Value = serde_json::from_str(event).unwrap();
    assert_eq!(error["error"]["code"], "relay_shutting_down", "{error}");
    assert_eq!(error["error"]["type"], "server_error");
    let status = relay.exit_within(Duration::from_secs(3)).expect("the relay exits after the deadline");
    assert!(status.success(), "{status:?}");
}

#[actix_web::test]
async fn a_second_signal_stops_at_once() {
    let upstream = Upstream::start().await;
    let mut relay = start(&upstream, "60s");
    let mut stream = open_stream(&relay).await;
    relay.terminate();
    assert!(relay.wait_for_log("SIGTERM received: draining"));
    assert_eq!(ready_status(&relay).await, 503);

    let signalled = Instant::now();
    relay.terminate();
    let status = relay.exit_within(Duration::from_secs(2)).expect("the second signal ends the relay at once");
    assert!(!status.success(), "a forced stop is not a clean exit: {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(2));
    let rest = String::from_utf8(stream.read_to_close().await).unwrap();
    assert!(!rest.contains("data: [DONE]"), "the stream was cut: {rest}");
}

#[actix_web::test]
async fn at_the_drain_deadline_a_websocket_session_closes_with_1001() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let upstream = WsUpstream::start();
    let dir = routes_dir(
        r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[[route]]
id = "realtime"
method = "GET"
path = "/v1/realtime"
protocol = "websocket"
public = true
"#,
    );
    let args = ["--drain-timeout", "1s"];
    let mut relay = Process::start(dir.path(), &args, &[("OPENAI_BASE_URL", &upstream.base_url())]);
    let url = format!("ws://{}/v1/realtime?tag=drain", relay.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo, Message::text("hello"));

    relay.terminate();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame with a code"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!((u16::from(close.code), close.reason.as_str()), (1001, "relay shutting down"));
    let ended = upstream.ended("tag=drain", Duration::from_secs(10));
    assert_eq!(ended.as_deref(), Some("close:1001:relay shutting down"));
    let status = relay.exit_within(Duration::from_secs(5)).expect("the relay exits after the deadline");
    assert!(status.success(), "{status:?}");
}
