#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! Consumers end to end: the shipped `examples/consumers/` on top of the
//! shipped `routes.d/`, served by the real binary in front of a test
//! upstream that reports usage, called by a real client (async-openai) and
//! over plain HTTP. Limits, budgets and permissions are checked where they
//! are enforced: at the relay, before anything reaches the upstream.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::log_file::complete_lines;
use support::relay::{Process, client};
use support::upstream::Upstream;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `relay serve --routes routes.d --routes DIR --admin-listen`.
fn start(upstream: &Upstream, dir: &Path) -> Process {
    start_logged(upstream, dir, Path::new("off"))
}

/// Like [`start`], with the access log written to `access_log`.
fn start_logged(upstream: &Upstream, dir: &Path, access_log: &Path) -> Process {
    let base = upstream.base_url();
    let env = [("OPENAI_BASE_URL", base.as_str()), ("RELAY_REDIS_URL", "")];
    let (dir, log) = (dir.to_str().unwrap(), access_log.to_str().unwrap());
    let traffic = format!("{log}.traffic");
    let traffic = if log == "off" { Vec::new() } else { vec!["--log", traffic.as_str()] };
    let mut args = vec!["--routes", dir, "--admin-listen", "127.0.0.1:0", "--access-log", log];
    args.extend(traffic);
    Process::start(&root().join("routes.d"), &args, &env)
}

fn openai(relay: &Process, key: &str) -> Client<OpenAIConfig> {
    Client::with_config(OpenAIConfig::new().with_api_base(relay.url("/v1")).with_api_key(key))
}

fn chat(model: &str, stream: bool) -> CreateChatCompletionRequest {
    let message = ChatCompletionRequestUserMessageArgs::default().content("Say hello.").build().unwrap();
    let mut request = CreateChatCompletionRequestArgs::default();
    request.model(model).messages([message.into()]).stream(stream);
    if stream {
        request.stream_options(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None });
    }
    request.build().unwrap()
}

