//! WebSocket routes on real sockets: a tungstenite client talks through the
//! relay to a tungstenite test upstream ([`support::ws_upstream`]). Frames
//! pass both ways in order, close codes cross, the relay key is required and
//! never reaches the upstream, and the route's limits end sessions with the
//! documented close codes. Fragments are reassembled up to the limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::log_file::complete_lines;
use support::relay::{InProcess, Process, SERVER_KEY, client, routes_dir};
use support::ws_upstream::WsUpstream;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous bound for anything that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(10);

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "plain"
method = "GET"
path = "/v1/realtime"
protocol = "websocket"

[[route]]
id = "small"
method = "GET"
path = "/v1/small"
upstream_path = "/realtime"
protocol = "websocket"
websocket = { max_message = "64KiB" }

[[route]]
id = "idle"
method = "GET"
path = "/v1/idle"
upstream_path = "/realtime"
protocol = "websocket"
websocket = { idle_timeout = "600ms" }

[[route]]
id = "short"
method = "GET"
path = "/v1/short"
upstream_path = "/realtime"
protocol = "websocket"
websocket = { max_duration = "800ms" }
"#;

/// Opens a WebSocket to `url` with extra request headers.
async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<(Ws, Option<String>), WsError> {
    let mut request = url.replacen("http://", "ws://", 1).into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    let config = WebSocketConfig::default().max_message_size(None).max_frame_size(None);
    let (ws, response) = tokio_tungstenite::connect_async_with_config(request, Some(config), false).await?;
    let protocol = response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
    Ok((ws, protocol))
}

async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("a message within 10 s")
        .expect("the stream goes on")
        .unwrap()
}

/// Reads until the close frame; its code and reason.
async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("a close frame within 10 s") {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.to_string()),
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// The status and JSON body of a refused handshake.
fn refusal(result: Result<(Ws, Option<String>), WsError>) -> (u16, serde_json::Value) {
    match result {
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (response.status().as_u16(), serde_json::from_slice(&body).unwrap_or_default())
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, the handshake succeeded"),
    }
}

#[actix_web::test]
async fn text_and_binary_frames_round_trip_in_order_and_big() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let (mut ws, _) = connect(&relay.url("/v1/realtime?model=gpt-realtime"), &[]).await.unwrap();
    for i in 0..20 {
        ws.send(Message::text(format!("text {i}"))).await.unwrap();
        ws.send(Message::binary(vec![i; 3])).await.unwrap();
    }
    for i in 0..20 {
        assert_eq!(next(&mut ws).await, Message::text(format!("text {i}")));
        assert_eq!(next(&mut ws).await, Message::binary(vec![i; 3]));
    }
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::binary(big));
    ws.send(Message::text("big:1048576")).await.unwrap();
    assert_eq!(next(&mut ws).await.len(), 1024 * 1024);
    ws.close(None).await.unwrap();
    relay.stop().await;
}

#[actix_web::test]
async fn pings_and_pongs_cross_both_ways() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let (mut ws, _) = connect(&relay.url("/v1/realtime"), &[]).await.unwrap();
    ws.send(Message::Ping(Bytes::from_static(b"from-client"))).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Pong(Bytes::from_static(b"from-client")));
    ws.send(Message::text("ping:from-upstream")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Ping(Bytes::from_static(b"from-upstream")));
    // The client's automatic pong goes out with its next write.
    ws.send(Message::text("after")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("after"));
    let events = upstream.events();
    assert!(events.contains(&"ping:from-client".to_owned()), "{events:?}");
    assert!(events.contains(&"pong:from-upstream".to_owned()), "{events:?}");
    relay.stop().await;
}

#[actix_web::test]
async fn close_codes_and_reasons_cross_both_ways() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    // The upstream closes.
    let (mut ws, _) = connect(&relay.url("/v1/realtime?tag=server-close"), &[]).await.unwrap();
    ws.send(Message::text("close:4001:upstream is done")).await.unwrap();
    assert_eq!(close_of(&mut ws).await, (4001, "upstream is done".to_owned()));
    // The client closes.
    let (mut ws, _) = connect(&relay.url("/v1/responses?tag=client-close"), &[]).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("hello"));
    let frame = CloseFrame { code: CloseCode::from(4002), reason: "client is done".into() };
    ws.send(Message::Close(Some(frame))).await.unwrap();
    assert_eq!(close_of(&mut ws).await, (4002, "client is done".to_owned()), "the upstream's reply comes back");
    assert_eq!(upstream.ended("client-close", PATIENCE).as_deref(), Some("close:4002:client is done"));
    relay.stop().await;
}

