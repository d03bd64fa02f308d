#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! The shipped `examples/two-ports/` end to end, loaded on top of the shipped
//! `routes.d/`: the real binary on its two listeners, a real
//! chat-completions client (async-openai) on each, and a test upstream that
//! speaks both Chat Completions and Responses.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs};
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::relay::Process;
use support::upstream::Upstream;

const CLIENT_KEY: &str = "sk-client-own-key";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn start(upstream: &Upstream) -> Process {
    start_with(upstream, &root().join("examples/two-ports"))
}

/// `relay serve --routes routes.d --routes DIR`, both ports on free ports.
fn start_with(upstream: &Upstream, two_ports: &Path) -> Process {
    let env = [
        ("OPENAI_BASE_URL", upstream.base_url()),
        ("RELAY_CHAT_LISTEN", "127.0.0.1:0".to_owned()),
        ("RELAY_BRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let two_ports = two_ports.to_str().unwrap();
    Process::start(&root().join("routes.d"), &["--routes", two_ports], &env)
}

fn openai(relay: &Process, listener: &str) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new().with_api_base(relay.url_on(listener, "/v1")).with_api_key(CLIENT_KEY);
    Client::with_config(config)
}

fn request(stream: bool) -> async_openai::types::chat::CreateChatCompletionRequest {
    let message = ChatCompletionRequestUserMessageArgs::default().content("Say hello.").build().unwrap();
    CreateChatCompletionRequestArgs::default()
        .model("gpt-5-mini")
        .messages([message.into()])
        .stream(stream)
        .build()
        .unwrap()
}

#[actix_web::test]
async fn one_port_proxies_chat_the_other_bridges_it_to_responses() {
    let upstream = Upstream::start().await;
    let relay = start(&upstream);

    // 5101: the call goes upstream as it is, with the client's own key.
    let answer = openai(&relay, "default").chat().create(request(false)).await.unwrap();
    assert_eq!(answer.object, "chat.completion");
    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {CLIENT_KEY}").as_str()));

    // 5102: the same call becomes a Responses request with the example's
    // defaults, and the answer comes back as a chat completion.
    let answer = openai(&relay, "bridge").chat().create(request(false)).await.unwrap();
    assert_eq!(answer.object, "chat.completion");
    assert_eq!(answer.choices[0].message.content.as_deref(), Some("Hello! How can I help?"));
    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/responses"));
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {CLIENT_KEY}").as_str()));
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["reasoning"], serde_json::json!({"effort": "medium", "summary": "auto"}));
    assert_eq!(sent["tools"], serde_json::json!([{"type": "web_search"}]));
    assert_eq!(sent["input"][0]["role"], "user");
    assert!(sent["input"][0]["content"].to_string().contains("Say hello."), "{sent}");

    // Streaming through the bridge: chunks, then the end.
    let mut stream = openai(&relay, "bridge").chat().create_stream(request(true)).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.object, "chat.completion.chunk");
        text.extend(chunk.choices.iter().filter_map(|c| c.delta.content.clone()));
    }
    assert!(!text.is_empty());
    upstream.stop().await;
}

#[actix_web::test]
async fn each_port_has_its_own_model_list() {
    let upstream = Upstream::start().await;
    let relay = start(&upstream);
    let chat = openai(&relay, "default").models().list().await.unwrap();
    let bridge = openai(&relay, "bridge").models().list().await.unwrap();
    let ids = |list: &async_openai::types::models::ListModelResponse| {
        list.data.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&chat), ["gpt-test", "o-test"]);
    assert_eq!(ids(&bridge), ["gpt-test-codex"]);

    // A model hidden on a port answers 404 there before anything is sent;
    // a shown one is forwarded.
    let before = upstream.requests().len();
    for (listener, hidden) in [("default", "gpt-test-codex"), ("bridge", "gpt-test")] {
        let (status, body) = get(&relay.url_on(listener, &format!("/v1/models/{hidden}"))).await;
        assert_eq!(status, 404, "{listener}: {body}");
        assert_eq!(body["error"]["code"], "model_not_found", "{listener}: {body}");
    }
    assert_eq!(upstream.requests().len(), before);
    let (status, _) = get(&relay.url_on("bridge", "/v1/models/gpt-test-codex")).await;
    assert_eq!(status, 200);
    assert_eq!(upstream.last().target, "/v1/models/gpt-test-codex");
    upstream.stop().await;
}

