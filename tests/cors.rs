#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! CORS as spec data: preflights answered by the relay, headers on actual
//! answers, per-route overrides, and nothing at all when unconfigured. A
//! relay in-process on loopback, a real upstream, awc as the client.

mod support;

use actix_web::http::Method;
use support::relay::{InProcess, client, routes_dir};
use support::upstream::Upstream;

const APP: &str = "https://chat.example.com";
const KEY: &str = "sk-relay-test";

const UPSTREAM: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }
"#;

const ROUTES: &str = r#"
[listener.default]
listen = "127.0.0.1:0"
cors = { origins = ["https://chat.example.com"], credentials = true, expose_headers = ["x-request-id"], max_age = "10m" }

[[route]]
id = "chat.create"
method = "POST"
path = "/v1/chat/completions"

[[route]]
id = "models.list"
method = "GET"
path = "/v1/models"
cors = false

[[route]]
id = "files.list"
method = ["GET", "POST"]
path = "/v1/files"
cors = { origins = ["*"], methods = ["GET"] }
"#;

type Head = (u16, Vec<(String, String)>);

async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Head {
    let mut request = client().request(method, url);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request.send_body(body.to_owned()).await.unwrap();
    let _ = response.body().await.unwrap();
    let headers =
        response.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned())).collect();
    (response.status().as_u16(), headers)
}

fn get<'h>(head: &'h Head, name: &str) -> Option<&'h str> {
    head.1.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn cors_headers(head: &Head) -> Vec<&str> {
    head.1.iter().filter(|(k, _)| k.starts_with("access-control-")).map(|(k, _)| k.as_str()).collect()
}

fn preflight<'a>(origin: &'a str, method: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", "authorization, content-type"),
    ]
}

#[actix_web::test]
async fn preflights_are_answered_and_answers_carry_the_listener_or_route_settings() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(&format!("{UPSTREAM}{ROUTES}"));
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[("RELAY_KEYS", KEY)]).await;
    let chat = relay.url("/v1/chat/completions");

    // Preflight from the allowed origin: 204 without a relay key.
    let head = send(Method::OPTIONS, &chat, &preflight(APP, "POST"), "").await;
    assert_eq!(head.0, 204, "{head:?}");
    assert_eq!(get(&head, "access-control-allow-origin"), Some(APP));
    assert_eq!(get(&head, "access-control-allow-methods"), Some("POST"));
    assert_eq!(get(&head, "access-control-allow-headers"), Some("authorization, content-type"));
    assert_eq!(get(&head, "access-control-allow-credentials"), Some("true"));
    assert_eq!(get(&head, "access-control-max-age"), Some("600"));
    assert!(head.1.iter().any(|(k, v)| k == "vary" && v == "Origin"), "{head:?}");

    // Another origin: 403 and no CORS headers.
    let head = send(Method::OPTIONS, &chat, &preflight("https://evil.example", "POST"), "").await;
    assert_eq!(head.0, 403);
    assert!(cors_headers(&head).is_empty(), "{head:?}");
    assert!(upstream.requests().is_empty(), "preflights never reach the upstream");

    // The actual request from the allowed origin.
    let body = r#"{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let auth = format!("Bearer {KEY}");
    let headers = [("origin", APP), ("authorization", auth.as_str()), ("content-type", "application/json")];
    let head = send(Method::POST, &chat, &headers, body).await;
    assert_eq!(head.0, 200, "{head:?}");
    assert_eq!(get(&head, "access-control-allow-origin"), Some(APP));
    assert_eq!(get(&head, "access-control-allow-credentials"), Some("true"));
    assert_eq!(get(&head, "access-control-expose-headers"), Some("x-request-id"));
    assert!(head.1.iter().any(|(k, v)| k == "vary" && v == "Origin"));
    // The relay's own errors carry them too, so the page can read them.
    let head = send(Method::POST, &chat, &[("origin", APP), ("content-type", "application/json")], body).await;
    assert_eq!((head.0, get(&head, "access-control-allow-origin")), (401, Some(APP)));
    // From another origin: answered, but without CORS headers.
    let other = [("origin", "https://evil.example"), ("authorization", auth.as_str())];
    let head = send(Method::POST, &chat, &other, body).await;
    assert_eq!(head.0, 200);
    assert!(cors_headers(&head).is_empty(), "{head:?}");

    // `cors = false`: the preflight is not answered (405), no headers anywhere.
    let models = relay.url("/v1/models");
    let head = send(Method::OPTIONS, &models, &preflight(APP, "GET"), "").await;
    assert_eq!(head.0, 405);
    assert!(cors_headers(&head).is_empty(), "{head:?}");
    let head = send(Method::GET, &models, &[("origin", APP), ("authorization", auth.as_str())], "").await;
    assert_eq!(head.0, 200);
    assert!(cors_headers(&head).is_empty(), "{head:?}");

    // The route's own settings: any origin, GET only, no credentials.
    let files = relay.url("/v1/files");
    let head = send(Method::OPTIONS, &files, &preflight("https://any.example", "GET"), "").await;
    assert_eq!(head.0, 204);
    assert_eq!(get(&head, "access-control-allow-origin"), Some("*"));
    assert_eq!(get(&head, "access-control-allow-methods"), Some("GET"));
    assert_eq!(get(&head, "access-control-allow-credentials"), None);
    let head = send(Method::OPTIONS, &files, &preflight("https://any.example", "POST"), "").await;
    assert_eq!(head.0, 403);
    relay.stop().await;
}

#[actix_web::test]
async fn without_cors_settings_there_are_no_cors_headers() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(&format!("{UPSTREAM}{}", ROUTES.replace("cors = ", "# cors = ")));
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    let chat = relay.url("/v1/chat/completions");
    let head = send(Method::OPTIONS, &chat, &preflight(APP, "POST"), "").await;
    assert_eq!(head.0, 405, "the preflight is not answered: {head:?}");
    assert!(cors_headers(&head).is_empty(), "{head:?}");
    let body = r#"{"model":"gpt-5-mini","messages":[]}"#;
    let head = send(Method::POST, &chat, &[("origin", APP), ("content-type", "application/json")], body).await;
    assert_eq!(head.0, 200);
    assert!(cors_headers(&head).is_empty(), "{head:?}");
    relay.stop().await;
}

#[test]
fn cors_mistakes_are_located_errors_with_hints() {
    let text = format!(
        r#"{UPSTREAM}
[listener.default]
listen = "127.0.0.1:0"
cors = {{ origins = ["*"], credentials = true }}

[[route]]
id = "chat.create"
method = "POST"
path = "/v1/chat/completions"
cors = {{ origins = ["https://chat.example.com/"], methods = ["GE T"], max_age = "soon" }}
"#
    );
    let dir = routes_dir(&text);
    // A misspelt key fails its file at parse time: a file of its own.
    let misspelt = r#"
[[route]]
id = "models.list"
method = "GET"
path = "/v1/models"
cors = { origin = ["https://chat.example.com"] }
"#;
    std::fs::write(dir.path().join("typo.toml"), misspelt).unwrap();
    let env = relay::env::Env::from_pairs([("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")]);
    let errors = relay::compile::load_table(dir.path(), &env).unwrap_err();
    let all = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    for expected in [
        "cannot go with `credentials = true`",
        "`https://chat.example.com/` is not an origin",
        "`GE T` is not a method",
        "`cors.max_age` is not",
        "unknown field `origin`",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert!(errors.iter().all(|e| e.line > 0), "every error is located:\n{all}");
}