#[actix_web::test]
async fn the_relay_key_is_required_and_never_reaches_the_upstream() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[("RELAY_KEYS", "rk-good")]).await;
    let url = relay.url("/v1/realtime?model=gpt-realtime&intent=transcription");
    for headers in [
        vec![],
        vec![("x-relay-key", "rk-bad")],
        vec![("authorization", "Bearer rk-bad")],
        vec![("sec-websocket-protocol", "realtime, openai-insecure-api-key.rk-bad")],
    ] {
        let (status, body) = refusal(connect(&url, &headers).await);
        assert_eq!(status, 401, "{headers:?}");
        assert_eq!(body["error"]["type"], "authentication_error", "{headers:?}");
        assert_eq!(body["error"]["code"], "invalid_relay_key");
    }
    assert!(upstream.handshakes().is_empty(), "refused clients never reach the upstream");

    let (mut ws, _) = connect(&url, &[("x-relay-key", "rk-good")]).await.unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("hi"));
    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/realtime?model=gpt-realtime&intent=transcription");
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {SERVER_KEY}").as_str()));
    assert_eq!(seen.header("x-relay-key"), None);

    let protocols = "realtime, openai-insecure-api-key.rk-good, openai-beta.realtime-v1";
    let (mut ws, chosen) = connect(&url, &[("sec-websocket-protocol", protocols)]).await.unwrap();
    assert_eq!(chosen.as_deref(), Some("realtime"), "the upstream's choice comes back");
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("hi"));
    let seen = upstream.last();
    assert_eq!(seen.header("sec-websocket-protocol"), Some("realtime, openai-beta.realtime-v1"));
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {SERVER_KEY}").as_str()));
    let everything = format!("{:?}", upstream.handshakes());
    assert!(!everything.contains("rk-good") && !everything.contains("insecure"), "{everything}");

    // Only the key offered: the browser still gets a subprotocol back.
    let only_key = [("sec-websocket-protocol", "openai-insecure-api-key.rk-good")];
    let (_ws, chosen) = connect(&url, &only_key).await.unwrap();
    assert_eq!(chosen.as_deref(), Some("openai-insecure-api-key.rk-good"));
    assert_eq!(upstream.last().header("sec-websocket-protocol"), None);
    relay.stop().await;
}

#[actix_web::test]
async fn a_refused_or_unreachable_upstream_answers_the_handshake() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let (status, body) = refusal(connect(&relay.url("/v1/realtime?reject=401"), &[]).await);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "refused by the test upstream");
    relay.stop().await;

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let relay = InProcess::shipped(&nowhere, &[]).await;
    let (status, body) = refusal(connect(&relay.url("/v1/realtime"), &[]).await);
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "upstream_unreachable");
    relay.stop().await;
}

#[actix_web::test]
async fn http_requests_on_websocket_paths_keep_their_routes() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let mut plain = client().get(relay.url("/v1/realtime")).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 426);
    let body: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(body["error"]["code"], "websocket_upgrade_required");
    // A POST on /v1/responses is the HTTP route: it reaches the upstream as
    // HTTP (which this WebSocket-only upstream refuses), not as a handshake.
    let post = client().post(relay.url("/v1/responses")).insert_header(("content-type", "application/json"));
    let answer = post.send_body("{}").await.unwrap();
    assert_ne!(answer.status().as_u16(), 426);
    assert!(upstream.handshakes().iter().all(|h| h.header("upgrade").is_some()));
    relay.stop().await;
}

#[actix_web::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let upstream = WsUpstream::start();
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let (mut ws, _) = connect(&relay.url("/v1/small?tag=client-big"), &[]).await.unwrap();
    ws.send(Message::binary(vec![1u8; 64 * 1024])).await.unwrap();
    assert_eq!(next(&mut ws).await.len(), 64 * 1024, "a message at the limit passes");
    ws.send(Message::binary(vec![1u8; 64 * 1024 + 1])).await.unwrap();
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("client"), "{reason}");
    assert_eq!(upstream.ended("client-big", PATIENCE).map(|h| h[..10].to_owned()).as_deref(), Some("close:1009"));

    let (mut ws, _) = connect(&relay.url("/v1/small?tag=upstream-big"), &[]).await.unwrap();
    ws.send(Message::text("big:70000")).await.unwrap();
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("upstream"), "{reason}");
    relay.stop().await;
}