/// A GET through the relay: status and JSON body.
async fn get(url: &str) -> (u16, Value) {
    let mut response = support::relay::client().get(url).send().await.unwrap();
    let body = response.body().await.unwrap();
    (response.status().as_u16(), serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A JSON POST through the relay with the client's key: status and body.
async fn post(url: &str, body: &Value) -> (u16, Value) {
    let mut response = support::relay::client()
        .post(url)
        .insert_header(("authorization", format!("Bearer {CLIENT_KEY}")))
        .send_json(body)
        .await
        .unwrap();
    let answer = response.body().await.unwrap();
    (response.status().as_u16(), serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn every_other_endpoint_passes_through_on_both_ports_with_the_clients_key() {
    let upstream = Upstream::start().await;
    let relay = start(&upstream);
    let embedding = json!({"model": "text-embedding-3-small", "input": "hello"});
    for listener in ["default", "bridge"] {
        let (status, _) = post(&relay.url_on(listener, "/v1/embeddings"), &embedding).await;
        assert_eq!(status, 200, "{listener}");
        let seen = upstream.last();
        assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/embeddings"), "{listener}");
        assert_eq!(seen.header("authorization"), Some(format!("Bearer {CLIENT_KEY}").as_str()));
        assert_eq!(serde_json::from_slice::<Value>(&seen.body).unwrap(), embedding);

        let (status, files) = get(&relay.url_on(listener, "/v1/files")).await;
        assert_eq!((status, files["object"].as_str()), (200, Some("list")), "{listener}");
    }
    upstream.stop().await;
}

#[actix_web::test]
async fn the_bridge_adds_its_defaults_only_when_the_client_sent_no_tools() {
    let upstream = Upstream::start().await;
    let relay = start(&upstream);
    let url = relay.url_on("bridge", "/v1/chat/completions");
    let plain = json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _) = post(&url, &plain).await;
    assert_eq!(status, 200);
    let sent: Value = serde_json::from_slice(&upstream.last().body).unwrap();
    assert_eq!(sent["tools"], json!([{"type": "web_search"}]));
    assert_eq!(sent["reasoning"], json!({"effort": "medium", "summary": "auto"}));

    let mut with_tools = plain.clone();
    with_tools["tools"] = json!([{"type": "function", "function": {"name": "lookup", "parameters": {}}}]);
    let (status, answer) = post(&url, &with_tools).await;
    assert_eq!((status, answer["object"].as_str()), (200, Some("chat.completion")), "{answer}");
    let sent: Value = serde_json::from_slice(&upstream.last().body).unwrap();
    assert_eq!(sent["tools"], json!([{"type": "function", "name": "lookup", "parameters": {}}]));
    assert!(sent.get("reasoning").is_none(), "{sent}");
    upstream.stop().await;
}

/// A copy of `examples/two-ports` to change files in.
fn two_ports_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("examples/two-ports")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// The ids `GET /v1/models` lists on `listener`, once `wanted` holds
/// (the relay reloads after a file change), or what it listed at the deadline.
async fn models_until(relay: &Process, listener: &str, wanted: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = get(&relay.url_on(listener, "/v1/models")).await;
        let ids: Vec<String> =
            list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
        if wanted(&ids) || Instant::now() > deadline {
            return ids;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn models_json_overrides_the_list_and_a_broken_one_keeps_the_last_good_list() {
    let upstream = Upstream::start().await;
    let dir = two_ports_copy();
    let models: PathBuf = dir.path().join("models.json");
    std::fs::write(&models, r#"["gpt-file", "gpt-file-codex", "codex-file"]"#).unwrap();
    let relay = start_with(&upstream, dir.path());
    assert_eq!(models_until(&relay, "default", |_| true).await, ["gpt-file"]);
    assert_eq!(models_until(&relay, "bridge", |_| true).await, ["gpt-file-codex", "codex-file"]);
    assert!(relay.wait_for_log("model list served from the local file"));

    // Broken: the last good list stays, and the reload reports the file.
    std::fs::write(&models, "[\"gpt-half\", ").unwrap();
    assert!(relay.wait_for_log("Routes reloaded with errors"), "{}", relay.log.lock().unwrap());
    assert_eq!(models_until(&relay, "default", |_| true).await, ["gpt-file"]);
    let (_, status) = get(&relay.url_on("default", "/relay/status")).await;
    let errors = status["last_reload"]["errors"].to_string();
    assert!(errors.contains("models.json is not JSON"), "{status}");

    // Fixed: the new list; removed: the upstream's list again.
    std::fs::write(&models, r#"{"object": "list", "data": [{"id": "gpt-fixed"}]}"#).unwrap();
    assert_eq!(models_until(&relay, "default", |ids| ids == ["gpt-fixed"]).await, ["gpt-fixed"]);
    std::fs::remove_file(&models).unwrap();
    let from_upstream = models_until(&relay, "default", |ids| ids == ["gpt-test", "o-test"]).await;
    assert_eq!(from_upstream, ["gpt-test", "o-test"]);
    upstream.stop().await;
}
