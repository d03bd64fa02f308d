//! The access log on the real binary: one line per finished request, text
//! or JSON, with the route id, status, bytes and times, and nothing secret
//! (no query values, no headers, no bodies).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::log_file::complete_lines;
use support::relay::{Process, SERVER_KEY, client, routes_dir};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "chat.create"
method = "POST"
path = "/v1/chat/completions"

[[route]]
id = "files.content"
method = "GET"
path = "/v1/files/{file_id}/content"
"#;

/// The lines of `path`, once `count` have been written (within 5 s).
fn lines(path: &Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = complete_lines(path);
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(upstream: &Upstream, dir: &Path, log: &Path, format: &str) -> Process {
    let env = [("OPENAI_BASE_URL", upstream.base_url()), ("OPENAI_API_KEY", SERVER_KEY.to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Process::start(dir, &["--access-log", log.to_str().unwrap(), "--log-format", format], &env)
}

#[actix_web::test]
async fn every_finished_request_is_one_json_line_without_secrets() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.jsonl");
    let relay = start(&upstream, dir.path(), &log, "json");

    let chat =
        serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let mut streamed = client()
        .post(relay.url("/v1/chat/completions?api_key=query-secret"))
        .insert_header(("x-request-id", "req-stream"))
        .insert_header(("authorization", "Bearer header-secret"))
        .send_json(&chat)
        .await
        .unwrap();
    assert_eq!(streamed.status().as_u16(), 200);
    let streamed_body = streamed.body().await.unwrap();
    let mut download = client()
        .get(relay.url("/v1/files/big-300000/content"))
        .insert_header(("x-request-id", "req-big"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.body().limit(1 << 20).await.unwrap().len(), 300_000);
    let mut missing =
        client().get(relay.url("/v1/nowhere")).insert_header(("x-request-id", "req-404")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    drop(missing.body().await);

    let lines = lines(&log, 3);
    let text = lines.join("\n");
    for secret in ["query-secret", "header-secret", SERVER_KEY] {
        assert!(!text.contains(secret), "{secret} in the access log:\n{text}");
    }
    let entries: Vec<Value> = lines.iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    let by_id = |id: &str| entries.iter().find(|e| e["request_id"] == id).unwrap_or_else(|| panic!("{id}: {text}"));
    let stream = by_id("req-stream");
    assert_eq!(stream["route"], "chat.create");
    assert_eq!((stream["method"].as_str(), stream["path"].as_str()), (Some("POST"), Some("/v1/chat/completions")));
    assert_eq!(stream["status"], 200);
    assert_eq!(stream["bytes_out"].as_u64(), Some(streamed_body.len() as u64));
    assert!(stream["bytes_in"].as_u64().unwrap() > 0);
    assert!(stream["upstream_ttfb_ms"].as_f64().unwrap() <= stream["duration_ms"].as_f64().unwrap());
    assert_eq!((stream["retries"].as_u64(), stream["completed"].as_bool()), (Some(0), Some(true)));
    let big = by_id("req-big");
    assert_eq!((big["route"].as_str(), big["bytes_out"].as_u64()), (Some("files.content"), Some(300_000)));
    let not_found = by_id("req-404");
    assert_eq!((not_found["route"].as_str(), not_found["status"].as_u64()), (Some("-"), Some(404)));
    assert!(not_found["upstream_ttfb_ms"].is_null());
}

#[actix_web::test]
async fn text_lines_name_the_route_status_and_sizes() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let relay = start(&upstream, dir.path(), &log, "text");
    let mut answer = client()
        .get(relay.url("/v1/files/file-1/content"))
        .insert_header(("x-request-id", "req-t"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.body().await.unwrap(), "hello file");
    let lines = lines(&log, 1);
    let fields: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(fields[1..5], ["req-t", "default", "files.content", "\"GET"]);
    assert_eq!(fields[5..9], ["/v1/files/file-1/content\"", "200", "0", "10"]);
}

/// The writer gathers lines before it writes them; those it holds when the
/// relay stops are written before the process exits.
#[actix_web::test]
async fn lines_in_hand_are_written_before_the_relay_exits() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let mut relay = start(&upstream, dir.path(), &log, "text");
    for n in 0..20 {
        let mut answer = client()
            .get(relay.url("/v1/files/file-1/content"))
            .insert_header(("x-request-id", format!("req-stop-{n}")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.body().await.unwrap(), "hello file");
    }
    relay.terminate();
    assert!(relay.exit_within(Duration::from_secs(10)).is_some(), "the relay did not exit after SIGTERM");
    // Read once, after the exit: nothing may come later.
    let text = std::fs::read_to_string(&log).unwrap();
    for n in 0..20 {
        assert!(text.contains(&format!(" req-stop-{n} ")), "req-stop-{n} missing:\n{text}");
    }
}
