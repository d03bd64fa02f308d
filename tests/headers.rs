//! The header policy on real sockets: what the upstream receives, byte for
//! byte, when a client sends hop-by-hop headers, credentials, spoofed
//! forwarding headers and request ids; and which upstream response headers
//! come back. Requests are written raw, so nothing is normalised on the way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use support::raw::{self, Conn};
use support::relay::{InProcess, SERVER_KEY, client, routes_dir};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "everything"
method = ["GET", "POST"]
path = "/v1/{*rest}"
upstream_path = "/{rest}"
"#;

/// Headers a client may send that must never reach the upstream.
const HOP_BY_HOP: [&str; 9] = [
    "Connection: keep-alive, X-Secret, Authorization, X-Forwarded-For, X-Request-Id",
    "Keep-Alive: timeout=5, max=100",
    "TE: trailers",
    "Trailer: X-Checksum",
    "Upgrade: h2c",
    "Proxy-Authorization: Basic dXNlcjpwYXNz",
    "Proxy-Connection: keep-alive",
    "X-Secret: hunter2",
    "Forwarded: for=6.6.6.6;proto=https",
];

#[actix_web::test]
async fn the_upstream_gets_exactly_the_allowed_headers() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let mut headers = HOP_BY_HOP.to_vec();
    headers.extend([
        "Authorization: Bearer sk-client-must-not-leak",
        "X-Relay-Key: rk-client",
        "X-Forwarded-For: 6.6.6.6",
        "X-Request-Id: client-req-42",
        "OpenAI-Beta: assistants=v2",
        "X-Custom: kept",
        "X-Custom: twice",
    ]);
    let response = raw::get(relay.addr, "/v1/models?beta=true", &headers).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("x-request-id"), Some("client-req-42"), "the client's id comes back");

    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/models?beta=true");
    let mut names: Vec<&str> = seen.headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    // Nothing else: no hop-by-hop header, no client credential, no
    // `Accept-Encoding` or `Content-Length: 0` from awc. Only `Date` is added
    // (actix-http writes it on every message; RFC 9110 allows it).
    assert_eq!(
        names,
        ["authorization", "date", "host", "openai-beta", "traceparent", "x-custom", "x-forwarded-for", "x-request-id"],
        "{:?}",
        seen.headers
    );
    // Listing them in `Connection` does not remove what the relay sets.
    assert_eq!(seen.header_values("authorization"), [format!("Bearer {SERVER_KEY}")]);
    assert_eq!(seen.header_values("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.header_values("x-request-id"), ["client-req-42"]);
    assert_eq!(seen.header_values("host"), [upstream.addr.to_string()]);
    assert_eq!(seen.header_values("x-custom"), ["kept", "twice"], "repeated headers keep their order");
    assert_eq!(seen.header("openai-beta"), Some("assistants=v2"));
}

#[actix_web::test]
async fn a_body_keeps_its_length_and_no_framing_header_is_copied() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let body = br#"{"model":"gpt-test","input":"hi"}"#;
    let head = raw::head(
        "POST",
        "/v1/responses",
        &[&format!("Content-Length: {}", body.len()), "Content-Type: application/json", "Connection: keep-alive"],
    );
    let response = raw::exchange(relay.addr, &[head.as_bytes(), body].concat()).await;
    assert_eq!(response.status, 200);
    let seen = upstream.last();
    assert_eq!(seen.body, body);
    assert_eq!(seen.header_values("content-length"), [body.len().to_string()]);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert!(seen.header("transfer-encoding").is_none() && seen.header("connection").is_none(), "{:?}", seen.headers);

    // Chunked in, chunked out: one Transfer-Encoding, the relay's own.
    let head = raw::head(
        "POST",
        "/v1/responses",
        &["Transfer-Encoding: chunked", "Content-Type: application/json", "TE: trailers"],
    );
    let chunked = [head.as_bytes(), b"5\r\n{\"a\":\r\n3\r\n\"b\"\r\n1\r\n}\r\n0\r\n\r\n"].concat();
    let response = raw::exchange(relay.addr, &chunked).await;
    assert_eq!(response.status, 200);
    let seen = upstream.last();
    assert_eq!(seen.body, br#"{"a":"b"}"#);
    assert_eq!(seen.header_values("transfer-encoding"), ["chunked"]);
    assert!(seen.header("content-length").is_none() && seen.header("te").is_none(), "{:?}", seen.headers);

    // No body: `Content-Length: 0` goes up only if the client sent it.
    let head = raw::head("POST", "/v1/responses/resp_1/cancel", &["Content-Length: 0"]);
    assert_eq!(raw::exchange(relay.addr, head.as_bytes()).await.status, 200);
    assert_eq!(upstream.last().header_values("content-length"), ["0"]);
    assert_eq!(raw::get(relay.addr, "/v1/models", &[]).await.status, 200);
    let seen = upstream.last();
    assert!(seen.header("content-length").is_none() && seen.header("transfer-encoding").is_none());
}

#[actix_web::test]
async fn a_missing_or_unusable_request_id_is_replaced() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let long = format!("X-Request-Id: {}", "a".repeat(200));
    let cases: [&[&str]; 4] = [&[], &["X-Request-Id: has space"], &["X-Request-Id: semi;colon"], &[&long]];
    let mut ids = Vec::new();
    for headers in cases {
        let response = raw::get(relay.addr, "/v1/models", headers).await;
        assert_eq!(response.status, 200);
        let sent = upstream.last().header("x-request-id").unwrap().to_owned();
        assert!(sent.starts_with("relay-") && sent.len() == 38, "{headers:?} gave {sent}");
        assert_eq!(response.header("x-request-id"), Some(sent.as_str()), "the client learns the id");
        ids.push(sent);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every request gets its own id");
}

#[actix_web::test]
async fn hop_by_hop_response_headers_stay_behind() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let response = raw::get(relay.addr, "/v1/hop-headers", &["X-Request-Id: mine"]).await;
    assert_eq!(response.status, 200);
    for name in ["keep-alive", "proxy-authenticate", "trailer"] {
        assert!(response.header(name).is_none(), "{name} came back: {:?}", response.headers);
    }
    assert_eq!(response.header("x-kept"), Some("yes"));
    assert_eq!(upstream.last().header("x-request-id"), Some("mine"));
    assert_eq!(response.header("x-request-id"), Some("req-from-upstream"), "the upstream's own id is kept");
}

