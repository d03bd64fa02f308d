//! Upstream framing on real sockets: an upstream on a raw socket sends
//! what ordinary servers would not (a length beside a transfer coding, a
//! body shorter than its length, a chunked body without its end), and the
//! relay must neither truncate silently nor desync the client's connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::raw::{self, Conn};
use support::relay::{InProcess, routes_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream on a raw socket: answers every request head it reads on a
/// connection with `answer`, then closes if `close`.
async fn raw_upstream(answer: &'static [u8], close: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..at + 4);
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                        if close {
                            return;
                        }
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    addr
}

const PROXY_ROUTES: &str = r#"
[upstream.raw]
base_url = "${RAW_BASE_URL}"

[[route]]
id = "raw"
method = "GET"
path = "/v1/{*rest}"
upstream = "raw"
upstream_path = "/{rest}"
idle_timeout = "500ms"
"#;

async fn relay_in_front_of(upstream: SocketAddr) -> (InProcess, tempfile::TempDir) {
    let dir = routes_dir(PROXY_ROUTES);
    let base = format!("http://{upstream}/v1");
    let relay = InProcess::start(dir.path(), &base, &[("RAW_BASE_URL", &base)]).await;
    (relay, dir)
}

#[actix_web::test]
async fn a_length_beside_a_transfer_encoding_is_dropped_and_the_body_kept_whole() {
    const BODY: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    // The length says 5 (or 100); the chunked body is 26 bytes.
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabcdefghijklmnop\r\na\r\nqrstuvwxyz\r\n0\r\n\r\n"[..],
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"[..],
    ] {
        let upstream = raw_upstream(answer, false).await;
        let (relay, _dir) = relay_in_front_of(upstream).await;
        let mut conn = Conn::open(relay.addr).await;
        // Two requests on one connection: the second is read in sync.
        for _ in 0..2 {
            conn.write(raw::head("GET", "/v1/both", &[]).as_bytes()).await;
            let response = conn.read_response().await;
            assert_eq!(response.status, 200);
            assert_eq!(response.body, BODY, "{:?}", String::from_utf8_lossy(&response.body));
            assert_eq!(response.header("content-length"), None, "{:?}", response.headers);
        }
        relay.stop().await;
    }
}

const CUT: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n";

/// awc reports the end of the connection inside a chunked body as the end
/// of the body; the relay tells the two apart (`upstream::eof`) and cuts its
/// own answer instead of ending it cleanly: the client's connection closes
/// without the last chunk (or before any head, when the cut came first).
#[actix_web::test]
async fn a_chunked_body_cut_by_a_close_is_not_passed_off_as_complete() {
    let upstream = raw_upstream(CUT, true).await;
    let (relay, _dir) = relay_in_front_of(upstream).await;
    let mut conn = Conn::open(relay.addr).await;
    conn.write(raw::head("GET", "/v1/cut", &[]).as_bytes()).await;
    let answer = conn.read_to_close().await;
    if !answer.is_empty() {
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&answer));
    }
    assert!(
        !answer.ends_with(b"0\r\n\r\n"),
        "a chunked body that looks complete: {:?}",
        String::from_utf8_lossy(&answer)
    );
    relay.stop().await;
}

/// A whole chunked body followed by the upstream's close is whole: the
/// check looks for an end of file inside the body, not after it.
#[actix_web::test]
async fn a_whole_chunked_body_then_a_close_is_passed_on_whole() {
    const WHOLE: &[u8] =
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n";
    let upstream = raw_upstream(WHOLE, true).await;
    let (relay, _dir) = relay_in_front_of(upstream).await;
    for _ in 0..3 {
        let mut conn = Conn::open(relay.addr).await;
        conn.write(raw::head("GET", "/v1/whole", &[]).as_bytes()).await;
        let response = conn.read_response().await;
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"abcde", "{:?}", String::from_utf8_lossy(&response.body));
    }
    relay.stop().await;
}

/// The same cut in an event stream ends it with an `error` event after the
/// events that did arrive.
#[actix_web::test]
async fn an_event_stream_cut_by_a_close_ends_with_an_error_event() {
    const CUT_SSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n10\r\ndata: {\"n\": 1}\n\n\r\n";
    let upstream = raw_upstream(CUT_SSE, true).await;
    let (relay, _dir) = relay_in_front_of(upstream).await;
    let mut conn = Conn::open(relay.addr).await;
    conn.write(raw::head("GET", "/v1/events", &[]).as_bytes()).await;
    let (status, _) = conn.read_head().await;
    assert_eq!(status, 200);
    // The relay's own answer ends cleanly: the error event is its last word.
    let body = String::from_utf8_lossy(&conn.read_until(b"0\r\n\r\n").await).into_owned();
    let (first, error) = (body.find("data: {\"n\": 1}"), body.find("event: error"));
    assert!(first.is_some() && error.is_some() && first < error, "{body:?}");
    assert!(body.contains("closed it inside a chunked body"), "{body:?}");
    relay.stop().await;
}

#[actix_web::test]
async fn a_body_shorter_than_its_length_is_not_passed_off_as_complete() {
    // The upstream declares 100 bytes and sends 50, then closes or goes quiet.
    const SHORT: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n01234567890123456789012345678901234567890123456789";
    // Or sends a chunked body without its last chunk, then goes quiet.
    for (answer, close) in [(SHORT, true), (SHORT, false), (CUT, false)] {
        let upstream = raw_upstream(answer, close).await;
        let (relay, _dir) = relay_in_front_of(upstream).await;
        let mut conn = Conn::open(relay.addr).await;
        conn.write(raw::head("GET", "/v1/short", &[]).as_bytes()).await;
        let started = Instant::now();
        let answer = conn.read_to_close().await;
        // The client can tell: the connection closes before the declared
        // length is reached, or before any answer at all when the upstream
        // failed before the relay's head went out.
        if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..at]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let body = &answer[at + 4..];
            match head.split("content-length: ").nth(1).and_then(|rest| rest.lines().next()) {
                Some(length) => {
                    let length: usize = length.trim().parse().unwrap();
                    assert!(body.len() < length, "close {close}: {} of {length} bytes", body.len());
                }
                None => assert!(!body.ends_with(b"0\r\n\r\n"), "close {close}: a chunked body that looks complete"),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5), "close {close}: the client waited {:?}", started.elapsed());
        relay.stop().await;
    }
}