/// A plain chat request with `key`: status, headers we check, JSON body.
async fn post_chat(relay: &Process, key: &str, model: &str) -> (u16, awc::http::header::HeaderMap, Value) {
    let mut answer = client()
        .post(relay.url("/v1/chat/completions"))
        .insert_header(("authorization", format!("Bearer {key}")))
        .send_json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    let body = answer.body().await.unwrap();
    (answer.status().as_u16(), answer.headers().clone(), serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `/relay/usage` on the admin address.
async fn usage(relay: &Process) -> Value {
    client().get(relay.url_on("admin", "/relay/usage")).send().await.unwrap().json().limit(1 << 20).await.unwrap()
}

/// Waits (5 s at most) until `consumer`'s window `name` has counted `used`.
async fn wait_for_window(relay: &Process, consumer: &str, name: &str, used: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = usage(relay).await["windows"][consumer][name]["used"].as_u64();
        if seen == Some(used) {
            return;
        }
        assert!(Instant::now() < deadline, "{consumer}'s {name} stayed at {seen:?}, not {used}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn minute_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 60
}

#[actix_web::test]
async fn alice_gets_three_requests_a_minute_then_429_with_openai_headers() {
    let upstream = Upstream::start().await;
    let logs = tempfile::tempdir().unwrap();
    let access_log = logs.path().join("access.log");
    let relay = start_logged(&upstream, &root().join("examples/consumers/routes.d"), &access_log);
    // The window is the clock's minute: if one ends during the test, the
    // count starts again, so the test does too (once).
    for attempt in 0..2 {
        let minute = minute_now();
        let sent_before = upstream.requests().len();
        for _ in 0..3 {
            let answer = openai(&relay, "rk-alice-test").chat().create(chat("gpt-4o-mini", false)).await;
            if answer.is_err() && minute_now() != minute {
                break;
            }
            assert_eq!(answer.unwrap().object, "chat.completion");
        }
        let (status, headers, body) = post_chat(&relay, "rk-alice-test", "gpt-4o-mini").await;
        if minute_now() != minute && attempt == 0 {
            continue;
        }
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        let retry_after: u64 = headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(headers.get("x-ratelimit-limit-requests").unwrap(), "3");
        assert_eq!(headers.get("x-ratelimit-remaining-requests").unwrap(), "0");
        assert_eq!(upstream.requests().len(), sent_before + 3, "the refused request never reached the upstream");
        // The access log names the consumer, with the tokens of each answer.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines = complete_lines(&access_log);
            let alice: Vec<&String> = lines.iter().filter(|line| line.contains(" consumer=alice")).collect();
            if alice.len() >= 4 {
                assert!(alice.iter().any(|line| line.contains(" 200 ") && line.ends_with("tokens=3+6")), "{lines:?}");
                assert!(alice.iter().any(|line| line.contains(" 429 ")), "{lines:?}");
                break;
            }
            assert!(Instant::now() < deadline, "no access lines for alice: {lines:?}");
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        // So does the traffic log's client-request event.
        let traffic = access_log.with_extension("log.traffic");
        loop {
            let lines = complete_lines(&traffic);
            let named = lines.iter().filter(|l| l.contains("client-request") && l.contains(r#""consumer":"alice""#));
            if named.count() >= 4 {
                break;
            }
            assert!(Instant::now() < deadline, "no client-request events naming alice: {lines:?}");
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        relay_stop(relay);
        return;
    }
}

#[actix_web::test]
async fn bob_spends_his_daily_tokens_then_gets_insufficient_quota() {
    let upstream = Upstream::start().await;
    let relay = start(&upstream, &root().join("examples/consumers/routes.d"));
    let bob = openai(&relay, "rk-bob-test");
    // Streamed with the usage chunk: counted as the stream ends.
    let mut stream = bob.chat().create_stream(chat("gpt-4o-mini", true)).await.unwrap();
    let mut usage_seen = None;
    while let Some(chunk) = stream.next().await {
        usage_seen = chunk.unwrap().usage.or(usage_seen);
    }
    assert_eq!(usage_seen.unwrap().total_tokens, 9);
    wait_for_window(&relay, "bob", "budget_tokens", 9).await;
    // Streamed without asking for the usage: the relay asks (and counts
    // it), and the client's stream has no usage chunk.
    let mut quiet = chat("gpt-4o-mini", true);
    quiet.stream_options = None;
    let mut stream = bob.chat().create_stream(quiet).await.unwrap();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.usage.is_none() && !chunk.choices.is_empty(), "{chunk:?}");
        chunks += 1;
    }
    assert_eq!(chunks, 3);
    let sent: Value = serde_json::from_slice(&upstream.last().body).unwrap();
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    wait_for_window(&relay, "bob", "budget_tokens", 18).await;
    // The same with `stream` spelt with an escape: still asked, still counted.
    let escaped = r#"{"model":"gpt-4o-mini","str\u0065am":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut answer = client()
        .post(relay.url("/v1/chat/completions"))
        .insert_header(("authorization", "Bearer rk-bob-test"))
        .insert_header(("content-type", "application/json"))
        .send_body(escaped)
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let streamed = answer.body().limit(1 << 20).await.unwrap();
    assert!(!String::from_utf8_lossy(&streamed).contains("\"usage\":{"), "{streamed:?}");
    let sent: Value = serde_json::from_slice(&upstream.last().body).unwrap();
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    wait_for_window(&relay, "bob", "budget_tokens", 27).await;
    // Every answer uses 9 tokens: 25 more leave 252 used of 250.
    for _ in 0..25 {
        bob.chat().create(chat("gpt-4o-mini", false)).await.unwrap();
    }
    wait_for_window(&relay, "bob", "budget_tokens", 252).await;
    let sent_before = upstream.requests().len();
    let (status, headers, body) = post_chat(&relay, "rk-bob-test", "gpt-4o-mini").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_quota");
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(upstream.requests().len(), sent_before);
    // The totals say who used what, by model and route.
    let totals = usage(&relay).await;
    let row = totals["usage"].as_array().unwrap().iter().find(|row| row["consumer"] == "bob").unwrap().clone();
    assert_eq!((row["model"].as_str(), row["route"].as_str()), (Some("gpt-test"), Some("chat.completions.create")));
    assert_eq!((row["answers"].as_u64(), row["total_tokens"].as_u64()), (Some(28), Some(252)));
    // Prometheus reads the same totals on the admin address.
    let metrics = client().get(relay.url_on("admin", "/metrics")).send().await.unwrap().body().await.unwrap();
    let line = r#"relay_consumer_tokens_total{consumer="bob",model="gpt-test",route="chat.completions.create",kind="output"} 168"#;
    assert!(String::from_utf8_lossy(&metrics).contains(line), "{}", String::from_utf8_lossy(&metrics));
    // Alice's key is untouched by Bob's budget.
    assert_eq!(post_chat(&relay, "rk-alice-test", "gpt-4o-mini").await.0, 200);
    relay_stop(relay);
}

#[actix_web::test]
async fn carol_may_use_one_model_and_two_kinds_of_routes() {
    let upstream = Upstream::start().await;
    let relay = start(&upstream, &root().join("examples/consumers/routes.d"));
    let carol = openai(&relay, "rk-carol-test");
    assert_eq!(carol.chat().create(chat("gpt-4o-mini", false)).await.unwrap().object, "chat.completion");
    let sent = upstream.requests().len();

    let (status, _, body) = post_chat(&relay, "rk-carol-test", "gpt-4o").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("model_not_allowed")), "{body}");
    assert_eq!(body["error"]["param"], "model");
    let streamed = carol.chat().create_stream(chat("gpt-4o", true)).await;
    assert!(streamed.is_err() || streamed.unwrap().next().await.unwrap().is_err(), "a refused stream fails");

    let mut files = client()
        .get(relay.url("/v1/files"))
        .insert_header(("authorization", "Bearer rk-carol-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(files.status().as_u16(), 403);
    let body: Value = files.json().await.unwrap();
    assert_eq!(body["error"]["code"], "route_not_allowed");

    let mut model = client()
        .get(relay.url("/v1/models/gpt-4o"))
        .insert_header(("authorization", "Bearer rk-carol-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(model.status().as_u16(), 404, "{:?}", model.body().await);
    assert_eq!(upstream.requests().len(), sent, "nothing refused reached the upstream");
    // The model list shows Carol only her model (the test upstream has
    // three others); Alice, who may use any, gets the upstream's list.
    let list = |key: &'static str| {
        client().get(relay.url("/v1/models")).insert_header(("authorization", format!("Bearer {key}"))).send()
    };
    let carols: Value = list("rk-carol-test").await.unwrap().json().await.unwrap();
    assert_eq!(carols, json!({"object": "list", "data": []}));
    let alices: Value = list("rk-alice-test").await.unwrap().json().await.unwrap();
    assert_eq!(alices["data"].as_array().unwrap().len(), 3);

    // No key, or a wrong one: 401, as before consumers existed.
    assert_eq!(post_chat(&relay, "rk-nobody", "gpt-4o-mini").await.0, 401);
    relay_stop(relay);
}

#[actix_web::test]
async fn a_key_rotates_and_a_revoked_key_stops_through_hot_reload() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consumers.toml");
    let slow = "[[route]]\nid = \"test.slow\"\nmethod = \"GET\"\npath = \"/v1/sse-slow\"\nupstream = \"openai\"\n";
    let hash = |key: &str| relay::policy::consumer::written_digest(key);
    let write = |keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|key| format!("\"{}\"", hash(key))).collect();
        std::fs::write(&file, format!("[consumer.dana]\nkeys = [{}]\n\n{slow}", keys.join(", "))).unwrap();
    };
    write(&["rk-dana-old"]);
    let relay = start(&upstream, dir.path());
    assert_eq!(post_chat(&relay, "rk-dana-old", "gpt-4o-mini").await.0, 200);

    // A stream in flight under the old key (ten events, 100 ms apart).
    let mut in_flight =
        client().get(relay.url("/v1/sse-slow")).insert_header(("x-relay-key", "rk-dana-old")).send().await.unwrap();
    assert_eq!(in_flight.status().as_u16(), 200);

    // Rotation: both keys work while clients move over.
    write(&["rk-dana-old", "rk-dana-new"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while post_chat(&relay, "rk-dana-new", "gpt-4o-mini").await.0 != 200 {
        assert!(Instant::now() < deadline, "the new key never worked");
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(post_chat(&relay, "rk-dana-old", "gpt-4o-mini").await.0, 200);

    // Revocation: the old key is refused; the stream it started finishes.
    write(&["rk-dana-new"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while post_chat(&relay, "rk-dana-old", "gpt-4o-mini").await.0 != 401 {
        assert!(Instant::now() < deadline, "the revoked key still works");
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    let body = in_flight.body().limit(1 << 20).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&body).matches("data: ").count(), 10);
    assert_eq!(post_chat(&relay, "rk-dana-new", "gpt-4o-mini").await.0, 200);
    relay_stop(relay);
}

#[test]
fn a_plaintext_key_is_refused_with_its_digest_as_the_hint() {
    let dir = support::relay::routes_dir("[consumer.eve]\nkeys = [\"rk-eve-plain\"]\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["check", "--routes"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("routes.toml:2:9: error: a relay key is written in plain text"), "{stderr}");
    assert!(stderr.contains(&relay::policy::consumer::written_digest("rk-eve-plain")), "{stderr}");
}

fn relay_stop(relay: Process) {
    drop(relay);
}

#[actix_web::test]
async fn a_form_is_read_only_up_to_its_model_and_sent_on_unchanged() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hash = relay::policy::consumer::written_digest("rk-frank-test");
    std::fs::write(
        dir.path().join("frank.toml"),
        format!("[consumer.frank]\nkeys = [\"{hash}\"]\nmodels = [\"whisper-1\"]\n"),
    )
    .unwrap();
    let relay = start(&upstream, dir.path());
    // The file first, then the model: the relay reads past the file.
    let form = |model: &str| {
        let audio: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut form = b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n".to_vec();
        form.extend_from_slice(&audio);
        form.extend_from_slice(
            format!(
                "\r\n--b0undary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n--b0undary--\r\n"
            )
            .as_bytes(),
        );
        form
    };
    let send = |body: Vec<u8>| {
        client()
            .post(relay.url("/v1/audio/transcriptions"))
            .insert_header(("authorization", "Bearer rk-frank-test"))
            .insert_header(("content-type", "multipart/form-data; boundary=b0undary"))
            .send_body(body)
    };
    let mut refused = send(form("gpt-4o-transcribe")).await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_allowed");
    assert!(upstream.requests().is_empty(), "nothing refused reached the upstream");

    let allowed = form("whisper-1");
    let answer = send(allowed.clone()).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(upstream.last().body, allowed, "the form went upstream byte for byte");

    // A file upload has no model: read to its end (once), then sent whole;
    // several at once, each byte for byte.
    let mut upload = b"--b0undary\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n\r\n".to_vec();
    upload.extend((0..8 * 1024 * 1024u32).map(|i| b'a' + (i % 26) as u8));
    upload.extend_from_slice(b"\r\n--b0undary--\r\n");
    let uploads = (0..4).map(|_| {
        client()
            .post(relay.url("/v1/files"))
            .insert_header(("authorization", "Bearer rk-frank-test"))
            .insert_header(("content-type", "multipart/form-data; boundary=b0undary"))
            .send_body(upload.clone())
    });
    for answer in futures_util::future::join_all(uploads).await {
        assert_eq!(answer.unwrap().status().as_u16(), 200);
    }
    let sent = upstream.requests();
    assert_eq!(sent.len(), 5);
    assert!(sent[1..].iter().all(|request| request.body == upload), "every upload went upstream byte for byte");
    relay_stop(relay);
}

#[actix_web::test]
async fn a_restart_keeps_the_counters_saved_to_the_state_file() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let counters = dir.path().join("counters.json");
    let hash = relay::policy::consumer::written_digest("rk-gil-test");
    let text = format!(
        "[consumer.gil]\nkeys = [\"{hash}\"]\nbudget = {{ tokens = \"1M/month\" }}\n\n[state]\nfile = \"{}\"\n",
        counters.display()
    );
    std::fs::write(dir.path().join("gil.toml"), text).unwrap();
    let mut relay = start(&upstream, dir.path());
    for _ in 0..2 {
        assert_eq!(post_chat(&relay, "rk-gil-test", "gpt-4o-mini").await.0, 200);
    }
    wait_for_window(&relay, "gil", "budget_tokens", 18).await;
    relay.terminate();
    let exit = relay.exit_within(Duration::from_secs(20)).expect("the relay exits after SIGTERM");
    assert!(exit.success(), "{exit:?}");
    assert!(std::fs::read_to_string(&counters).unwrap().contains("relay:gil:budget_tokens:"));

    let relay = start(&upstream, dir.path());
    wait_for_window(&relay, "gil", "budget_tokens", 18).await;
    assert_eq!(post_chat(&relay, "rk-gil-test", "gpt-4o-mini").await.0, 200);
    wait_for_window(&relay, "gil", "budget_tokens", 27).await;
    relay_stop(relay);
}

#[test]
fn the_worked_example_in_docs_compiles_over_the_shipped_routes() {
    let doc = std::fs::read_to_string(root().join("docs/consumers.md")).unwrap();
    let block = doc.split("`routes.d/50-consumers.toml`:\n\n```toml\n").nth(1).unwrap().split("```").next().unwrap();
    // The digests are shortened in the text: give each a real one.
    let mut n = 0;
    let text = regex::Regex::new("sha256:[0-9a-f]+…")
        .unwrap()
        .replace_all(block, |_: &regex::Captures<'_>| {
            n += 1;
            relay::policy::consumer::written_digest(&format!("key-{n}"))
        })
        .into_owned();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("50-consumers.toml"), text).unwrap();
    let env = relay::env::Env::from_pairs([("FAQ_GPT_KEY", "rk-faq"), ("OPENAI_BASE_URL", "http://up.test/v1")]);
    let dirs = [root().join("routes.d"), dir.path().to_path_buf()];
    let table = relay::compile::load_dirs(&dirs, &env).unwrap_or_else(|errors| panic!("{errors:?}"));
    let names: Vec<&str> = table.consumers.list.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["faq-gpt", "research", "support"]);
    assert!(table.consumers.price("gpt-4o-2024-08-06").is_some_and(|p| p.output == 10.0));
    assert!(table.consumers.price("gpt-4o-mini").is_some_and(|p| p.output == 0.60), "the exact name wins");
}

/// `RELAY_AUTH_ENABLED=true` asks for relay keys: consumers' keys are keys,
/// so the relay starts without `RELAY_KEYS` and asks every client for one.
#[actix_web::test]
async fn the_auth_switch_is_satisfied_by_consumers_keys() {
    let upstream = Upstream::start().await;
    let base = upstream.base_url();
    let dir = root().join("examples/consumers/routes.d");
    let env = [("OPENAI_BASE_URL", base.as_str()), ("RELAY_REDIS_URL", ""), ("RELAY_AUTH_ENABLED", "true")];
    let relay = Process::start(&root().join("routes.d"), &["--routes", dir.to_str().unwrap()], &env);
    let (status, _, body) = post_chat(&relay, "rk-carol-test", "gpt-4o-mini").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = post_chat(&relay, "rk-nobody", "gpt-4o-mini").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_relay_key")), "{body}");
}