#[actix_web::test]
async fn sixty_kib_of_upstream_response_headers_pass() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let mut response = client().get(relay.url("/v1/big-headers")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let big = response.headers().get("x-big").expect("the big header arrives");
    assert_eq!(big.as_bytes(), "b".repeat(60 * 1024).as_bytes());
    assert_eq!(response.body().await.unwrap().as_ref(), b"{}");

    // The raw view: the same bytes on the wire.
    let raw = raw::get(relay.addr, "/v1/big-headers", &[]).await;
    assert_eq!(raw.header("x-big").map(str::len), Some(60 * 1024));
}

#[actix_web::test]
async fn expect_100_continue_uploads_work() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let body = vec![b'x'; 100_000];
    let mut conn = Conn::open(relay.addr).await;
    let head = raw::head(
        "POST",
        "/v1/files",
        &["Content-Type: application/octet-stream", "Content-Length: 100000", "Expect: 100-continue"],
    );
    conn.write(head.as_bytes()).await;
    // curl waits up to a second for `100 Continue`; a relay must send one.
    let (status, _) = conn.read_head().await;
    assert_eq!(status, 100);
    conn.write(&body).await;
    let response = conn.read_response().await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let seen = upstream.last();
    assert_eq!(seen.body, body);
    // The handshake is done with the client; the upstream gets the body
    // without having to answer `100 Continue` first.
    assert!(seen.header("expect").is_none(), "{:?}", seen.headers);

    // An expectation with an empty body is no reason to fail.
    let head = raw::head("POST", "/v1/files", &["Content-Length: 0", "Expect: 100-continue"]);
    let response = raw::exchange(relay.addr, head.as_bytes()).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
}

#[actix_web::test]
async fn a_trace_is_continued_or_started() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let headers = [format!("traceparent: {given}"), "tracestate: vendor=abc".to_owned()];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    assert_eq!(raw::get(relay.addr, "/v1/models", &headers).await.status, 200);
    let seen = upstream.last();
    assert_eq!((seen.header("traceparent"), seen.header("tracestate")), (Some(given), Some("vendor=abc")));

    assert_eq!(raw::get(relay.addr, "/v1/models", &["traceparent: 00-bogus-01"]).await.status, 200);
    let started = upstream.last().header("traceparent").unwrap().to_owned();
    let parts: Vec<&str> = started.split('-').collect();
    assert_eq!((parts.len(), parts[0], parts[1].len(), parts[2].len(), parts[3]), (4, "00", 32, 16, "01"), "{started}");
    assert_ne!(started, given);
}
