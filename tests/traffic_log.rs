#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! The traffic log: the real binary with `--log` (and a listener's own
//! `log`), a real upstream; the file's lines are read back and grepped for
//! every secret the test used.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::log_file::complete_lines;
use support::relay::{Process, SERVER_KEY, client, routes_dir};
use support::upstream::{MINTED_SECRET, Upstream};

const RELAY_KEY: &str = "relay-key-secret-1";
const CLIENT_BEARER: &str = "sk-client-abc123456";
const BODY_KEY: &str = "body-api-key-value";

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[listener.side]
listen = "127.0.0.1:0"
log = "${SIDE_LOG}"
log_body_max = "100B"

[[route]]
id = "chat"
method = "POST"
path = "/v1/chat/completions"
listeners = ["default", "side"]

[[route]]
id = "files.content"
method = "GET"
path = "/v1/files/{id}/content"
listeners = ["default", "side"]

[[route]]
id = "realtime.client_secrets"
method = "POST"
path = "/v1/realtime/client_secrets"

[[route]]
id = "realtime.sessions"
method = "POST"
path = "/v1/realtime/sessions"

[[route]]
id = "bridge"
method = "POST"
path = "/v1/bridge/{case}/chat/completions"
upstream_path = "/responses/{case}"

[[route.transforms]]
type = "chat_to_responses"
"#;

/// The log's events, once `done` holds for them (or after 10 s).
fn events(path: &Path, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let parsed: Vec<Value> = complete_lines(path)
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
            .collect();
        if done(&parsed) || Instant::now() > deadline {
            return parsed;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn of<'a>(events: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["request_id"] == request_id).collect()
}

fn directions(events: &[&Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        let direction = event["direction"].as_str().unwrap().to_owned();
        // Runs of chunks count once.
        if !(direction.ends_with("-chunk") && out.last() == Some(&direction)) {
            out.push(direction);
        }
    }
    out
}

fn chunk_text(events: &[&Value], direction: &str) -> String {
    events.iter().filter(|e| e["direction"] == direction).map(|e| e["body"].as_str().unwrap()).collect()
}

async fn post(url: &str, id: &str, body: &Value) -> (u16, bytes::Bytes) {
    let mut response = client()
        .post(url)
        .insert_header(("x-request-id", id))
        .insert_header(("x-relay-key", RELAY_KEY))
        .insert_header(("authorization", format!("Bearer {CLIENT_BEARER}")))
        .insert_header(("content-type", "application/json"))
        .send_body(body.to_string())
        .await
        .unwrap();
    (response.status().as_u16(), response.body().limit(1 << 20).await.unwrap())
}

fn start(upstream: &Upstream, dir: &Path, args: &[&str], side_log: &Path) -> Process {
    let env = [
        ("OPENAI_BASE_URL", upstream.base_url()),
        ("OPENAI_API_KEY", SERVER_KEY.to_owned()),
        ("RELAY_KEYS", RELAY_KEY.to_owned()),
        ("SIDE_LOG", side_log.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Process::start(dir, args, &env)
}

#[actix_web::test]
async fn exchanges_are_logged_in_order_with_every_secret_redacted() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("traffic.jsonl");
    std::fs::write(&log, "junk from an earlier run\n".repeat(100)).unwrap();
    let relay = start(&upstream, dir.path(), &["--log", log.to_str().unwrap()], &logs.path().join("side.jsonl"));

    let chat = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}],
        "api_key": BODY_KEY, "metadata": {"nested": {"token": BODY_KEY}}});
    let (status, answer) = post(&relay.url("/v1/chat/completions"), "req-json", &chat).await;
    assert_eq!(status, 200);
    let mut streamed = chat.clone();
    streamed["stream"] = true.into();
    let (status, sse) = post(&relay.url("/v1/chat/completions"), "req-sse", &streamed).await;
    assert_eq!(status, 200);
    let bridge =
        serde_json::json!({"model": "gpt-test", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, translated) = post(&relay.url("/v1/bridge/text/chat/completions"), "req-bridge", &bridge).await;
    assert_eq!(status, 200);
    let (status, _) = post(&relay.url("/v1/nowhere"), "req-missing", &chat).await;
    assert_eq!(status, 404);

    let all = events(&log, |events| of(events, "req-missing").len() >= 2 && of(events, "req-bridge").len() >= 6);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("junk"), "the log is truncated at start");
    for secret in [SERVER_KEY, RELAY_KEY, CLIENT_BEARER, BODY_KEY] {
        assert!(!text.contains(secret), "{secret} leaked into the log:\n{text}");
    }
    for event in &all {
        assert_eq!(event["listener"], "default");
        assert!(event["time"].as_str().unwrap().ends_with('Z'), "{event}");
    }

    // A JSON exchange: the client's head, the upstream request with its URL
    // and (masked) key, the client's body as it streams through (logged,
    // never held for the log), the answer in chunks.
    let json = of(&all, "req-json");
    let expected = [
        "client-request",
        "upstream-request",
        "request-chunk",
        "upstream-response",
        "client-response",
        "upstream-chunk",
    ];
    assert_eq!(directions(&json), expected);
    let request = json[0];
    assert_eq!((request["method"].as_str(), request["path"].as_str()), (Some("POST"), Some("/v1/chat/completions")));
    assert_eq!(request["headers"]["authorization"], "[redacted]");
    assert_eq!(request["headers"]["x-relay-key"], "[redacted]");
    let upstream_request = json[1];
    assert_eq!(upstream_request["url"], format!("{}/chat/completions", upstream.base_url()));
    assert_eq!(upstream_request["headers"]["authorization"], "[redacted]");
    assert_eq!(upstream_request["headers"]["x-request-id"], "req-json");
    let body: Value = serde_json::from_str(&chunk_text(&json, "request-chunk")).unwrap();
    assert_eq!((body["api_key"].as_str(), body["model"].as_str()), (Some("[redacted]"), Some("gpt-test")));
    assert_eq!(body["metadata"]["nested"]["token"], "[redacted]");
    assert!(body["messages"].is_array());
    assert_eq!((json[3]["status"].as_u64(), json[4]["status"].as_u64()), (Some(200), Some(200)));
    assert_eq!(chunk_text(&json, "upstream-chunk").as_bytes(), &answer[..]);

    // A streamed chat completion: every SSE chunk, as the client got it.
    let sse_events = of(&all, "req-sse");
    assert_eq!(directions(&sse_events), expected);
    assert_eq!(sse_events[4]["headers"]["content-type"], "text/event-stream");
    assert_eq!(chunk_text(&sse_events, "upstream-chunk").as_bytes(), &sse[..]);
    assert!(sse_events.iter().filter(|e| e["direction"] == "upstream-chunk").count() > 1);

    // The bridge: the upstream's Responses events and the chat chunks the
    // client got instead.
    let bridged = of(&all, "req-bridge");
    // The chunks interleave as the translation goes along.
    let seen = directions(&bridged);
    assert_eq!(seen[..4], ["client-request", "upstream-request", "upstream-response", "client-response"]);
    assert!(seen[4..].iter().all(|d| d == "upstream-chunk" || d == "client-chunk"), "{seen:?}");
    assert!(chunk_text(&bridged, "upstream-chunk").contains("response.output_text.delta"));
    assert_eq!(chunk_text(&bridged, "client-chunk").as_bytes(), &translated[..]);

    // An error the relay answers itself: the request head and the error body.
    let missing = of(&all, "req-missing");
    assert_eq!(directions(&missing), ["client-request", "client-response"]);
    assert_eq!(missing[1]["status"], 404);
    let error: Value = serde_json::from_str(missing[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "unknown_route");
}

