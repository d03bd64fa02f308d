//! The transforms and policies the shipped `routes.d/` uses, end to end:
//! the `responses:stream` alias, uploads completed through retry and verify,
//! the user_data download guard, the `/v1/proxy` envelope, and the JSON
//! forms of the image uploads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use support::relay::{InProcess, client};
use support::upstream::Upstream;

#[actix_web::test]
async fn the_streaming_alias_forces_stream_on() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let body = serde_json::json!({"model": "gpt-test", "input": "hi", "stream": false});
    let response = client().post(relay.url("/v1/responses:stream?x=1")).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/responses?x=1");
    let sent: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent, serde_json::json!({"model": "gpt-test", "input": "hi", "stream": true}));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("content-length"), Some(seen.body.len().to_string().as_str()));
}

#[actix_web::test]
async fn a_lost_upload_completion_is_verified() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let body = serde_json::json!({"part_ids": ["part_1"]});

    let mut response = client().post(relay.url("/v1/uploads/lost-done/complete")).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "completed");
    let targets: Vec<String> = upstream.requests().iter().map(|r| format!("{} {}", r.method, r.target)).collect();
    assert_eq!(
        targets,
        [
            "POST /v1/uploads/lost-done/complete",
            "POST /v1/uploads/lost-done/complete",
            "POST /v1/uploads/lost-done/complete",
            "GET /v1/uploads/lost-done",
        ]
    );

    // Not completed after all: the last failure is returned unchanged.
    let mut response = client().post(relay.url("/v1/uploads/lost-pending/complete")).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["message"], "the response was lost");
}

#[actix_web::test]
async fn user_data_files_cannot_be_downloaded() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let mut denied = client().get(relay.url("/v1/files/file-user-9/content")).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    let body: serde_json::Value = denied.json().await.unwrap();
    assert_eq!(body["error"]["code"], "denied_by_guard");
    let mut allowed = client().get(relay.url("/v1/files/file-abc/content")).send().await.unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    assert_eq!(&allowed.body().await.unwrap()[..], b"hello file");
}

#[actix_web::test]
async fn the_proxy_envelope_forwards_only_allowed_requests() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let url = relay.url("/v1/proxy");

    let mut response = client()
        .post(&url)
        .send_json(&serde_json::json!({"method": "GET", "path": "/models",
        "query": {"limit": 2}}))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let models: serde_json::Value = response.json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "gpt-test");
    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("GET", "/v1/models?limit=2"));
    assert!(seen.body.is_empty());

    let inner = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]});
    let envelope = serde_json::json!({"method": "POST", "path": "/chat/completions", "body": inner});
    let response = client().post(&url).send_json(&envelope).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&seen.body).unwrap(), inner);
    assert_eq!(seen.header("authorization"), Some("Bearer sk-server-test"));

    let before = upstream.requests().len();
    let refused = [
        (serde_json::json!({"method": "GET", "path": "/fine_tuning/jobs"}), 403, "path"),
        (serde_json::json!({"method": "GET", "path": "/organization/users"}), 403, "path"),
        (serde_json::json!({"method": "GET", "path": "/files/file-abc/content"}), 403, "path"),
        (serde_json::json!({"method": "GET", "path": "/files/../organization/users"}), 400, "path"),
        // The envelope's schema (validate) names the missing field by its pointer.
        (serde_json::json!({"method": "GET"}), 400, "/path"),
    ];
    for (envelope, status, param) in refused {
        let mut response = client().post(&url).send_json(&envelope).await.unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{envelope}: {body}");
        assert_eq!(body["error"]["param"], param, "{envelope}: {body}");
    }
    assert_eq!(upstream.requests().len(), before, "refused envelopes never reach the upstream");
}

#[actix_web::test]
async fn image_routes_take_json_and_multipart_alike() {
    use base64::Engine;
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;

    // The API's own JSON form of edits passes through unchanged.
    let native = serde_json::json!({"model": "gpt-image-1", "prompt": "a hat",
        "images": [{"image_url": "https://example.test/cat.png"}], "mask": {"file_id": "file-m"}});
    let response = client().post(relay.url("/v1/images/edits")).send_json(&native).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&seen.body).unwrap(), native);

    // Variations takes multipart only upstream: JSON becomes the upload.
    let png = b"\x89PNG\r\n\x1a\nimage-bytes";
    let json = serde_json::json!({"n": 1, "image": base64::engine::general_purpose::STANDARD.encode(png)});
    let response = client().post(relay.url("/v1/images/variations")).send_json(&json).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert!(seen.header("content-type").unwrap().starts_with("multipart/form-data; boundary="));
    assert!(seen.body.windows(png.len()).any(|w| w == png));

    // Multipart passes through byte for byte on both paths.
    let multipart = b"--b\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n1\r\n--b--\r\n".to_vec();
    for path in ["/v1/images/edits", "/v1/images/variations"] {
        let response = client()
            .post(relay.url(path))
            .insert_header(("content-type", "multipart/form-data; boundary=b"))
            .send_body(multipart.clone())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(upstream.last().body, multipart, "{path}");
    }
}
