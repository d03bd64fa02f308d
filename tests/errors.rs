//! What clients get when something is wrong: upstream errors pass through
//! unchanged; the relay's own errors come in the OpenAI shape with the right
//! status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use support::relay::{InProcess, client, routes_dir};
use support::upstream::Upstream;

/// A catch-all route plus routes with small limits, on the test upstream.
const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[upstream.admin]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "MISSING_ADMIN_KEY", when_missing = "forbid" }

[[route]]
id = "slow"
method = "GET"
path = "/v1/stall"
upstream = "openai"
timeout = "300ms"

[[route]]
id = "small"
method = "POST"
path = "/v1/small"
upstream = "openai"
body = { accept = ["application/json"], max = "1KiB", idle_timeout = "300ms" }

[[route]]
id = "admin"
method = "GET"
path = "/v1/organization/users"
upstream = "admin"

[[route]]
id = "everything"
method = ["GET", "POST", "DELETE"]
path = "/v1/{*rest}"
upstream = "openai"
upstream_path = "/{rest}"
"#;

async fn error_of(
    response: &mut awc::ClientResponse<
        impl futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> serde_json::Value {
    let body: serde_json::Value = response.json().await.unwrap();
    let error = &body["error"];
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "`{key}` missing from {body}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

#[actix_web::test]
async fn upstream_errors_pass_through_unchanged() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    for status in [400u16, 404, 429, 500, 503] {
        let mut response = client().get(relay.url(&format!("/v1/status/{status}"))).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers().get("x-upstream-custom").unwrap(), "yes");
        assert_eq!(response.headers().get("retry-after").unwrap(), "7");
        assert_eq!(response.headers().get("content-type").unwrap(), "application/json");
        let body = response.body().await.unwrap();
        let expected = format!(
            r#"{{"error":{{"code":"test","message":"upstream says {status}","param":null,"type":"upstream_test"}}}}"#
        );
        assert_eq!(String::from_utf8_lossy(&body), expected);
    }
}

#[actix_web::test]
async fn relay_errors_have_the_openai_shape_and_status() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "/nope", 404, "unknown_route"),
        ("PUT", "/v1/files", 405, "method_not_allowed"),
        ("GET", "/v1/../admin", 400, "invalid_path"),
        ("GET", "/v1/%2e%2e/admin", 400, "invalid_path"),
        ("GET", "/v1/files%2Fx", 400, "invalid_path"),
        ("GET", "/v1/organization/users", 403, "upstream_key_missing"),
        ("GET", "/v1/stall", 504, "upstream_timeout"),
    ];
    for (method, path, status, code) in cases {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut response = client().request(method, relay.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{path}");
        assert!(response.headers().contains_key("x-request-id"));
        let body = error_of(&mut response).await;
        assert_eq!(body["error"]["code"], *code, "{path}: {body}");
    }
    let response = client().put(relay.url("/v1/files")).send().await.unwrap();
    assert_eq!(response.headers().get("allow").unwrap(), "GET, POST, DELETE");
}

#[actix_web::test]
async fn an_unreachable_upstream_is_502() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &format!("http://127.0.0.1:{port}/v1"), &[]).await;
    let mut response = client().get(relay.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 502);
    let body = error_of(&mut response).await;
    assert_eq!(body["error"]["code"], "upstream_unreachable");
    assert_eq!(body["error"]["type"], "server_error");
}

#[actix_web::test]
async fn relay_keys_are_required_when_set() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[("RELAY_KEYS", "rk-one,rk-two")]).await;
    let url = relay.url("/v1/models");
    for request in [client().get(&url), client().get(&url).insert_header(("x-relay-key", "rk-wrong"))] {
        let mut response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(error_of(&mut response).await["error"]["code"], "invalid_relay_key");
    }
    let requests = [
        client().get(&url).insert_header(("x-relay-key", "rk-two")),
        client().get(&url).insert_header(("authorization", "Bearer rk-one")),
    ];
    for request in requests {
        assert_eq!(request.send().await.unwrap().status().as_u16(), 200);
    }
    // Health stays public.
    for path in ["/", "/health", "/v1/health"] {
        let mut response = client().get(relay.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["routes"], 4);
    }
}

#[actix_web::test]
async fn oversized_request_heads_get_431() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let mut request = client().get(relay.url("/v1/models"));
    for i in 0..9 {
        request = request.insert_header((format!("x-pad-{i}"), "p".repeat(8 * 1024)));
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 431);
    assert_eq!(error_of(&mut response).await["error"]["code"], "headers_too_large");
}
