//! The chat-completions → Responses bridge (`chat_to_responses`).
//!
//! Goldens in `tests/fixtures/bridge/` (`RELAY_BLESS=1` rewrites them):
//! `request/X.chat.json` → `request/X.responses.json`, a Responses object
//! `response/X.json` → `response/X.chat.json`, a recorded Responses stream
//! `stream/X.sse` → `stream/X.chunks.sse`. Then a real chat client
//! (async-openai) against a relay route and a test upstream that replays the
//! recordings in small pieces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, FinishReason, Role,
};
use futures_util::StreamExt;
use relay::transforms::chat_to_responses::sse::SseSplitter;
use relay::transforms::chat_to_responses::{ChatToResponses, ChatToResponsesSpec, Exchange, ReasoningDisplay};
use serde_json::Value;
use support::golden::assert_golden;
use support::relay::{InProcess, client, routes_dir};
use support::upstream::Upstream;

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bridge").join(dir)
}

/// The inputs of a fixture folder: `(case, path)` for names ending `suffix`
/// that are not outputs (`output` suffix).
fn cases(dir: &str, suffix: &str, output: &str) -> Vec<(String, PathBuf)> {
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let case = name.strip_suffix(suffix)?;
            (!name.ends_with(output) && !case.contains('.')).then(|| (case.to_owned(), path.clone()))
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {dir}");
    cases
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap() + "\n"
}

const GOLDEN_SPEC: &str = r#"
unknown_fields = "drop"
[defaults]
reasoning = { effort = "medium", summary = "auto" }
tools = [{ type = "web_search" }]
"#;

#[test]
fn chat_requests_become_responses_requests() {
    let spec: ChatToResponsesSpec = toml::from_str(GOLDEN_SPEC).unwrap();
    let bridge = ChatToResponses::compile(&spec).unwrap();
    for (case, path) in cases("request", ".chat.json", ".responses.json") {
        let chat: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (body, exchange) = bridge.request(&chat).unwrap_or_else(|e| panic!("{case}: {}", e.message));
        assert_eq!(exchange.include_usage, case == "text", "{case}");
        assert_golden(&fixtures("request").join(format!("{case}.responses.json")), &pretty(&body));
    }
}

#[test]
fn responses_objects_become_chat_completions() {
    let display = [ReasoningDisplay::ReasoningContent, ReasoningDisplay::ThinkTags];
    for (case, path) in cases("response", ".json", ".chat.json") {
        let body = std::fs::read(&path).unwrap();
        for reasoning in display.into_iter().filter(|d| case == "reasoning" || *d == ReasoningDisplay::ReasoningContent)
        {
            let exchange = Exchange { include_usage: false, reasoning };
            let out = match exchange.completion(&body) {
                Ok(chat) => serde_json::from_slice(&chat).unwrap(),
                Err(error) => error,
            };
            let name = match reasoning {
                ReasoningDisplay::ThinkTags => format!("{case}.think_tags.chat.json"),
                _ => format!("{case}.chat.json"),
            };
            assert_golden(&fixtures("response").join(name), &pretty(&out));
        }
    }
}

/// Feeds a recorded stream in `piece`-byte chunks; returns the chat events.
fn translate_stream(text: &str, piece: usize, exchange: Exchange) -> String {
    let mut splitter = SseSplitter::new(1 << 20);
    let mut chat = exchange.stream();
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(piece) {
        for event in splitter.push(chunk).unwrap() {
            out.push_str(&chat.event(&event));
        }
    }
    if let Some(event) = splitter.finish() {
        out.push_str(&chat.event(&event));
    }
    out + &chat.end()
}

#[test]
fn responses_streams_become_chunk_streams() {
    for (case, path) in cases("stream", ".sse", ".chunks.sse") {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut displays = vec![(ReasoningDisplay::ReasoningContent, format!("{case}.chunks.sse"))];
        if case == "reasoning" {
            displays.push((ReasoningDisplay::ThinkTags, format!("{case}.think_tags.chunks.sse")));
        }
        for (reasoning, golden) in displays {
            let exchange = Exchange { include_usage: true, reasoning };
            let whole = translate_stream(&text, text.len(), exchange);
            // Any split of the upstream bytes gives the same events.
            for piece in [1, 7, 64] {
                assert_eq!(translate_stream(&text, piece, exchange), whole, "{case} in {piece}-byte pieces");
            }
            assert_golden(&fixtures("stream").join(golden), &whole);
        }
    }
}

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "bridge"
method = "POST"
path = "/v1/bridge/{case}/chat/completions"
upstream_path = "/responses/{case}"
idle_timeout = "5s"

[[route.transforms]]
type = "chat_to_responses"
unknown_fields = "drop"

[[route]]
id = "impatient"
method = "POST"
path = "/v1/bridge/impatient/{case}/chat/completions"
upstream_path = "/responses/{case}"
idle_timeout = "300ms"

[[route.transforms]]
type = "chat_to_responses"
"#;

