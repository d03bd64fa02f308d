//! The other routes, the manifest and the environment names of the replaced
//! FastAPI Actions relay, on the shipped `routes.d/` and real sockets:
//! `POST /v1/images`, `GET /v1/uploads/{id}`, `POST /v1/responses:stream`
//! asking for an event stream, `/v1/actions/ping` and
//! `/v1/actions/health`, the WebSocket at `/v1/realtime/ws`, the manifest's
//! `endpoints` and `meta`; and the relay binary started with that relay's
//! environment file (a base URL without `/v1`, `RELAY_KEY`, `OPENAI_ORG_ID`,
//! `OPENAI_PROJECT_ID`, `OPENAI_BETA`, `RELAY_AUTH_ENABLED`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::relay::{InProcess, Process, SERVER_KEY, client};
use support::upstream::Upstream;
use support::ws_upstream::WsUpstream;
use tokio_tungstenite::tungstenite::Message;

fn shipped_routes() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d")
}

#[actix_web::test]
async fn images_alias_and_upload_retrieval_are_forwarded() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let body = json!({"model": "gpt-image-1", "prompt": "a cat"});
    let response = client().post(relay.url("/v1/images")).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/images/generations"));
    assert_eq!(serde_json::from_slice::<Value>(&seen.body).unwrap(), body);

    let mut response = client().get(relay.url("/v1/uploads/upload_done1")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let upload: Value = response.json().await.unwrap();
    assert_eq!(upload["status"], "completed");
    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("GET", "/v1/uploads/upload_done1"));
    assert_eq!(seen.header("authorization"), Some("Bearer sk-server-test"));
}

#[actix_web::test]
async fn the_streaming_alias_asks_for_an_event_stream() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let body = json!({"model": "gpt-test", "input": "hi"});
    let request = client().post(relay.url("/v1/responses:stream")).insert_header(("accept", "application/json"));
    let mut response = request.send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/event-stream"));
    let events = response.body().limit(1 << 20).await.unwrap();
    assert!(events.starts_with(b"event: ") || events.starts_with(b"data: "), "{events:?}");
    let seen = upstream.last();
    assert_eq!(seen.header("accept"), Some("text/event-stream"));
    assert_eq!(serde_json::from_slice::<Value>(&seen.body).unwrap()["stream"], true);

    // An empty body becomes `{"stream": true}`, as with the replaced relay.
    let mut empty = client().post(relay.url("/v1/responses:stream")).send().await.unwrap();
    drop(empty.body().limit(1 << 20).await);
    let seen = upstream.last();
    assert_eq!(serde_json::from_slice::<Value>(&seen.body).unwrap(), json!({"stream": true}));
    assert_eq!(seen.header("content-type"), Some("application/json"));
}

