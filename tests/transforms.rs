//! Request transforms on real sockets: schema validation with the JSON
//! pointer of the problem, and templates rendering path, headers and body.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use support::relay::{InProcess, client};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[[route]]
id = "checked"
method = "POST"
path = "/v1/checked/{item_id}"
upstream_path = "/echo/checked"

[[route.transforms]]
type = "validate"
schema = "checked.json"

[[route.transforms]]
type = "template"
path = "/echo/{{ params.item_id }}/{{ body.kind }}"
headers = { X-Kind = "{{ body.kind }}" }
body = '{"kind": {{ body.kind }}, "count": {{ body.count }}, "label": {{ body.kind ~ "-" ~ query.tag }}}'
"#;

const SCHEMA: &str = r#"{"type": "object", "required": ["kind", "count"],
  "properties": {"kind": {"type": "string"}, "count": {"type": "integer", "maximum": 10}}}"#;

async fn setup() -> (Upstream, InProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("routes.d")).unwrap();
    std::fs::create_dir(dir.path().join("schemas")).unwrap();
    std::fs::write(dir.path().join("routes.d/routes.toml"), ROUTES).unwrap();
    std::fs::write(dir.path().join("schemas/checked.json"), SCHEMA).unwrap();
    let upstream = Upstream::start().await;
    let relay = InProcess::start(&dir.path().join("routes.d"), &upstream.base_url(), &[]).await;
    (upstream, relay, dir)
}

#[actix_web::test]
async fn an_invalid_body_gets_400_with_the_pointer() {
    let (upstream, relay, _dir) = setup().await;
    let url = relay.url("/v1/checked/i1");
    for (body, pointer) in
        [(serde_json::json!({"kind": "a", "count": 99}), "/count"), (serde_json::json!({"count": 1}), "/kind")]
    {
        let mut response = client().post(&url).send_json(&body).await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["param"], pointer, "{error}");
        assert_eq!(error["error"]["code"], "invalid_body");
    }
    let mut response = client().post(&url).content_type("application/json").send_body("{not json").await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_json");
    assert!(upstream.requests().is_empty());
}

#[actix_web::test]
async fn templates_render_path_headers_and_body_safely() {
    let (upstream, relay, _dir) = setup().await;
    let body = serde_json::json!({"kind": "a b/..", "count": 3});
    let response = client().post(relay.url("/v1/checked/i%201?tag=x")).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    // Values are percent-encoded in the path: no new segment can appear.
    assert_eq!(seen.target, "/v1/echo/i%201/a%20b%2F..?tag=x");
    assert_eq!(seen.header("x-kind"), Some("a b/.."));
    let sent: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent, serde_json::json!({"kind": "a b/..", "count": 3, "label": "a b/..-x"}));
    assert_eq!(seen.header("content-length"), Some(seen.body.len().to_string().as_str()));
}
