//! Streamed responses on real sockets: SSE events pass as they are sent, a
//! silent upstream ends the stream with an error event, a client that leaves
//! cancels the upstream request, and big downloads pass byte-exact in
//! bounded memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use support::raw::{self, Conn};
use support::relay::{InProcess, Process, SERVER_KEY, client, routes_dir};
use support::upstream::{Upstream, generated_byte};

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "everything"
method = ["GET", "POST"]
path = "/v1/{*rest}"
upstream_path = "/{rest}"

[[route]]
id = "impatient"
method = "GET"
path = "/impatient/{*rest}"
upstream_path = "/{rest}"
idle_timeout = "300ms"
"#;

/// Generous bound for anything that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(10);

/// Splits a response body into SSE events as its bytes arrive.
struct Events<S> {
    body: S,
    buf: String,
}

impl<S, E> Events<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Debug,
{
    fn new(body: S) -> Self {
        Events { body, buf: String::new() }
    }

    /// The next complete event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                return Some(self.buf.drain(..at + 2).collect());
            }
            let chunk = tokio::time::timeout(PATIENCE, self.body.next()).await.expect("an event within 10 s")?;
            self.buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    }
}

async fn wait_for_drop(upstream: &Upstream, key: &str) -> Instant {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(at) = upstream.dropped_at(key) {
            return at;
        }
        assert!(Instant::now() < deadline, "the upstream stream {key} was never dropped");
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

#[actix_web::test]
async fn an_event_reaches_the_client_before_the_next_is_sent() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let response = client().get(relay.url("/v1/gated/g1")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("content-type").unwrap(), "text/event-stream");
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-cache");
    let mut events = Events::new(response);
    // The upstream holds event 1 back until the client has event 0: a relay
    // that buffered would never deliver it.
    assert_eq!(events.next().await.unwrap(), "event: tick\ndata: {\"n\":0}\n\n");
    upstream.open_gate("g1");
    assert_eq!(events.next().await.unwrap(), "event: tick\ndata: {\"n\":1}\n\n");
    assert_eq!(events.next().await.unwrap(), "event: tick\ndata: {\"n\":2}\n\n");
    assert_eq!(events.next().await, None);
}

#[actix_web::test]
async fn each_event_arrives_before_the_upstream_sends_the_next() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let response = client().get(relay.url("/v1/timed/t1")).send().await.unwrap();
    let mut events = Events::new(response);
    let mut received = Vec::new();
    while let Some(event) = events.next().await {
        assert_eq!(event, format!("event: tick\ndata: {{\"n\":{}}}\n\n", received.len()));
        received.push(Instant::now());
    }
    let sent = upstream.sent_at("t1");
    assert_eq!((received.len(), sent.len()), (4, 4));
    // Causal, not a speed limit: the upstream waits 300 ms between events.
    for i in 0..3 {
        assert!(received[i] < sent[i + 1], "event {i} arrived after event {} was sent", i + 1);
    }
}

#[actix_web::test]
async fn a_silent_upstream_ends_the_stream_with_an_error_event() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let response = client().get(relay.url("/impatient/quiet/idle")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut events = Events::new(response);
    assert_eq!(events.next().await.unwrap(), "event: tick\ndata: {\"n\":0}\n\n");
    let error = events.next().await.expect("an error event after 300 ms of silence");
    let data = error.strip_prefix("event: error\ndata: ").unwrap_or_else(|| panic!("not an error event: {error:?}"));
    let body: serde_json::Value = serde_json::from_str(data.trim_end()).unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert!(body["error"]["message"].as_str().unwrap().contains("300ms"), "{body}");
    assert!(body["error"].get("param").is_some());
    assert_eq!(events.next().await, None, "the stream ends after the error event");
    wait_for_drop(&upstream, "idle").await;
}

#[actix_web::test]
async fn a_client_that_leaves_cancels_the_upstream_request() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    // A quiet upstream (nothing to write that could fail) and a chatty one.
    for (kind, key) in [("quiet", "left-quiet"), ("ticks", "left-ticks")] {
        let mut conn = Conn::open(relay.addr).await;
        conn.write(raw::head("GET", &format!("/v1/{kind}/{key}"), &[]).as_bytes()).await;
        assert_eq!(conn.read_head().await.0, 200);
        conn.read_until(b"data: {\"n\":0}").await;
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        assert!(upstream.dropped_at(key).is_none(), "{key} ended while the client was still there");
        let left = Instant::now();
        drop(conn);
        let dropped = wait_for_drop(&upstream, key).await;
        assert!(
            dropped.duration_since(left) < Duration::from_secs(1),
            "{key}: the upstream stream lived {:?} after the client left",
            dropped.duration_since(left)
        );
    }
}

#[actix_web::test]
async fn a_short_upstream_body_is_not_passed_off_as_complete() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let mut conn = Conn::open(relay.addr).await;
    conn.write(raw::head("GET", "/v1/short/200000", &[]).as_bytes()).await;
    let (status, headers) = conn.read_head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".into(), "200000".into())), "{headers:?}");
    let body = conn.read_to_close().await;
    assert!(body.len() < 200_000, "the relay closed the connection instead of completing the body");
}

/// Checks a download against the generator while it streams; returns its length.
async fn check_download<S, E>(mut body: S) -> u64
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Debug,
{
    // byte i is i % 251: any piece is a slice of this cycle.
    let cycle: Vec<u8> = (0..251 * 264).map(generated_byte).collect();
    let mut offset = 0u64;
    while let Some(chunk) = tokio::time::timeout(PATIENCE, body.next()).await.expect("data within 10 s") {
        for piece in chunk.unwrap().chunks(64 * 1024) {
            let start = (offset % 251) as usize;
            assert!(piece == &cycle[start..start + piece.len()], "bytes differ in {} bytes at {offset}", piece.len());
            offset += piece.len() as u64;
        }
    }
    offset
}

#[actix_web::test]
async fn a_chunked_download_passes_byte_exact() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let size = 8 * 1024 * 1024 + 17;
    let response = client().get(relay.url(&format!("/v1/big-chunked/{size}"))).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers().get("transfer-encoding").unwrap(), "chunked");
    assert_eq!(check_download(response).await, size);
}

#[actix_web::test]
async fn a_64_mib_download_streams_byte_exact_in_bounded_memory() {
    let upstream = Upstream::start().await;
    let routes = Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d");
    let base = upstream.base_url();
    let relay = Process::start(&routes, &[], &[("OPENAI_BASE_URL", base.as_str()), ("OPENAI_API_KEY", SERVER_KEY)]);
    // Warm up: the worker, its client and its buffers.
    for _ in 0..3 {
        let response = client().get(relay.url("/v1/files/big-1048576/content")).send().await.unwrap();
        assert_eq!(check_download(response).await, 1 << 20);
    }
    let before = relay.memory_kb("VmHWM");

    let size: u64 = 64 * 1024 * 1024;
    let response = client().get(relay.url(&format!("/v1/files/big-{size}/content"))).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("content-length").unwrap().to_str().unwrap(), size.to_string());
    assert_eq!(check_download(response).await, size);

    let growth_kb = relay.memory_kb("VmHWM").saturating_sub(before);
    assert!(growth_kb < 40 * 1024, "the relay's peak RSS grew by {growth_kb} kB for a 64 MiB download");
    assert_eq!(upstream.last().header("authorization"), Some(format!("Bearer {SERVER_KEY}").as_str()));
}
