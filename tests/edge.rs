//! Edge behaviour on real sockets: `Expect: 100-continue` answered only
//! after the head checks, slow heads and bodies cut, heads the HTTP layer
//! refuses. (Upstream framing: `tests/upstream_framing.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::raw::{self, Conn};
use support::relay::{InProcess, Process, routes_dir};
use support::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RELAY_KEY: &str = "rk-edge";

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "files.create"
method = "POST"
path = "/v1/files"
body = { accept = ["application/octet-stream"], max = "1KiB", idle_timeout = "300ms" }

# A route that reads the JSON body whole before sending (a transform).
[[route]]
id = "shaped"
method = "POST"
path = "/v1/shaped"
upstream_path = "/echo/shaped"
timeout = "2s"
body = { accept = ["application/json"], idle_timeout = "300ms" }
[[route.transforms]]
type = "json_fields"
set = { store = false }

[[route]]
id = "patient"
method = "POST"
path = "/v1/patient"
upstream_path = "/echo/patient"
body = { idle_timeout = "2s" }

[[route]]
id = "everything"
method = ["GET", "POST"]
path = "/v1/{*rest}"
upstream_path = "/{rest}"
timeout = "2s"
body = { idle_timeout = "300ms" }
"#;

fn assert_openai_error(response: &raw::Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string() && body["error"]["type"].is_string(), "{body}");
}

/// Sends a head with `Expect: 100-continue` and reads what comes back
/// before any body byte is sent: `100` or a final response.
async fn expecting(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> (Conn, u16) {
    let mut all = vec!["Expect: 100-continue"];
    all.extend_from_slice(headers);
    let mut conn = Conn::open(addr).await;
    conn.write(raw::head(method, path, &all).as_bytes()).await;
    let (status, headers) = conn.read_head().await;
    if status >= 200 {
        // Put the head back so that `read_response` sees the whole answer.
        let mut head = format!("HTTP/1.1 {status} X\r\n");
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        conn.buf.splice(0..0, head.into_bytes());
    }
    (conn, status)
}

#[actix_web::test]
async fn expect_100_continue_is_answered_only_after_route_auth_and_size_checks() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[("RELAY_KEYS", RELAY_KEY)]).await;
    let key = format!("X-Relay-Key: {RELAY_KEY}");
    let octets = "Content-Type: application/octet-stream";
    let refused: [(&str, Vec<&str>, u16, &str); 5] = [
        ("/v1/files", vec![octets, "Content-Length: 10"], 401, "invalid_relay_key"),
        ("/v1/files", vec![&key, octets, "Content-Length: 5000"], 413, "body_too_large"),
        ("/v1/files", vec![&key, "Content-Type: text/plain", "Content-Length: 10"], 415, "unsupported_media_type"),
        ("/v1/../files", vec![&key, octets, "Content-Length: 10"], 400, "invalid_path"),
        ("/nowhere", vec![&key, octets, "Content-Length: 10"], 404, "unknown_route"),
    ];
    let requests_before = upstream.requests().len();
    for (path, headers, status, code) in &refused {
        let (mut conn, first) = expecting(relay.addr, "POST", path, headers).await;
        assert_ne!(first, 100, "{path} {headers:?}: 100 Continue before the refusal");
        let response = conn.read_response().await;
        assert_openai_error(&response, *status, code);
        assert!(response.header("x-request-id").is_some(), "{:?}", response.headers);
        // The body was never sent; the connection is not left waiting for it.
        assert!(conn.closes_within(Duration::from_secs(5)).await, "{path}: the connection stays open");
    }
    assert_eq!(upstream.requests().len(), requests_before, "a refused request reached the upstream");

    // A request that passes gets `100 Continue`, then the answer.
    let (mut conn, first) = expecting(relay.addr, "POST", "/v1/files", &[&key, octets, "Content-Length: 10"]).await;
    assert_eq!(first, 100);
    conn.write(b"0123456789").await;
    let response = conn.read_response().await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(upstream.last().body, b"0123456789");

    // A GET too: an unknown path is refused before `100 Continue`...
    let (mut conn, first) = expecting(relay.addr, "GET", "/nowhere", &[&key, "Content-Length: 0"]).await;
    assert_ne!(first, 100);
    assert_openai_error(&conn.read_response().await, 404, "unknown_route");
    // ... and the relay's own answers, which are not routes, still answer.
    let (mut conn, first) = expecting(relay.addr, "GET", "/health", &["Content-Length: 0"]).await;
    assert_eq!(first, 100);
    let response = conn.read_response().await;
    assert_eq!((response.status, &response.json()["status"]), (200, &serde_json::json!("ok")));
}