#[actix_web::test]
async fn a_listener_logs_to_its_own_file_and_long_bodies_are_cut() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let (main_log, side_log) = (logs.path().join("main.jsonl"), logs.path().join("side.jsonl"));
    let relay = start(&upstream, dir.path(), &["--log", main_log.to_str().unwrap()], &side_log);

    let long = "x".repeat(5000);
    let chat = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": long}],
        "api_key": BODY_KEY});
    let (status, _) = post(&relay.url_on("side", "/v1/chat/completions"), "req-long", &chat).await;
    assert_eq!(status, 200);
    let mut response = client()
        .get(relay.url_on("side", "/v1/files/big-300000/content"))
        .insert_header(("x-request-id", "req-download"))
        .insert_header(("x-relay-key", RELAY_KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(response.body().limit(1 << 20).await.unwrap().len(), 300_000);
    let (status, _) = post(&relay.url("/v1/chat/completions"), "req-main", &chat).await;
    assert_eq!(status, 200);

    let side = events(&side_log, |events| of(events, "req-download").len() >= 5);
    let main = events(&main_log, |events| !of(events, "req-main").is_empty());
    assert!(side.iter().all(|e| e["listener"] == "side" && e["request_id"] != "req-main"));
    assert!(main.iter().all(|e| e["listener"] == "default" && e["request_id"] == "req-main"), "{main:?}");
    let text = std::fs::read_to_string(&side_log).unwrap();
    assert!(!text.contains(BODY_KEY), "a cut body is redacted too");

    // The client's body as it streamed: redacted, then cut to 100 bytes
    // with the marker.
    let long_request = of(&side, "req-long");
    assert_eq!(long_request[0]["direction"], "client-request");
    assert_eq!(long_request[0]["streamed"], true, "{:?}", long_request[0]);
    let chunk = long_request.iter().find(|e| e["direction"] == "request-chunk").unwrap();
    let body = chunk["body"].as_str().unwrap();
    assert!(body.len() <= 100, "cut at 100 bytes, then redacted: {body}");
    assert!(body.starts_with(r#"{"api_key":"[redacted]""#), "{body}");
    assert_eq!(chunk["truncated"], true);
    assert!(chunk["size"].as_u64().unwrap() > 5000);

    // A download: its chunks up to 100 bytes in all, the last one cut and
    // marked, then nothing more (the rest of 300 kB is not logged).
    let download = of(&side, "req-download");
    let chunks: Vec<&&Value> = download.iter().filter(|e| e["direction"] == "upstream-chunk").collect();
    let last = chunks.last().unwrap();
    assert_eq!(last["truncated"], true);
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c.get("truncated").is_none()));
    let logged: Vec<u8> = chunks.iter().flat_map(|c| decoded(c)).collect();
    let expected: Vec<u8> = (0..100).map(support::upstream::generated_byte).collect();
    assert_eq!(logged, expected);
}

/// A logged body's bytes: text, or base64 where `body_encoding` says so.
fn decoded(event: &Value) -> Vec<u8> {
    use base64::Engine;
    let body = event["body"].as_str().unwrap();
    match event["body_encoding"].as_str() {
        Some("base64") => base64::engine::general_purpose::STANDARD.decode(body).unwrap(),
        _ => body.as_bytes().to_vec(),
    }
}

#[actix_web::test]
async fn a_failing_log_file_never_fails_or_slows_requests() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    // Every write to /dev/full fails with ENOSPC, like a full disk.
    let relay = start(&upstream, dir.path(), &["--log", "/dev/full"], &logs.path().join("side.jsonl"));
    let chat = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]});
    let started = Instant::now();
    for i in 0..200 {
        let (status, _) = post(&relay.url("/v1/chat/completions"), &format!("req-{i}"), &chat).await;
        assert_eq!(status, 200, "request {i}");
    }
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());

    let deadline = Instant::now() + Duration::from_secs(10);
    while !relay.log.lock().unwrap().contains("traffic log: writing failed") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let warnings = relay.log.lock().unwrap().matches("traffic log: writing failed").count();
    assert!(warnings >= 1, "no warning; log: {}", relay.log.lock().unwrap());
    assert!(warnings <= 3, "warnings are rate limited: {warnings}");

    let mut response = client().get(relay.url("/relay/status")).send().await.unwrap();
    let status: Value = serde_json::from_slice(&response.body().await.unwrap()).unwrap();
    assert_eq!(status["traffic_log"]["file"], "/dev/full");
    assert!(status["traffic_log"]["dropped"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["traffic_log"]["written"], 0);
}