#[actix_web::test]
async fn fragments_are_reassembled_up_to_the_limit() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let upstream = WsUpstream::start();
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let (mut ws, _) = connect(&relay.url("/v1/small?tag=fragments"), &[]).await.unwrap();
    let fragment = |data: &'static [u8], opcode: Data, last: bool| {
        Message::Frame(Frame::message(data, OpCode::Data(opcode), last))
    };
    ws.send(fragment(b"hel", Data::Text, false)).await.unwrap();
    ws.send(Message::Ping(Bytes::from_static(b"between"))).await.unwrap();
    ws.send(fragment(b"lo ", Data::Continue, false)).await.unwrap();
    ws.send(fragment(b"there", Data::Continue, true)).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Pong(Bytes::from_static(b"between")));
    assert_eq!(next(&mut ws).await, Message::text("hello there"));
    // 3 fragments of 30 KiB: over the 64 KiB limit together.
    static PIECE: [u8; 30 * 1024] = [9; 30 * 1024];
    ws.send(fragment(&PIECE, Data::Binary, false)).await.unwrap();
    ws.send(fragment(&PIECE, Data::Continue, false)).await.unwrap();
    ws.send(fragment(&PIECE, Data::Continue, true)).await.unwrap();
    assert_eq!(close_of(&mut ws).await.0, 1009);
    relay.stop().await;
}

#[actix_web::test]
async fn idle_sessions_and_long_sessions_are_closed() {
    let upstream = WsUpstream::start();
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let (mut ws, _) = connect(&relay.url("/v1/idle?tag=idle"), &[]).await.unwrap();
    assert_eq!(close_of(&mut ws).await, (1001, "idle timeout".to_owned()));
    assert_eq!(upstream.ended("tag=idle", PATIENCE).as_deref(), Some("close:1001:idle timeout"));

    let (mut ws, _) = connect(&relay.url("/v1/short?tag=short"), &[]).await.unwrap();
    // Traffic does not extend the session.
    let mut frames = 0;
    let close = loop {
        ws.send(Message::text("tick")).await.unwrap();
        match next(&mut ws).await {
            Message::Close(frame) => break frame.unwrap(),
            _ => frames += 1,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(frames > 0);
    assert_eq!((u16::from(close.code), close.reason.as_str()), (1008, "maximum session duration reached"));
    assert_eq!(upstream.ended("tag=short", PATIENCE).as_deref(), Some("close:1008:maximum session duration reached"));
    relay.stop().await;
}

#[actix_web::test]
async fn a_vanished_client_closes_the_upstream_session() {
    let upstream = WsUpstream::start();
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let (mut ws, _) = connect(&relay.url("/v1/realtime?tag=vanish"), &[]).await.unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("hi"));
    drop(ws); // the TCP connection closes without a close frame
    assert_eq!(upstream.ended("vanish", PATIENCE).as_deref(), Some("close:1001:client went away"));
    relay.stop().await;
}

#[actix_web::test]
async fn a_vanished_upstream_closes_the_client_with_1011() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let (mut ws, _) = connect(&relay.url("/v1/realtime"), &[]).await.unwrap();
    ws.send(Message::text("vanish:")).await.unwrap();
    assert_eq!(close_of(&mut ws).await, (1011, "upstream connection lost".to_owned()));
    // The relay closes the connection after the close frame.
    let end = tokio::time::timeout(PATIENCE, ws.next()).await.expect("the connection ends within 10 s");
    assert!(!matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))), "{end:?}");
    relay.stop().await;
}

