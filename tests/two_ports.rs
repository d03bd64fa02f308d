#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! The shipped `examples/two-ports/` end to end: the real binary on its two
//! listeners, a real chat-completions client (async-openai) on each, and a
//! test upstream that speaks both Chat Completions and Responses.

mod support;

use std::path::Path;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs};
use futures_util::StreamExt;
use serde_json::Value;
use support::relay::Process;
use support::upstream::Upstream;

const CLIENT_KEY: &str = "sk-client-own-key";

fn start(upstream: &Upstream) -> Process {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/two-ports");
    let env = [
        ("OPENAI_BASE_URL", upstream.base_url()),
        ("RELAY_CHAT_LISTEN", "127.0.0.1:0".to_owned()),
        ("RELAY_BRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Process::start(&dir, &[], &env)
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
    let answer = openai(&relay, "chat").chat().create(request(false)).await.unwrap();
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
    let chat = openai(&relay, "chat").models().list().await.unwrap();
    let bridge = openai(&relay, "bridge").models().list().await.unwrap();
    let ids = |list: &async_openai::types::models::ListModelResponse| {
        list.data.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&chat), ["gpt-test", "o-test"]);
    assert_eq!(ids(&bridge), ["gpt-test", "gpt-test-codex", "o-test"]);
    upstream.stop().await;
}