#[actix_web::test]
async fn the_actions_ping_answers_itself_and_checks_the_key() {
    let upstream = Upstream::start().await;
    let open = InProcess::shipped(&upstream.base_url(), &[]).await;
    let keyed = InProcess::shipped(&upstream.base_url(), &[("RELAY_KEYS", "rk-1")]).await;
    for path in ["/v1/actions/ping", "/v1/actions/health"] {
        let mut response = client().get(open.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));
        let mut refused = client().get(keyed.url(path)).send().await.unwrap();
        assert_eq!(refused.status().as_u16(), 401, "{path}: the Action's key is checked");
        assert_eq!(refused.json::<Value>().await.unwrap()["error"]["type"], "authentication_error");
        for (name, value) in [("x-relay-key", "rk-1"), ("authorization", "Bearer rk-1")] {
            let response = client().get(keyed.url(path)).insert_header((name, value)).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{path} with {name}");
        }
    }
    let health = client().get(keyed.url("/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "/health stays public");
    assert!(upstream.requests().is_empty(), "the relay answers these itself");
}

#[actix_web::test]
async fn the_realtime_websocket_is_also_at_realtime_ws() {
    let upstream = WsUpstream::start();
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let url = relay.url("/v1/realtime/ws?model=gpt-realtime").replacen("http://", "ws://", 1);
    let (mut ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
    let handshake = upstream.last();
    assert_eq!(handshake.target, "/v1/realtime?model=gpt-realtime");
    assert_eq!(handshake.header("authorization"), Some("Bearer sk-server-test"));
    ws.send(Message::text("hello")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo, Message::text("hello"));
    let plain = client().get(relay.url("/v1/realtime/ws")).send().await.unwrap();
    assert_eq!(plain.status().as_u16(), 426, "a plain GET is told to upgrade");
}

#[actix_web::test]
async fn the_manifest_has_the_replaced_relays_keys() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[("RELAY_KEYS", "rk-1")]).await;
    for path in ["/manifest", "/v1/manifest"] {
        let mut response = client().get(relay.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path} is public");
        let manifest: Value = response.json().await.unwrap();
        assert_eq!(manifest["object"], "relay.manifest");
        assert_eq!(manifest["data"]["endpoints"], manifest["endpoints"]);
        assert_eq!(manifest["data"]["meta"], manifest["meta"]);
        let keys: Vec<&str> = manifest["endpoints"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec![
            "health",
            "models",
            "responses",
            "responses_compact",
            "embeddings",
            "images",
            "images_actions",
            "files",
            "uploads",
            "batches",
            "proxy",
            "realtime_http",
            "realtime_ws",
        ];
        expected.sort_unstable();
        let mut keys = keys.clone();
        keys.sort_unstable();
        assert_eq!(keys, expected);
        let paths = |key: &str| -> Vec<String> {
            let list = manifest["endpoints"][key].as_array().unwrap_or_else(|| panic!("{key} is not a list"));
            list.iter().map(|p| p.as_str().unwrap().to_owned()).collect()
        };
        for (key, path) in [
            ("health", "/health"),
            ("health", "/v1/actions/ping"),
            ("models", "/v1/models"),
            ("responses", "/v1/responses"),
            ("responses", "/v1/responses:stream"),
            ("responses_compact", "/v1/responses/compact"),
            ("embeddings", "/v1/embeddings"),
            ("images", "/v1/images"),
            ("images", "/v1/images/generations"),
            ("images_actions", "/v1/actions/images/edits"),
            ("files", "/v1/files/{file_id}"),
            ("uploads", "/v1/uploads/{upload_id}"),
            ("batches", "/v1/batches"),
            ("proxy", "/v1/proxy"),
            ("realtime_http", "/v1/realtime/sessions"),
            ("realtime_ws", "/v1/realtime"),
            ("realtime_ws", "/v1/realtime/ws"),
        ] {
            assert!(paths(key).contains(&path.to_owned()), "{key} lacks {path}: {:?}", paths(key));
        }
        assert!(!paths("responses").contains(&"/v1/responses/compact".to_owned()));
        let meta = &manifest["meta"];
        assert_eq!(meta["relay_name"], "relay");
        assert_eq!(meta["auth_required"], true);
        assert_eq!(meta["auth_header"], "X-Relay-Key");
        assert_eq!(meta["upstream_base_url"], upstream.base_url());
        assert_eq!(meta["actions_openapi_url"], "http://127.0.0.1:8080/openapi.actions.json");
        assert!(meta["actions_openapi_groups"].as_array().unwrap().contains(&json!("images")));
    }
}

#[actix_web::test]
async fn the_replaced_relays_environment_file_works() {
    let upstream = Upstream::start().await;
    let relay = Process::start(
        &shipped_routes(),
        &[],
        &[
            ("OPENAI_API_KEY", SERVER_KEY),
            ("OPENAI_API_BASE", &upstream.base_url()),
            ("OPENAI_ORG_ID", "org-test"),
            ("OPENAI_PROJECT_ID", "proj-test"),
            ("OPENAI_BETA", "assistants=v2"),
            ("RELAY_KEY", "rk-single"),
            ("RELAY_AUTH_ENABLED", "true"),
        ],
    );
    let refused = client().get(relay.url("/v1/files/file-abc")).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401, "RELAY_KEY is required");
    let response =
        client().get(relay.url("/v1/files/file-abc")).insert_header(("x-relay-key", "rk-single")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/files/file-abc", "OPENAI_API_BASE is the base URL");
    assert_eq!(seen.header("openai-organization"), Some("org-test"));
    assert_eq!(seen.header("openai-project"), Some("proj-test"));
    assert_eq!(seen.header("openai-beta"), Some("assistants=v2"));
    assert_eq!(seen.header("authorization"), Some("Bearer sk-server-test"));
    assert_eq!(seen.header("x-relay-key"), None, "the relay key never goes upstream");
    assert!(relay.wait_for_log("OPENAI_ORG_ID is read as OPENAI_ORGANIZATION"), "{}", relay.log.lock().unwrap());
}

#[actix_web::test]
async fn a_base_url_without_a_path_gets_v1_and_says_so() {
    let upstream = Upstream::start().await;
    let bare = format!("http://{}", upstream.addr);
    let relay = Process::start(&shipped_routes(), &[], &[("OPENAI_API_KEY", SERVER_KEY), ("OPENAI_BASE_URL", &bare)]);
    let response = client().get(relay.url("/v1/files/file-abc")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(upstream.last().target, "/v1/files/file-abc", "not /files/file-abc");
    let note = format!("OPENAI_BASE_URL={bare} has no path: requests go to {bare}/v1");
    assert!(relay.wait_for_log(&note), "{}", relay.log.lock().unwrap());
}

/// Runs `relay serve` expecting it to refuse to start; its stderr.
fn refused_start(env: &[(&str, &str)]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["serve", "--listen", "127.0.0.1:0", "--routes"])
        .arg(shipped_routes())
        .env_remove("RELAY_KEYS")
        .env_remove("RELAY_KEY")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relay serve did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "relay serve started: {stderr}");
    stderr
}

#[test]
fn auth_enabled_without_a_key_or_conflicting_names_refuse_to_start() {
    let stderr = refused_start(&[("RELAY_AUTH_ENABLED", "true")]);
    assert!(stderr.contains("RELAY_AUTH_ENABLED=true but no relay key is set"), "{stderr}");
    assert!(stderr.contains("set RELAY_KEYS=key1,key2 (or RELAY_KEY=key)"), "{stderr}");
    let stderr = refused_start(&[("OPENAI_ORGANIZATION", "org-a"), ("OPENAI_ORG_ID", "org-b")]);
    assert!(stderr.contains("set only OPENAI_ORGANIZATION"), "{stderr}");
}

#[actix_web::test]
async fn the_actions_file_list_asks_for_a_small_page() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    for (asked, sent) in [
        ("/v1/actions/files", "/v1/files?limit=20"),
        ("/v1/actions/files?purpose=assistants", "/v1/files?purpose=assistants&limit=20"),
        ("/v1/actions/files?limit=3", "/v1/files?limit=3"),
    ] {
        let response = client().get(relay.url(asked)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asked}");
        assert_eq!(upstream.last().target, sent);
    }
    // The SDKs' own list is forwarded as it is.
    client().get(relay.url("/v1/files")).send().await.unwrap();
    assert_eq!(upstream.last().target, "/v1/files");
}
