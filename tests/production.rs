#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! `examples/production/` as shipped: the real binary on its routes
//! directory with the documented environment, a real upstream, a TLS client
//! trusting a test CA, and browser-style CORS requests.

mod support;

use std::path::Path;

use actix_web::http::Method;
use support::relay::{Process, SERVER_KEY, client};
use support::tls::TestCa;
use support::upstream::Upstream;

const KEY: &str = "sk-relay-production-test";
const APP: &str = "https://chat.example.com";

#[actix_web::test]
async fn the_production_example_starts_as_it_is() {
    let upstream = Upstream::start().await;
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    ca.write_leaf(certs.path(), 1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (shipped, dir) = (root.join("routes.d"), root.join("examples/production/routes.d"));
    let cert = certs.path().join("cert.pem").display().to_string();
    let key = certs.path().join("key.pem").display().to_string();
    let env = [
        ("OPENAI_BASE_URL", upstream.base_url()),
        ("OPENAI_API_KEY", SERVER_KEY.to_owned()),
        ("RELAY_KEYS", KEY.to_owned()),
        ("RELAY_TLS_LISTEN", "127.0.0.1:0".to_owned()),
        ("RELAY_TLS_CERT", cert),
        ("RELAY_TLS_KEY", key),
        ("RELAY_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let relay = Process::start(&shipped, &["--routes", dir.to_str().unwrap(), "--log-format", "json"], &env);

    // The admin address, from RELAY_ADMIN_LISTEN.
    for path in ["/health", "/ready", "/relay/status"] {
        let response = client().get(relay.url_on("admin", path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let mut status = client().get(relay.url_on("admin", "/relay/status")).send().await.unwrap();
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["draining"], false, "{status}");

    // The TLS listener serves the shipped routes (inherit = "default").
    let tls = relay.addr_of("tls");
    let url = format!("https://localhost:{}/v1/models", tls.port());
    let mut response = ca.awc_client().get(url).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(upstream.last().header("authorization"), Some(format!("Bearer {SERVER_KEY}").as_str()));

    // CORS on the default listener: the app's origin, with credentials.
    let preflight = client()
        .request(Method::OPTIONS, relay.url("/v1/chat/completions"))
        .insert_header(("origin", APP))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header(("access-control-request-headers", "authorization, content-type"))
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), APP);
    assert_eq!(headers.get("access-control-allow-credentials").unwrap(), "true");
    let other = client()
        .request(Method::OPTIONS, relay.url("/v1/chat/completions"))
        .insert_header(("origin", "https://elsewhere.example"))
        .insert_header(("access-control-request-method", "POST"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
