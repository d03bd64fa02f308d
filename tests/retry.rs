//! Retries against a flaky upstream on loopback: how many attempts the
//! upstream sees, and what the client finally gets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use support::relay::{InProcess, client, routes_dir};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[[route]]
id = "flaky.get"
method = ["GET", "POST", "PUT"]
path = "/v1/flaky/{key}/{n}"
retry = { attempts = 3, base = "10ms", max = "100ms", on_status = [503] }

[[route]]
id = "flaky.post"
method = "POST"
path = "/v1/post-ok/flaky/{key}/{n}"
upstream_path = "/flaky/{key}/{n}"
retry = { attempts = 3, base = "10ms", max = "100ms", allow_post = true }
"#;

async fn setup() -> (Upstream, InProcess, tempfile::TempDir) {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    (upstream, relay, dir)
}

#[actix_web::test]
async fn a_get_is_retried_until_it_succeeds() {
    let (upstream, relay, _dir) = setup().await;
    let mut response = client().get(relay.url("/v1/flaky/a/2")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["attempt"], 3);
    assert_eq!(upstream.attempts("a"), 3);
}

#[actix_web::test]
async fn the_last_failure_is_returned_unchanged_after_the_attempts() {
    let (upstream, relay, _dir) = setup().await;
    let mut response = client().get(relay.url("/v1/flaky/b/5")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").unwrap(), "0");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "try again");
    assert_eq!(upstream.attempts("b"), 3, "attempts = 3 in all");
}

#[actix_web::test]
async fn post_is_sent_once_unless_the_route_opts_in() {
    let (upstream, relay, _dir) = setup().await;
    let response = client().post(relay.url("/v1/flaky/c/1")).send_json(&serde_json::json!({"a": 1})).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(upstream.attempts("c"), 1);

    // Opted in: the small JSON body is replayed byte for byte.
    let body = serde_json::json!({"input": "same every time"});
    let response = client().post(relay.url("/v1/post-ok/flaky/d/2")).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(upstream.attempts("d"), 3);
    let bodies: Vec<Vec<u8>> =
        upstream.requests().into_iter().filter(|r| r.target.contains("/flaky/d/")).map(|r| r.body).collect();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| serde_json::from_slice::<serde_json::Value>(b).unwrap() == body));
}

#[actix_web::test]
async fn a_streamed_upload_is_never_replayed() {
    let (upstream, relay, _dir) = setup().await;
    let chunks = vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"--b\r\n")),
        Ok(bytes::Bytes::from_static(b"data\r\n--b--\r\n")),
    ];
    let response = client()
        .post(relay.url("/v1/post-ok/flaky/e/1"))
        .insert_header(("content-type", "multipart/form-data; boundary=b"))
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(upstream.attempts("e"), 1);
}

#[actix_web::test]
async fn a_success_is_sent_once() {
    let (upstream, relay, _dir) = setup().await;
    let response = client().put(relay.url("/v1/flaky/f/0")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(upstream.attempts("f"), 1);
}
