//! Guards on real sockets: a probe of the upstream decides whether a file
//! download is allowed; request conditions deny without any upstream call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use support::relay::{InProcess, client, routes_dir};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "files.content"
method = "GET"
path = "/v1/files/{file_id}/content"

[[route.guards]]
probe = { path = "/files/{file_id}" }
deny_when = "probe.purpose == 'user_data'"
message = "Files with purpose user_data cannot be downloaded through this relay."

[[route]]
id = "models.get"
method = "GET"
path = "/v1/models/{model}"

[[route.guards]]
deny_when = "params.model is startingwith('internal-') or query.debug is defined"
status = 404
message = "No such model."
"#;

#[actix_web::test]
async fn a_probe_decides_whether_a_download_is_allowed() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;

    let mut allowed = client().get(relay.url("/v1/files/file-abc/content")).send().await.unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    assert_eq!(&allowed.body().await.unwrap()[..], b"hello file");
    let targets: Vec<String> = upstream.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets, ["/v1/files/file-abc", "/v1/files/file-abc/content"]);
    let probe = &upstream.requests()[0];
    assert_eq!(probe.method, "GET");
    assert_eq!(probe.header("authorization"), Some("Bearer sk-server-test"), "the probe uses the server key");

    let mut denied = client().get(relay.url("/v1/files/file-user-1/content")).send().await.unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    let body: serde_json::Value = denied.json().await.unwrap();
    assert_eq!(body["error"]["code"], "denied_by_guard");
    assert_eq!(body["error"]["type"], "permission_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("user_data"));
    assert!(
        !upstream.requests().iter().any(|r| r.target == "/v1/files/file-user-1/content"),
        "a denied download never reaches the upstream"
    );
}

#[actix_web::test]
async fn a_failed_probe_is_answered_unchanged() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let mut response = client().get(relay.url("/v1/files/missing/content")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "No such File object: missing");
}

#[actix_web::test]
async fn request_conditions_deny_without_an_upstream_call() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    for target in ["/v1/models/internal-x", "/v1/models/gpt-test?debug=1"] {
        let mut response = client().get(relay.url(target)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404, "{target}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["message"], "No such model.");
    }
    assert!(upstream.requests().is_empty());
    let response = client().get(relay.url("/v1/models/gpt-test")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

const GUARDED_MULTIPART: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "images.edit"
method = "POST"
path = "/v1/images/edits"
body = { accept = ["application/json"] }

[[route.guards]]
deny_when = "headers['x-team'] != 'design'"
message = "Only the design team edits images here."

[[route.transforms]]
type = "json_to_multipart"
fields = ["prompt"]

[route.transforms.files.image]
url = "image_url"
required = true
fetch = { hosts = ["127.0.0.1"], allow_http = true }
"#;

#[actix_web::test]
async fn guards_run_before_transforms_fetch_anything() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(GUARDED_MULTIPART);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let body = serde_json::json!({"prompt": "a hat", "image_url": format!("{}/files/x/content", upstream.base_url())});

    // Denied: the guard answers; the transform never tried to fetch (its
    // fetch of a loopback address would have been refused with 400).
    let mut denied = client().post(relay.url("/v1/images/edits")).send_json(&body).await.unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    let error: serde_json::Value = denied.json().await.unwrap();
    assert_eq!(error["error"]["code"], "denied_by_guard");
    // Allowed: now the transform runs, and refuses the loopback fetch.
    let mut allowed = client()
        .post(relay.url("/v1/images/edits"))
        .insert_header(("x-team", "design"))
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(allowed.status().as_u16(), 400);
    let error: serde_json::Value = allowed.json().await.unwrap();
    assert_eq!(error["error"]["code"], "file_url_blocked", "{error}");
    assert!(upstream.requests().is_empty(), "nothing reached the upstream");
}