#[actix_web::test]
async fn a_hundred_sessions_stay_in_bounded_memory() {
    let upstream = WsUpstream::start();
    let dir = routes_dir(ROUTES);
    let base_url = upstream.base_url();
    let relay = Process::start(dir.path(), &[], &[("OPENAI_BASE_URL", &base_url), ("OPENAI_API_KEY", SERVER_KEY)]);
    let url = relay.url("/v1/small");
    let (mut warm, _) = connect(&url, &[]).await.unwrap();
    warm.send(Message::binary(vec![3u8; 60 * 1024])).await.unwrap();
    next(&mut warm).await;
    let before = relay.memory_kb("VmRSS");
    let mut sessions = Vec::new();
    for _ in 0..100 {
        sessions.push(connect(&url, &[]).await.unwrap().0);
    }
    for ws in &mut sessions {
        ws.send(Message::binary(vec![5u8; 60 * 1024])).await.unwrap();
    }
    for ws in &mut sessions {
        assert_eq!(next(ws).await.len(), 60 * 1024);
    }
    let after = relay.memory_kb("VmRSS");
    let grown = after.saturating_sub(before);
    eprintln!("RSS {before} kB with one session, {after} kB with 101 ({grown} kB more)");
    // Each session holds a few buffers of at most one message (60 KiB here):
    // under 1 MiB per session is a generous bound.
    assert!(grown < 100 * 1024, "100 sessions grew RSS by {grown} kB");
    for ws in &mut sessions {
        ws.close(None).await.unwrap();
    }
}

#[actix_web::test]
async fn the_access_log_has_a_line_when_a_session_closes() {
    let upstream = WsUpstream::start();
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let env = [("OPENAI_BASE_URL", upstream.base_url()), ("OPENAI_API_KEY", SERVER_KEY.to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let relay = Process::start(dir.path(), &["--access-log", log.to_str().unwrap()], &env);
    let (mut ws, _) = connect(&relay.url("/v1/short"), &[("x-request-id", "ws-session-1")]).await.unwrap();
    assert_eq!(close_of(&mut ws).await.0, 1008, "max_duration ends the session");
    let deadline = std::time::Instant::now() + PATIENCE;
    let lines = loop {
        let lines: Vec<String> = complete_lines(&log).into_iter().filter(|l| l.contains("ws-session-1")).collect();
        if lines.len() >= 2 || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The handshake (101), then the session when it closed, with its length.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.contains(" short \"GET /v1/short\" 101 ")), "{lines:?}");
    let session_ms: f64 = lines[1].split(' ').nth(9).unwrap().parse().unwrap();
    assert!(session_ms >= 700.0, "{lines:?}");
}

#[actix_web::test]
async fn a_consumer_session_counts_as_one_request_in_flight_and_settles_its_usage() {
    let upstream = WsUpstream::start();
    let hash = relay::policy::consumer::written_digest("rk-rt");
    let consumer = format!(
        "\n[consumer.rt]\nkeys = [\"{hash}\"]\nmodels = [\"gpt-realtime*\"]\nlimits = {{ concurrent = 1, tokens = \"30/hour\" }}\n"
    );
    let dir = support::relay::routes_dir(&(ROUTES.to_owned() + &consumer));
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let url = relay.url("/v1/realtime?model=gpt-realtime");
    let key = [("x-relay-key", "rk-rt")];

    let (status, body) = refusal(connect(&relay.url("/v1/realtime?model=gpt-4o-realtime"), &key).await);
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("model_not_allowed")), "{body}");

    let (mut first, _) = connect(&url, &key).await.unwrap();
    let (status, body) = refusal(connect(&url, &key).await);
    assert_eq!(status, 429, "one session at a time: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("in flight"), "{body}");

    // The upstream echoes the event back: the relay reads its usage.
    let done =
        r#"{"type":"response.done","response":{"usage":{"total_tokens":30,"input_tokens":20,"output_tokens":10}}}"#;
    first.send(Message::text(done)).await.unwrap();
    assert_eq!(next(&mut first).await, Message::text(done));
    first.close(None).await.unwrap();
    while tokio::time::timeout(PATIENCE, first.next()).await.unwrap().is_some() {}

    // Its 30 tokens fill the hour's window: the next session is refused
    // for tokens (once the first one's place is given back).
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = refusal(connect(&url, &key).await);
        assert_eq!(status, 429, "{body}");
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        if message.contains("tokens") {
            assert!(message.contains("30"), "{message}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still refused for: {message}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upstream.handshakes().len(), 1, "refused sessions never reach the upstream");
    relay.stop().await;
}