/// Checks a raw answer: 408 `head_timeout` in the OpenAI shape.
fn assert_head_timeout(answer: &[u8], case: &str) {
    let text = String::from_utf8_lossy(answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{case}: {text:?}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let error: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{case}: {e}: {text:?}"));
    assert_eq!(error["error"]["code"], "head_timeout", "{case}: {error}");
    assert_eq!(error["error"]["type"], "invalid_request_error", "{case}: {error}");
}

async fn relay_with_head_timeout(upstream: &Upstream, dir: &std::path::Path) -> InProcess {
    let options = relay::server::Options {
        workers: Some(1),
        head_timeout: Some(Duration::from_millis(400)),
        ..Default::default()
    };
    InProcess::start_with(dir, &upstream.base_url(), &[], options).await
}

#[actix_web::test]
async fn a_slow_head_is_cut_at_the_head_timeout_on_every_request() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = relay_with_head_timeout(&upstream, dir.path()).await;
    let partials = ["", "GET /v1/models HTTP/1.1\r\n", "GET /v1/models HTTP/1.1\r\nHost: relay.test\r\nX-Slow: "];
    for (partial, earlier) in partials.iter().flat_map(|p| [(p, 0), (p, 1), (p, 2)]) {
        let case = format!("{partial:?} after {earlier} requests");
        let mut conn = Conn::open(relay.addr).await;
        // Kept-alive requests first: the head timer runs for each one.
        for _ in 0..earlier {
            conn.write(raw::head("GET", "/v1/models", &[]).as_bytes()).await;
            assert_eq!(conn.read_response().await.status, 200, "{case}");
        }
        let started = Instant::now();
        conn.write(partial.as_bytes()).await;
        // A byte every 100 ms never completes the head.
        let answer = trickle_until_answered(&mut conn, Duration::from_secs(5)).await;
        let elapsed = started.elapsed();
        assert_head_timeout(&answer, &case);
        assert!(elapsed < Duration::from_millis(1200), "{case}: cut after {elapsed:?}");
        assert!(conn.closes_within(Duration::from_secs(2)).await, "{case}: the connection stays open");
    }
}

#[actix_web::test]
async fn the_head_timer_leaves_bodies_answers_and_idle_connections_alone() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = relay_with_head_timeout(&upstream, dir.path()).await;
    let mut conn = Conn::open(relay.addr).await;
    conn.write(raw::head("GET", "/v1/models", &[]).as_bytes()).await;
    assert_eq!(conn.read_response().await.status, 200);
    // Idle between requests, longer than the head timeout: keep-alive's business.
    tokio::time::sleep(Duration::from_millis(900)).await;
    // A body with pauses longer than the head timeout (the route allows 2 s).
    conn.write(raw::head("POST", "/v1/patient", &["Content-Length: 6"]).as_bytes()).await;
    conn.write(b"abc").await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    conn.write(b"def").await;
    let response = conn.read_response().await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(upstream.last().body, b"abcdef");
    // An answer that streams for longer than the head timeout (about 1 s).
    conn.write(raw::head("GET", "/v1/sse-slow", &[]).as_bytes()).await;
    let response = conn.read_response().await;
    assert_eq!(response.status, 200);
    assert_eq!(String::from_utf8_lossy(&response.body).matches("data:").count(), 10);
    // And the connection still serves.
    conn.write(raw::head("GET", "/v1/models", &[]).as_bytes()).await;
    assert_eq!(conn.read_response().await.status, 200);

    // A refusal before `100 Continue` answers the head: no 408 follows it
    // while actix-http lingers before closing.
    let octets = "Content-Type: application/octet-stream";
    let (mut conn, first) = expecting(relay.addr, "POST", "/v1/files", &[octets, "Content-Length: 5000"]).await;
    assert_eq!(first, 413);
    assert_eq!(conn.read_response().await.status, 413);
    let rest = conn.read_to_close().await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[actix_web::test]
async fn relay_serve_takes_the_head_timeout_from_its_flag_and_environment() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let base = upstream.base_url();
    let env = [("OPENAI_BASE_URL", base.as_str()), ("OPENAI_API_KEY", "sk-test")];
    let by_flag = Process::start(dir.path(), &["--head-timeout", "300ms"], &env);
    let mut by_env_vars = env.to_vec();
    by_env_vars.push(("RELAY_HEAD_TIMEOUT", "300ms"));
    let by_env = Process::start(dir.path(), &[], &by_env_vars);
    for relay in [&by_flag, &by_env] {
        let mut conn = Conn::open(relay.addr).await;
        conn.write(b"GET /v1/models HTTP/1.1\r\n").await;
        let started = Instant::now();
        let rest = conn.read_to_close().await;
        assert_head_timeout(&rest, "relay serve");
        assert!(started.elapsed() < Duration::from_secs(5), "cut after {:?}", started.elapsed());
    }
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["serve", "--head-timeout", "0s", "--routes"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("longer than zero"), "{refused:?}");
}

