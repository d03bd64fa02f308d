//! The generating endpoints: chat completions, responses, embeddings, models.
//!
//! Nothing is generated for real: the reply echoes the last user message, and
//! tokens are counted as words. Any model name is accepted.

use actix_web::{HttpResponse, get, post, web};
use serde_json::{Value, json};

use crate::{ApiError, State, event_stream, now, read_json};

/// What `GET /models` lists.
const MODELS: [&str; 4] = ["gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini", "text-embedding-3-small"];

/// Embedding length when the request gives no `dimensions`.
const DEFAULT_DIMENSIONS: u64 = 16;

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

#[post("/responses")]
pub async fn responses(state: web::Data<State>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request = read_json(payload).await?;
    let model = model_of(&request)?;
    let prompt = request.get("input").map(last_user_text).unwrap_or_default();
    let reply = reply_to(&prompt);
    let (id, message_id, created) = (state.new_id("resp_"), state.new_id("msg_"), now());
    let text = json!({"type": "output_text", "text": reply, "annotations": [], "logprobs": []});
    let message = |status: &str, content: Value| json!({"type": "message", "id": message_id, "status": status, "role": "assistant", "content": content});
    let response = |status: &str, output: Value, usage: Value| {
        json!({
            "id": id,
            "object": "response",
            "created_at": created,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "instructions": request.get("instructions"),
            "max_output_tokens": null,
            "model": model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "store": true,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "metadata": {},
        })
    };
    let usage = json!({
        "input_tokens": tokens(&prompt),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": tokens(&reply),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens(&prompt) + tokens(&reply),
    });
    let completed = response("completed", json!([message("completed", json!([text]))]), usage);
    if !streams(&request) {
        return Ok(HttpResponse::Ok().json(completed));
    }
    // Streamed: the same sequence of typed events the real API sends for one
    // text message. The SDKs rebuild the response from these.
    let in_progress = response("in_progress", json!([]), Value::Null);
    let at = json!({"item_id": message_id, "output_index": 0, "content_index": 0});
    // `with(a, b)`: the JSON object `a` with the fields of `b` added.
    let with = |mut fields: Value, extra: Value| {
        if let (Some(fields), Value::Object(extra)) = (fields.as_object_mut(), extra) {
            fields.extend(extra);
        }
        fields
    };
    let mut events = vec![
        ("response.created", json!({ "response": in_progress })),
        ("response.in_progress", json!({ "response": in_progress })),
        ("response.output_item.added", json!({"output_index": 0, "item": message("in_progress", json!([]))})),
        ("response.content_part.added", with(at.clone(), json!({"part": with(text.clone(), json!({"text": ""}))}))),
    ];
    for word in words(&reply) {
        events.push(("response.output_text.delta", with(at.clone(), json!({"delta": word, "logprobs": []}))));
    }
    events.extend([
        ("response.output_text.done", with(at.clone(), json!({"text": reply, "logprobs": []}))),
        ("response.content_part.done", with(at, json!({ "part": text }))),
        ("response.output_item.done", json!({"output_index": 0, "item": message("completed", json!([text]))})),
        ("response.completed", json!({ "response": completed })),
    ]);
    let events = events
        .into_iter()
        .enumerate()
        .map(|(n, (kind, data))| {
            let data = with(data, json!({"type": kind, "sequence_number": n}));
            format!("event: {kind}\ndata: {data}\n\n")
        })
        .collect();
    Ok(event_stream(events))
}

#[post("/embeddings")]
pub async fn embeddings(payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request = read_json(payload).await?;
    let model = model_of(&request)?;
    // A string is one input; a list of token ids is one input; a list of
    // strings (or of token lists) is one input per element.
    let inputs: Vec<String> = match request.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(list @ Value::Array(items)) if items.first().is_some_and(Value::is_number) => vec![list.to_string()],
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_owned)).collect()
        }
        _ => return Err(ApiError::bad_param("input", "'input' must be a string or a non-empty array.")),
    };
    let dimensions = request.get("dimensions").and_then(Value::as_u64).unwrap_or(DEFAULT_DIMENSIONS).clamp(1, 4096);
    let base64 = request.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embed(input, dimensions);
            // base64 is the little-endian f32 bytes; the Python SDK asks for it by default.
            let embedding = if base64 { json!(base64_f32(&vector)) } else { json!(vector) };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let used: usize = inputs.iter().map(|input| tokens(input)).sum();
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": used, "total_tokens": used},
    })))
}

#[get("/models")]
pub async fn list_models() -> HttpResponse {
    let data: Vec<Value> = MODELS.iter().map(|id| model_object(id)).collect();
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

#[get("/models/{model}")]
pub async fn get_model(model: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match MODELS.iter().find(|id| **id == model.as_str()) {
        Some(id) => Ok(HttpResponse::Ok().json(model_object(id))),
        None => Err(ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            format!("The model '{model}' does not exist or you do not have access to it."),
        )
        .code("model_not_found")),
    }
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "mock-upstream"})
}

/// The required `model` field.
fn model_of(request: &Value) -> Result<&str, ApiError> {
    request
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_param("model", "You must provide a model parameter."))
}

fn streams(request: &Value) -> bool {
    request.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

/// The text of the last user message. `input` is a plain string or a list of
/// messages (`{"role", "content"}`), as in both chat `messages` and
/// Responses `input`.
fn last_user_text(input: &Value) -> String {
    match input {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|item| item.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|item| item.get("content"))
            .map(content_text)
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A message's `content`: a string, or parts of which the text ones count.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect();
            texts.join(" ")
        }
        _ => String::new(),
    }
}

fn reply_to(prompt: &str) -> String {
    let said: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
    if said.is_empty() {
        "Hello from the mock upstream!".to_owned()
    } else {
        format!("Hello from the mock upstream! You said: {said}")
    }
}

/// The pieces a reply is streamed in: each word with the space before it.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(' ')
}

fn tokens(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// A unit vector that depends only on the text: equal inputs embed equally.
fn embed(text: &str, dimensions: u64) -> Vec<f32> {
    // FNV-1a of the text seeds a xorshift generator.
    let mut seed =
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) | 1;
    let raw: Vec<f32> = (0..dimensions)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0 // 24 random bits mapped to [-1, 1)
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    raw.into_iter().map(|x| x / norm).collect()
}

/// Standard base64 (with padding) of the floats' little-endian bytes.
fn base64_f32(vector: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        // Three bytes make 24 bits, written as four 6-bit letters.
        let bits = group.iter().enumerate().fold(0u32, |bits, (i, &b)| bits | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            let letter = ALPHABET[((bits >> (18 - 6 * i)) & 63) as usize];
            out.push(if i <= group.len() { char::from(letter) } else { '=' });
        }
    }
    out
}