async fn setup() -> (Upstream, InProcess, tempfile::TempDir) {
    let upstream = Upstream::start().await;
    let dir = routes_dir(ROUTES);
    let relay = InProcess::start(dir.path(), &upstream.base_url(), &[]).await;
    (upstream, relay, dir)
}

/// A chat client whose base URL is `/v1/bridge/{case}` (`/v1/bridge` for "").
fn openai(relay: &InProcess, case: &str) -> Client<OpenAIConfig> {
    let base = format!("/v1/bridge/{case}");
    let config = OpenAIConfig::new().with_api_base(relay.url(base.trim_end_matches('/'))).with_api_key("sk-client");
    Client::with_config(config)
}

fn chat_request(stream: bool) -> CreateChatCompletionRequest {
    let message = ChatCompletionRequestUserMessageArgs::default().content("Say hello.").build().unwrap();
    let mut request = CreateChatCompletionRequestArgs::default();
    request.model("gpt-5-mini").messages([message.into()]).max_completion_tokens(50u32);
    if stream {
        request
            .stream(true)
            .stream_options(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None });
    }
    request.build().unwrap()
}

#[actix_web::test]
async fn a_chat_client_gets_a_completion_from_a_responses_object() {
    let (upstream, relay, _dir) = setup().await;
    let answer = openai(&relay, "text").chat().create(chat_request(false)).await.unwrap();
    assert_eq!((answer.id.as_str(), answer.object.as_str()), ("resp_text_01", "chat.completion"));
    assert_eq!((answer.created, answer.model.as_str()), (1767225600, "gpt-5-mini-2025-08-07"));
    let choice = &answer.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("Hello! How can I help?"));
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (12, 9, 21));

    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/responses/text");
    assert_eq!(seen.header("accept-encoding"), Some("identity"));
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"model": "gpt-5-mini", "max_output_tokens": 50,
        "input": [{"type": "message", "role": "user", "content": "Say hello."}]})
    );

    let tools = openai(&relay, "tools").chat().create(chat_request(false)).await.unwrap();
    assert_eq!(tools.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    let calls: Vec<(String, String, String)> = tools.choices[0]
        .message
        .tool_calls
        .iter()
        .flatten()
        .map(|call| match call {
            ChatCompletionMessageToolCalls::Function(f) => {
                (f.id.clone(), f.function.name.clone(), f.function.arguments.clone())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("call_w1".to_owned(), "get_weather".to_owned(), r#"{"city":"Paris"}"#.to_owned()),
            ("call_w2".to_owned(), "get_weather".to_owned(), r#"{"city":"Oslo"}"#.to_owned()),
        ]
    );
}

#[actix_web::test]
async fn a_chat_client_streams_text_with_usage_and_done() {
    let (_upstream, relay, _dir) = setup().await;
    let mut stream = openai(&relay, "text").chat().create_stream(chat_request(true)).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.unwrap());
    }
    // async-openai stops at `[DONE]`: role, 5 pieces, finish, usage.
    assert_eq!(chunks.len(), 8);
    for chunk in &chunks {
        assert_eq!((chunk.id.as_str(), chunk.object.as_str()), ("resp_text_01", "chat.completion.chunk"));
        assert_eq!((chunk.created, chunk.model.as_str()), (1767225600, "gpt-5-mini-2025-08-07"));
    }
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    let pieces: Vec<String> = chunks[1..6].iter().map(|c| c.choices[0].delta.content.clone().unwrap()).collect();
    assert_eq!(pieces, ["Hel", "lo", "! ", "How can", " I help?"]);
    assert!(chunks[..7].iter().all(|c| c.usage.is_none() && c.choices.len() == 1));
    assert_eq!(chunks[6].choices[0].finish_reason, Some(FinishReason::Stop));
    assert!(chunks[7].choices.is_empty());
    assert_eq!(chunks[7].usage.as_ref().map(|u| u.total_tokens), Some(21));
}

#[actix_web::test]
async fn a_chat_client_streams_tool_call_deltas() {
    let (_upstream, relay, _dir) = setup().await;
    let mut stream = openai(&relay, "tools").chat().create_stream(chat_request(true)).await.unwrap();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        let Some(choice) = chunk.choices.first() else { continue };
        finish = finish.or(choice.finish_reason);
        for delta in choice.delta.tool_calls.iter().flatten() {
            let index = delta.index as usize;
            if index == calls.len() {
                // The first delta of a call names it.
                let function = delta.function.as_ref().unwrap();
                calls.push((delta.id.clone().unwrap(), function.name.clone().unwrap(), String::new()));
            }
            let arguments = delta.function.as_ref().and_then(|f| f.arguments.as_deref()).unwrap_or_default();
            calls[index].2.push_str(arguments);
        }
    }
    assert_eq!(finish, Some(FinishReason::ToolCalls));
    assert_eq!(
        calls,
        [
            ("call_w1".to_owned(), "get_weather".to_owned(), r#"{"city":"Paris"}"#.to_owned()),
            ("call_w2".to_owned(), "get_weather".to_owned(), r#"{"city":"Oslo"}"#.to_owned()),
        ]
    );
}

#[actix_web::test]
async fn an_upstream_error_mid_stream_reaches_the_chat_client() {
    let (_upstream, relay, _dir) = setup().await;
    let mut stream = openai(&relay, "error").chat().create_stream(chat_request(true)).await.unwrap();
    let role = stream.next().await.unwrap().unwrap();
    assert_eq!(role.choices[0].delta.role, Some(Role::Assistant));
    let partial = stream.next().await.unwrap().unwrap();
    assert_eq!(partial.choices[0].delta.content.as_deref(), Some("Partial"));
    // async-openai has no type for a streamed error: it reports the event.
    match stream.next().await {
        Some(Err(OpenAIError::JSONDeserialize(_, content))) => {
            let error: Value = serde_json::from_str(&content).unwrap();
            assert_eq!(error["error"]["code"], "rate_limit_exceeded");
            assert_eq!(error["error"]["message"], "Rate limit reached for gpt-5-mini.");
        }
        other => panic!("expected the error event, got {other:?}"),
    }
    assert!(stream.next().await.is_none());
}

/// The body of a streamed bridge answer, as text.
async fn raw_stream(relay: &InProcess, case: &str) -> String {
    let url = relay.url(&format!("/v1/bridge/{case}/chat/completions"));
    let body = serde_json::json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut response = client().post(url).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("content-type").unwrap(), "text/event-stream");
    String::from_utf8(response.body().limit(1 << 20).await.unwrap().to_vec()).unwrap()
}

/// The `data:` of the last event of an SSE body.
fn last_event(text: &str) -> Value {
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap()
}

#[actix_web::test]
async fn a_failed_response_or_a_broken_upstream_ends_with_an_error_event() {
    let (_upstream, relay, _dir) = setup().await;
    let failed = raw_stream(&relay, "failed").await;
    assert!(!failed.contains("[DONE]"), "{failed}");
    let error = last_event(&failed);
    assert_eq!(error["error"]["code"], "server_error", "{failed}");
    assert_eq!(error["error"]["message"], "The model failed to generate a response.");

    // The upstream's connection ends in the middle of an event (and of its
    // chunked body): the relay sees the connection cut (`upstream::eof`).
    let cut = raw_stream(&relay, "cut").await;
    assert!(cut.contains("\"content\":\"Hel\"") && !cut.contains("[DONE]"), "{cut}");
    let error = last_event(&cut);
    assert_eq!(error["error"]["code"], "upstream_unreachable", "{cut}");
    assert!(error["error"]["message"].as_str().unwrap().contains("inside a chunked body"), "{cut}");

    // An upstream that goes quiet past the route's idle timeout.
    let quiet = raw_stream(&relay, "impatient/gated-never").await;
    assert!(quiet.contains("\"content\":\"Hel\"") && !quiet.contains("[DONE]"), "{quiet}");
    let error = last_event(&quiet);
    assert_eq!(
        (error["error"]["type"].as_str(), error["error"]["code"].as_str()),
        (Some("server_error"), Some("upstream_timeout"))
    );
}

#[actix_web::test]
async fn each_chunk_reaches_the_client_before_the_upstream_sends_more() {
    let (upstream, relay, _dir) = setup().await;
    let url = relay.url("/v1/bridge/gated-b1/chat/completions");
    let body = serde_json::json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut response = client().post(url).send_json(&body).await.unwrap();
    let mut seen = String::new();
    // The upstream holds everything after its first text delta until the
    // gate opens: a relay that collected the stream would never show it.
    while !seen.contains("\"content\":\"Hel\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.next()).await.expect("a chunk in time");
        seen.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
    }
    assert!(!seen.contains("\"content\":\"lo\""), "{seen}");
    upstream.open_gate("b1");
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), response.next()).await.unwrap() {
        seen.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(seen.contains("\"content\":\" I help?\"") && seen.ends_with("data: [DONE]\n\n"), "{seen}");
}

#[actix_web::test]
async fn upstream_errors_pass_and_bad_requests_stop_at_the_relay() {
    let (upstream, relay, _dir) = setup().await;
    let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let mut response =
        client().post(relay.url("/v1/bridge/status-429/chat/completions")).send_json(&body).await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["message"], "upstream says 429");
    assert_eq!(error["error"]["type"], "requests");

    let before = upstream.requests().len();
    let url = relay.url("/v1/bridge/text/chat/completions");
    let mut response =
        client().post(url).send_json(&serde_json::json!({"model": "m", "messages": "hi"})).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        (error["error"]["code"].as_str(), error["error"]["param"].as_str()),
        (Some("invalid_chat_request"), Some("messages"))
    );
    assert_eq!(upstream.requests().len(), before);
}

#[actix_web::test]
async fn the_shipped_bridge_route_serves_chat_clients_from_responses() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let mut stream = openai(&relay, "").chat().create_stream(chat_request(true)).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        if let Some(choice) = chunk.unwrap().choices.first() {
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    assert_eq!(text, "Hello! How can I help?");
    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/responses");
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!((sent["stream"].as_bool(), sent.get("messages")), (Some(true), None));
}