#[test]
fn a_log_path_that_cannot_be_opened_stops_serve_at_start() {
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch", "--routes"])
        .arg(dir.path())
        .arg("--log")
        .arg(logs.path())
        .env_remove("RELAY_KEYS")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env("SIDE_LOG", logs.path().join("side.jsonl"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the traffic log"), "{stderr}");
}

#[actix_web::test]
async fn realtime_client_secrets_the_api_mints_are_redacted() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("traffic.jsonl");
    let relay = start(&upstream, dir.path(), &["--log", log.to_str().unwrap()], &logs.path().join("side.jsonl"));

    let session = serde_json::json!({"session": {"type": "realtime", "model": "gpt-realtime"}});
    for (path, id) in [("/v1/realtime/client_secrets", "req-minted"), ("/v1/realtime/sessions", "req-session")] {
        let (status, answer) = post(&relay.url(path), id, &session).await;
        assert_eq!(status, 200, "{path}");
        // The client gets the secret: only the log must not hold it.
        assert!(String::from_utf8_lossy(&answer).contains(MINTED_SECRET), "{path}");
    }
    let all = events(&log, |events| {
        ["req-minted", "req-session"].iter().all(|id| of(events, id).iter().any(|e| e["direction"] == "upstream-chunk"))
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(MINTED_SECRET), "a minted secret leaked into the log:\n{text}");
    assert!(!text.contains("ek_"), "part of a minted secret leaked into the log:\n{text}");
    for id in ["req-minted", "req-session"] {
        let chunks = chunk_text(&of(&all, id), "upstream-chunk");
        assert!(chunks.contains("[redacted]"), "{id}: the answer was not logged redacted: {chunks}");
    }
}

#[actix_web::test]
async fn a_request_refused_before_100_continue_is_logged() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("traffic.jsonl");
    let relay = start(&upstream, dir.path(), &["--log", log.to_str().unwrap()], &logs.path().join("side.jsonl"));

    let head = support::raw::head(
        "POST",
        "/v1/chat/completions",
        &["Expect: 100-continue", "X-Request-Id: req-expect", "X-Relay-Key: wrong", "Content-Length: 10"],
    );
    let response = support::raw::exchange(relay.addr, head.as_bytes()).await;
    assert_eq!(response.status, 401);
    let all = events(&log, |events| of(events, "req-expect").len() >= 2);
    let refused = of(&all, "req-expect");
    assert_eq!(directions(&refused), ["client-request", "client-response"]);
    assert_eq!(refused[0]["headers"]["x-relay-key"], "[redacted]");
    assert_eq!(refused[1]["status"], 401);
    let error: Value = serde_json::from_str(refused[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "invalid_relay_key");
}
