//! `POST /chat/completions`: a reply echoing the last user message, whole or
//! streamed as `chat.completion.chunk` events ending in `[DONE]`.

use actix_web::{HttpResponse, post, web};
use serde_json::{Value, json};

use super::text::{last_user_text, model_of, reply_to, streams, tokens, words};
use super::{ApiError, State, event_stream, now, read_json};

#[post("/chat/completions")]
pub async fn chat_completions(state: web::Data<State>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request = read_json(payload).await?;
    let model = model_of(&request)?;
    let Some(messages) = request.get("messages").filter(|m| m.as_array().is_some_and(|m| !m.is_empty())) else {
        return Err(ApiError::bad_param("messages", "'messages' must be a non-empty array."));
    };
    let prompt = last_user_text(messages);
    let reply = reply_to(&prompt);
    let (id, created) = (state.new_id("chatcmpl-"), now());
    let usage = json!({
        "prompt_tokens": tokens(&prompt),
        "completion_tokens": tokens(&reply),
        "total_tokens": tokens(&prompt) + tokens(&reply),
    });
    if !streams(&request) {
        let message = json!({"role": "assistant", "content": reply, "refusal": null, "annotations": []});
        return Ok(HttpResponse::Ok().json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        })));
    }
    // Streamed: a role chunk, one chunk per word, a finish chunk, optionally a
    // usage chunk (no choices), then the `[DONE]` sentinel.
    let chunk = |delta: Value, finish_reason: Option<&str>| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        })
    };
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    chunks.extend(words(&reply).map(|word| chunk(json!({ "content": word }), None)));
    chunks.push(chunk(json!({}), Some("stop")));
    if request.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)) {
        let mut last = chunk(json!({}), None);
        last["choices"] = json!([]);
        last["usage"] = usage;
        chunks.push(last);
    }
    let mut events: Vec<String> = chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect();
    events.push("data: [DONE]\n\n".to_owned());
    Ok(event_stream(events))
}
