//! `/v1/proxy` of the shipped `routes.d/` keeps the contract of the replaced
//! FastAPI Actions relay, on real sockets: paths with and without `/v1`, the
//! inner body under `body`, `json` or `payload`, list and `null` query
//! values, every allowlisted pair of that relay, 403 for admin, internal and
//! unlisted paths, and 400 naming `path` for a path that cannot be sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use serde_json::{Value, json};
use support::relay::{InProcess, client};
use support::upstream::Upstream;

/// Sends an envelope; the status and the JSON answer.
async fn send(relay: &InProcess, envelope: &Value) -> (u16, Value) {
    let mut response = client().post(relay.url("/v1/proxy")).send_json(envelope).await.unwrap();
    let status = response.status().as_u16();
    let body = response.body().limit(1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn paths_go_out_with_or_without_v1_and_methods_in_any_case() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    for (method, path) in [("GET", "/v1/files/file-abc"), ("get", "/files/file-abc"), ("Get", "/v1/models")] {
        let (status, answer) = send(&relay, &json!({"method": method, "path": path})).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        let seen = upstream.last();
        let expected = format!("/v1{}", path.trim_start_matches("/v1"));
        assert_eq!((seen.method.as_str(), seen.target.as_str()), ("GET", expected.as_str()));
        assert_eq!(seen.header("authorization"), Some("Bearer sk-server-test"));
    }
    // The envelope's schema names the missing field by its JSON pointer.
    let (status, answer) = send(&relay, &json!({"path": "/v1/models"})).await;
    assert_eq!((status, &answer["error"]["param"]), (400, &json!("/method")), "{answer}");
}

#[actix_web::test]
async fn the_body_may_be_named_body_json_or_payload_but_only_once() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let inner = json!({"model": "text-embedding-3-small", "input": "hi"});
    for name in ["body", "json", "payload"] {
        let (status, answer) =
            send(&relay, &json!({"method": "POST", "path": "/v1/embeddings", name: inner.clone()})).await;
        assert_eq!(status, 200, "{name}: {answer}");
        let seen = upstream.last();
        assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/embeddings"), "{name}");
        assert_eq!(serde_json::from_slice::<Value>(&seen.body).unwrap(), inner, "{name}");
        assert_eq!(seen.header("content-type"), Some("application/json"), "{name}");
    }
    let before = upstream.requests().len();
    let both = json!({"method": "POST", "path": "/v1/embeddings", "json": inner.clone(), "payload": inner});
    let (status, answer) = send(&relay, &both).await;
    assert_eq!((status, &answer["error"]["param"]), (400, &json!("body")), "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("`json`") && message.contains("`payload`"), "{message}");
    assert_eq!(upstream.requests().len(), before, "nothing went upstream");
}

#[actix_web::test]
async fn list_query_values_repeat_the_key_and_nulls_are_skipped() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    // Keys in alphabetical order, so the expectation holds whatever order
    // the JSON map keeps.
    let query = json!({"after": null, "include": ["a b", null, "c"], "limit": 2, "order": "desc"});
    let (status, answer) = send(&relay, &json!({"method": "GET", "path": "/v1/files", "query": query})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(upstream.last().target, "/v1/files?include=a%20b&include=c&limit=2&order=desc");
}

/// Every (method, path) pair the replaced relay allowed, with sample ids.
const REPLACED_ALLOWLIST: &[(&str, &str)] = &[
    ("POST", "/v1/responses"),
    ("GET", "/v1/responses/resp_1"),
    ("DELETE", "/v1/responses/resp_1"),
    ("POST", "/v1/responses/resp_1/cancel"),
    ("POST", "/v1/embeddings"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/gpt-test"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/file-abc"),
    ("DELETE", "/v1/files/file-abc"),
    ("GET", "/v1/vector_stores"),
    ("POST", "/v1/vector_stores"),
    ("GET", "/v1/vector_stores/vs_1"),
    ("POST", "/v1/vector_stores/vs_1"),
    ("DELETE", "/v1/vector_stores/vs_1"),
    ("GET", "/v1/containers"),
    ("POST", "/v1/containers"),
    ("GET", "/v1/containers/cntr_1"),
    ("POST", "/v1/containers/cntr_1"),
    ("DELETE", "/v1/containers/cntr_1"),
    ("POST", "/v1/conversations"),
    ("GET", "/v1/conversations/conv_1"),
    ("DELETE", "/v1/conversations/conv_1"),
    ("GET", "/v1/batches"),
    ("POST", "/v1/batches"),
    ("GET", "/v1/batches/batch_1"),
    ("POST", "/v1/batches/batch_1/cancel"),
    ("GET", "/v1/videos"),
    ("GET", "/v1/videos/video_1"),
    ("DELETE", "/v1/videos/video_1"),
    ("POST", "/v1/videos/video_1/remix"),
];

#[actix_web::test]
async fn every_pair_of_the_replaced_allowlist_reaches_the_upstream() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let mut failures = Vec::new();
    for (method, path) in REPLACED_ALLOWLIST {
        let before = upstream.requests().len();
        let body = if *method == "POST" { json!({"x": 1}) } else { Value::Null };
        let (status, answer) = send(&relay, &json!({"method": method, "path": path, "body": body})).await;
        let reached = upstream.requests().len() == before + 1 && {
            let seen = upstream.last();
            seen.method == *method && seen.target == *path
        };
        if !reached || answer["error"]["code"] == "path_not_allowed" {
            failures.push(format!("{method} {path}: {status} {answer}"));
        }
    }
    assert!(failures.is_empty(), "not forwarded:\n{}", failures.join("\n"));
}

#[actix_web::test]
async fn admin_internal_and_unlisted_paths_get_403_and_bad_paths_400() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let forbidden = [
        ("GET", "/v1/admin/keys"),
        ("GET", "/admin"),
        ("GET", "/internal/x"),
        ("POST", "/v1/internal/x"),
        ("GET", "/v1/organization/users"),
        ("GET", "/v1/fine_tuning/jobs"),
        ("GET", "/v1/evals"),
        ("POST", "/v1/uploads"),
        ("POST", "/v1/files"),
        ("GET", "/v1/files/file-abc/content"),
        ("GET", "/v1/videos/video_1/content"),
        ("PATCH", "/v1/models"),
    ];
    for (method, path) in forbidden {
        let (status, answer) = send(&relay, &json!({"method": method, "path": path})).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["param"], "path");
        assert_eq!(answer["error"]["code"], "path_not_allowed");
    }
    for path in ["/v1/files/a b", "/v1/files/{file_id}", "/v1/files/é", "/v1/models?limit=1", "/v1/files/%zz", "files"]
    {
        let (status, answer) = send(&relay, &json!({"method": "GET", "path": path})).await;
        // `path` is named by the envelope, or by its schema's pointer.
        let param = answer["error"]["param"].as_str().unwrap_or_default();
        assert!(status == 400 && (param == "path" || param == "/path"), "{path}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error", "{path}: {answer}");
    }
    assert!(upstream.requests().is_empty(), "no refused envelope reached the upstream");
}
