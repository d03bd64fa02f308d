//! `POST /responses`: a reply echoing the last user message, as a whole
//! `response` object or as the typed events the real API streams. When the
//! request asks for reasoning summaries (`reasoning.summary`), a reasoning
//! item with a one-sentence summary comes first, as from a reasoning model.

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
    let summary =
        asks_for_summary(&request).then(|| format!("The user wrote {} words; I will answer.", tokens(&prompt)));
    let (id, message_id, reasoning_id, created) =
        (state.new_id("resp_"), state.new_id("msg_"), state.new_id("rs_"), now());
    let text = json!({"type": "output_text", "text": reply, "annotations": [], "logprobs": []});
    let message = |status: &str, content: Value| json!({"type": "message", "id": message_id, "status": status, "role": "assistant", "content": content});
    let reasoning = |parts: Value| json!({"type": "reasoning", "id": reasoning_id, "summary": parts});
    let summary_part = |text: &str| json!({"type": "summary_text", "text": text});
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
            "reasoning": request.get("reasoning").cloned().unwrap_or(json!({"effort": null, "summary": null})),
            "store": true,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": request.get("tools").cloned().unwrap_or(json!([])),
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "metadata": {},
        })
    };
    let reasoning_tokens = summary.as_deref().map_or(0, tokens);
    let usage = json!({
        "input_tokens": tokens(&prompt),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": tokens(&reply) + reasoning_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": tokens(&prompt) + tokens(&reply) + reasoning_tokens,
    });
    let mut output: Vec<Value> = summary.iter().map(|s| reasoning(json!([summary_part(s)]))).collect();
    output.push(message("completed", json!([text])));
    let completed = response("completed", json!(output), usage);
    if !streams(&request) {
        return Ok(HttpResponse::Ok().json(completed));
    }
    // Streamed: the same sequence of typed events the real API sends. The
    // SDKs rebuild the response from these.
    let in_progress = response("in_progress", json!([]), Value::Null);
    let mut events = vec![
        ("response.created", json!({ "response": in_progress })),
        ("response.in_progress", json!({ "response": in_progress })),
    ];
    if let Some(summary) = &summary {
        let at = json!({"item_id": reasoning_id, "output_index": 0, "summary_index": 0});
        events.push(("response.output_item.added", json!({"output_index": 0, "item": reasoning(json!([]))})));
        events.push(("response.reasoning_summary_part.added", with(&at, json!({"part": summary_part("")}))));
        for word in words(summary) {
            events.push(("response.reasoning_summary_text.delta", with(&at, json!({ "delta": word }))));
        }
        events.extend([
            ("response.reasoning_summary_text.done", with(&at, json!({ "text": summary }))),
            ("response.reasoning_summary_part.done", with(&at, json!({"part": summary_part(summary)}))),
            (
                "response.output_item.done",
                json!({"output_index": 0, "item": reasoning(json!([summary_part(summary)]))}),
            ),
        ]);
    }
    let index = usize::from(summary.is_some());
    let at = json!({"item_id": message_id, "output_index": index, "content_index": 0});
    events.extend([
        ("response.output_item.added", json!({"output_index": index, "item": message("in_progress", json!([]))})),
        ("response.content_part.added", with(&at, json!({"part": with(&text, json!({"text": ""}))}))),
    ]);
    for word in words(&reply) {
        events.push(("response.output_text.delta", with(&at, json!({"delta": word, "logprobs": []}))));
    }
    events.extend([
        ("response.output_text.done", with(&at, json!({"text": reply, "logprobs": []}))),
        ("response.content_part.done", with(&at, json!({ "part": text }))),
        ("response.output_item.done", json!({"output_index": index, "item": message("completed", json!([text]))})),
        ("response.completed", json!({ "response": completed })),
    ]);
    let events = events
        .into_iter()
        .enumerate()
        .map(|(n, (kind, data))| {
            let data = with(&data, json!({"type": kind, "sequence_number": n}));
            format!("event: {kind}\ndata: {data}\n\n")
        })
        .collect();
    Ok(event_stream(events))
}

/// Whether the request asks for reasoning summaries (`auto`, `concise`,
/// `detailed`; not `none` or null).
fn asks_for_summary(request: &Value) -> bool {
    request.pointer("/reasoning/summary").and_then(Value::as_str).is_some_and(|s| s != "none")
}

/// The JSON object `fields` with the fields of `extra` added.
fn with(fields: &Value, extra: Value) -> Value {
    let mut fields = fields.clone();
    if let (Some(object), Value::Object(extra)) = (fields.as_object_mut(), extra) {
        object.extend(extra);
    }
    fields
}
