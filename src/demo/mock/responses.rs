//! `POST /responses`: a reply echoing the last user message, as a whole
//! `response` object or as the typed events the real API streams.

use actix_web::{HttpResponse, post, web};
use serde_json::{Value, json};

use super::text::{last_user_text, model_of, reply_to, streams, tokens, words};
use super::{ApiError, State, event_stream, now, read_json};

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