#[actix_web::test]
async fn a_trickling_body_is_cut_at_the_route_timeout() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    // Streamed to the upstream: the route's `timeout` (2 s) bounds sending
    // the body and waiting for the answer: 504. Read whole by a transform:
    // the same `timeout` bounds reading it: 408.
    let cases = [
        ("/v1/echo/slow", "Content-Type: application/octet-stream", 504, "upstream_timeout"),
        ("/v1/shaped", "Content-Type: application/json", 408, "body_timeout"),
    ];
    for (path, content_type, status, code) in cases {
        let mut conn = Conn::open(relay.addr).await;
        conn.write(raw::head("POST", path, &[content_type, "Content-Length: 1000"]).as_bytes()).await;
        let started = Instant::now();
        // A byte every 100 ms: never idle for the route's 300 ms.
        let answer = trickle_until_answered(&mut conn, Duration::from_secs(8)).await;
        let elapsed = started.elapsed();
        let text = String::from_utf8_lossy(&answer).into_owned();
        assert!(elapsed < Duration::from_secs(4), "{path}: cut after {elapsed:?}: {text:?}");
        assert!(text.starts_with(&format!("HTTP/1.1 {status}")), "{path}: {text:?}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let error: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        assert_eq!(error["error"]["code"], code, "{error}");
        assert!(conn.closes_within(Duration::from_secs(5)).await, "{path}: the connection stays open");
    }
}

/// Writes a byte every 100 ms until the relay answers or closes (or
/// `limit` passes); returns what it answered.
async fn trickle_until_answered(conn: &mut Conn, limit: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = conn.stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return answer,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        // The head is in; give the body a moment, then stop.
                        let rest = tokio::time::timeout(Duration::from_millis(300), conn.stream.read(&mut buf)).await;
                        if let Ok(Ok(n)) = rest {
                            answer.extend_from_slice(&buf[..n]);
                        }
                        return answer;
                    }
                }
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let _ = conn.stream.write_all(b"x").await;
            }
            () = tokio::time::sleep_until(deadline) => return answer,
        }
    }
}

#[actix_web::test]
async fn heads_the_http_layer_refuses_get_the_openai_shape_and_a_closed_connection() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;

    // Up to actix-http's buffer (128 KiB) the relay answers itself.
    let pads: Vec<String> = (0..9).map(|i| format!("X-Pad-{i}: {}", "p".repeat(8 * 1024))).collect();
    let pads: Vec<&str> = pads.iter().map(String::as_str).collect();
    let response = raw::get(relay.addr, "/v1/models", &pads).await;
    assert_openai_error(&response, 431, "headers_too_large");

    // Beyond what actix-http parses, it answers before the relay sees the
    // request (with an empty body); the relay puts its own in its place.
    let many: Vec<String> = (0..120).map(|i| format!("X-Many-{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let huge = format!("X-Huge: {}", "h".repeat(140 * 1024));
    let cases: [(Vec<u8>, u16, &str); 5] = [
        (raw::head("GET", "/v1/models", &many).into_bytes(), 431, "headers_too_large"),
        (raw::head("GET", "/v1/models", &[&huge]).into_bytes(), 431, "headers_too_large"),
        (b"GET /v1/models HTTP/1.1 extra\r\n\r\n".to_vec(), 400, "invalid_http"),
        (b"GET /v1/models HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(), 400, "invalid_http"),
        (b"POST /v1/echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(), 400, "invalid_http"),
    ];
    for (request, status, code) in cases {
        let mut conn = Conn::open(relay.addr).await;
        let _ = conn.stream.write_all(&request).await;
        let response = conn.read_response().await;
        assert_openai_error(&response, status, code);
        assert!(conn.closes_within(Duration::from_secs(5)).await, "{status}: the connection stays open");
    }
    // The same on a kept-alive connection, after a request that was served.
    let mut conn = Conn::open(relay.addr).await;
    conn.write(raw::head("GET", "/v1/models", &[]).as_bytes()).await;
    assert_eq!(conn.read_response().await.status, 200);
    conn.write(b"GET /v1/models HTTP/1.1 extra\r\n\r\n").await;
    assert_openai_error(&conn.read_response().await, 400, "invalid_http");
    assert_eq!(upstream.requests().len(), 1, "a refused head reached the upstream");
}
