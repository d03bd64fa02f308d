//! Request body limits on the wire: a body that is too big, of the wrong
//! type or too slow is refused with the right status, the upstream never gets
//! a complete body, and the connection is closed rather than left waiting
//! for the rest. Written raw, so the client never blocks on its own body.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::time::{Duration, Instant};

use support::raw::{self, Conn};
use support::relay::{InProcess, routes_dir};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[[route]]
id = "small"
method = "POST"
path = "/v1/small"
body = { accept = ["application/json"], max = "1KiB", idle_timeout = "300ms" }

# The same limits where a transform reads the body itself.
[[route]]
id = "shaped"
method = "POST"
path = "/v1/shaped"
body = { accept = ["application/json"], max = "1KiB", idle_timeout = "300ms" }
[[route.transforms]]
type = "json_fields"
set = { store = false }
"#;

fn post(headers: &[&str]) -> Vec<u8> {
    post_to("/v1/small", headers)
}

fn post_to(path: &str, headers: &[&str]) -> Vec<u8> {
    let mut all = vec!["Content-Type: application/json"];
    all.extend_from_slice(headers);
    raw::head("POST", path, &all).into_bytes()
}

fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn assert_error(response: &raw::Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    for key in ["message", "type", "param"] {
        assert!(body["error"].get(key).is_some(), "no {key} in {body}");
    }
}

#[actix_web::test]
async fn too_big_bodies_get_413_before_or_while_streaming() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(3000));

    // Content-Length above the limit: refused from the head alone.
    let mut conn = Conn::open(relay.addr).await;
    conn.write(&post(&["Content-Length: 3012"])).await;
    let response = conn.read_response().await;
    assert_error(&response, 413, "body_too_large");
    assert!(conn.closes_within(Duration::from_secs(5)).await, "the unread body leaves the connection unusable");

    // Chunked: the limit is crossed while the body streams.
    let mut conn = Conn::open(relay.addr).await;
    conn.write(&[post(&["Transfer-Encoding: chunked"]), chunked(big.as_bytes(), 100)].concat()).await;
    let response = conn.read_response().await;
    assert_error(&response, 413, "body_too_large");
    // The rest of the body is never taken for a request: the connection is
    // either closed, or (the body having arrived whole) serves the next one.
    if response.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
        assert!(conn.closes_within(Duration::from_secs(5)).await);
    } else {
        conn.write(&[post(&["Content-Length: 2"]), b"{}".to_vec()].concat()).await;
        assert_eq!(conn.read_response().await.status, 200);
    }

    // Exactly at the limit passes, chunked or not.
    let fits = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 - 10));
    assert_eq!(fits.len(), 1024);
    let sized = [post(&["Content-Length: 1024"]), fits.clone().into_bytes()].concat();
    assert_eq!(raw::exchange(relay.addr, &sized).await.status, 200);
    let streamed = [post(&["Transfer-Encoding: chunked"]), chunked(fits.as_bytes(), 100)].concat();
    assert_eq!(raw::exchange(relay.addr, &streamed).await.status, 200);
    let complete: Vec<usize> = upstream.requests().iter().map(|r| r.body.len()).filter(|&n| n != 2).collect();
    assert_eq!(complete, [1024, 1024], "only the bodies within the limit reached the upstream whole");
}

#[actix_web::test]
async fn a_wrong_content_type_gets_415_without_contacting_the_upstream() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    for content_type in ["text/plain", "application/jsonp", "multipart/form-data; boundary=x"] {
        let request = raw::head("POST", "/v1/small", &[&format!("Content-Type: {content_type}"), "Content-Length: 2"]);
        let response = raw::exchange(relay.addr, &[request.as_bytes(), b"{}"].concat()).await;
        assert_error(&response, 415, "unsupported_media_type");
        assert_eq!(response.json()["error"]["param"], "content-type");
    }
    let request = raw::head("POST", "/v1/small", &["Content-Length: 2"]);
    assert_error(
        &raw::exchange(relay.addr, &[request.as_bytes(), b"{}"].concat()).await,
        415,
        "unsupported_media_type",
    );
    let request =
        raw::head("POST", "/v1/small", &["Content-Type: Application/JSON; charset=utf-8", "Content-Length: 2"]);
    assert_eq!(raw::exchange(relay.addr, &[request.as_bytes(), b"{}"].concat()).await.status, 200);
    assert_eq!(upstream.requests().len(), 1);

    // Refused with the body still coming: the connection is not kept
    // waiting for the rest.
    let mut conn = Conn::open(relay.addr).await;
    conn.write(
        &[
            raw::head("POST", "/v1/small", &["Content-Type: text/plain", "Transfer-Encoding: chunked"]).into_bytes(),
            b"5\r\nhello\r\n".to_vec(),
        ]
        .concat(),
    )
    .await;
    assert_error(&conn.read_response().await, 415, "unsupported_media_type");
    assert!(conn.closes_within(Duration::from_secs(5)).await, "the connection waits for the rest of the body");
}

#[actix_web::test]
async fn a_client_that_stops_sending_gets_408_and_is_disconnected() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let partial: [(&[&str], &[u8]); 2] =
        [(&["Content-Length: 100"], b"{\"a\":"), (&["Transfer-Encoding: chunked"], b"5\r\n{\"a\":\r\n")];
    for ((headers, start), path) in partial.iter().flat_map(|case| [(case, "/v1/small"), (case, "/v1/shaped")]) {
        let mut conn = Conn::open(relay.addr).await;
        conn.write(&[post_to(path, headers), start.to_vec()].concat()).await;
        let started = Instant::now();
        let response = conn.read_response().await;
        assert_error(&response, 408, "body_timeout");
        assert!(started.elapsed() >= Duration::from_millis(250), "answered before the idle timeout");
        // Without a close, actix would wait for the rest of a chunked body
        // with no timer at all.
        assert!(conn.closes_within(Duration::from_secs(5)).await, "{path} {headers:?}: the connection stays open");
    }
    assert!(upstream.requests().iter().all(|r| r.body.len() < 100), "no complete body went upstream");
}
