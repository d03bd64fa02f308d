//! A Responses object → a `chat.completion` (pure, on JSON values), and the
//! pieces the stream translation shares: usage, finish reason, errors.
//!
//! Message content is the `output_text` parts joined (`url_citation`
//! annotations kept), `refusal` parts the refusal, `function_call` and
//! `custom_tool_call` items the tool calls, and reasoning summaries are shown
//! as [`ReasoningDisplay`] says.

use serde_json::{Value, json};

use super::ReasoningDisplay;

/// The chat completion, or the OpenAI-shaped error of a failed response.
pub fn completion(response: &Value, reasoning: ReasoningDisplay) -> Result<Value, Value> {
    let Some(output) = response.get("output").and_then(Value::as_array) else {
        return Err(error_body("bridge_invalid_upstream", "The upstream answer is not a Responses object.", None));
    };
    if let Some(error) = response.get("error").filter(|e| e.is_object()) {
        return Err(upstream_error(error));
    }
    let (mut text, mut refusal, mut summaries) = (None::<String>, None::<String>, Vec::new());
    let (mut annotations, mut tool_calls) = (Vec::new(), Vec::new());
    for item in output {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in item.get("content").and_then(Value::as_array).into_iter().flatten() {
                    match part.get("type").and_then(Value::as_str) {
                        Some("output_text") => {
                            let piece = part.get("text").and_then(Value::as_str).unwrap_or_default();
                            let offset = text.as_ref().map_or(0, |t| t.chars().count());
                            text.get_or_insert_default().push_str(piece);
                            let cited = part.get("annotations").and_then(Value::as_array).into_iter().flatten();
                            annotations.extend(cited.filter_map(|a| citation(a, offset)));
                        }
                        Some("refusal") => {
                            let piece = part.get("refusal").and_then(Value::as_str).unwrap_or_default();
                            refusal.get_or_insert_default().push_str(piece);
                        }
                        _ => {}
                    }
                }
            }
            Some("function_call") => tool_calls.push(json!({"id": item.get("call_id"), "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")}})),
            Some("custom_tool_call") => tool_calls.push(json!({"id": item.get("call_id"), "type": "custom",
                "custom": {"name": item.get("name"), "input": item.get("input")}})),
            Some("reasoning") => {
                for part in item.get("summary").and_then(Value::as_array).into_iter().flatten() {
                    summaries.extend(part.get("text").and_then(Value::as_str).map(str::to_owned));
                }
            }
            _ => {}
        }
    }
    let summary = (!summaries.is_empty()).then(|| summaries.join("\n\n"));
    let mut message = json!({"role": "assistant", "content": text, "refusal": refusal});
    match (reasoning, summary) {
        (ReasoningDisplay::ReasoningContent, Some(summary)) => message["reasoning_content"] = summary.into(),
        (ReasoningDisplay::ThinkTags, Some(summary)) => {
            let rest = text.unwrap_or_default();
            message["content"] = format!("<think>{summary}</think>\n\n{rest}").into();
        }
        _ => {}
    }
    if !annotations.is_empty() {
        message["annotations"] = annotations.into();
    }
    let finish = finish_reason(response, !tool_calls.is_empty());
    if !tool_calls.is_empty() {
        message["tool_calls"] = tool_calls.into();
    }
    let mut chat = json!({
        "id": response.get("id"), "object": "chat.completion", "created": response.get("created_at"),
        "model": response.get("model"),
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage(response.get("usage")),
    });
    if let Some(tier) = response.get("service_tier").filter(|t| !t.is_null()) {
        chat["service_tier"] = tier.clone();
    }
    Ok(chat)
}

/// `length` when the output limit was hit, `content_filter` when filtered,
/// else `tool_calls` when the model called tools, else `stop`.
pub fn finish_reason(response: &Value, called_tools: bool) -> &'static str {
    let reason = response.get("incomplete_details").and_then(|d| d.get("reason")).and_then(Value::as_str);
    match reason {
        Some("max_output_tokens") => "length",
        Some("content_filter") => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// Responses usage → chat usage (`null` when there is none).
pub fn usage(usage: Option<&Value>) -> Value {
    let Some(usage) = usage.filter(|u| u.is_object()) else { return Value::Null };
    let count = |key: &str| usage.get(key).cloned().unwrap_or(json!(0));
    let mut chat = json!({"prompt_tokens": count("input_tokens"), "completion_tokens": count("output_tokens"),
        "total_tokens": count("total_tokens")});
    if let Some(cached) = usage.get("input_tokens_details").and_then(|d| d.get("cached_tokens")) {
        chat["prompt_tokens_details"] = json!({"cached_tokens": cached});
    }
    if let Some(reasoning) = usage.get("output_tokens_details").and_then(|d| d.get("reasoning_tokens")) {
        chat["completion_tokens_details"] = json!({"reasoning_tokens": reasoning});
    }
    chat
}

/// An OpenAI error body: `{"error": {"message", "type", "param", "code"}}`.
pub fn error_body(code: &str, message: &str, param: Option<&Value>) -> Value {
    json!({"error": {"message": message, "type": "server_error", "param": param, "code": code}})
}

/// The error of a failed response or an `error` event, in the OpenAI shape.
pub fn upstream_error(error: &Value) -> Value {
    let message = error.get("message").and_then(Value::as_str).unwrap_or("The upstream response failed.");
    let code = error.get("code").and_then(Value::as_str).unwrap_or("upstream_error");
    let mut body = error_body(code, message, error.get("param").filter(|p| !p.is_null()));
    if let Some(kind) = error.get("type").and_then(Value::as_str).filter(|t| *t != "error") {
        body["error"]["type"] = kind.into();
    }
    body
}

/// A Responses `url_citation` → chat's nested form; indexes shift by `offset`.
fn citation(annotation: &Value, offset: usize) -> Option<Value> {
    if annotation.get("type").and_then(Value::as_str) != Some("url_citation") {
        return None;
    }
    let shift = |key: &str| annotation.get(key).and_then(Value::as_u64).map(|i| i + offset as u64);
    Some(json!({"type": "url_citation", "url_citation": {"start_index": shift("start_index"),
        "end_index": shift("end_index"), "url": annotation.get("url"), "title": annotation.get("title")}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(output: Value) -> Value {
        json!({"id": "resp_1", "object": "response", "created_at": 7, "model": "m", "status": "completed",
            "error": null, "incomplete_details": null, "output": output,
            "usage": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8,
                "input_tokens_details": {"cached_tokens": 1}, "output_tokens_details": {"reasoning_tokens": 2}}})
    }

    #[test]
    fn text_reasoning_and_usage() {
        let r = response(json!([
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}]));
        let chat = completion(&r, ReasoningDisplay::ReasoningContent).unwrap();
        assert_eq!(
            chat["choices"][0]["message"],
            json!({"role": "assistant", "content": "Hi", "refusal": null,
            "reasoning_content": "Think."})
        );
        assert_eq!(chat["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            chat["usage"],
            json!({"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8,
            "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 2}})
        );
        let tagged = completion(&r, ReasoningDisplay::ThinkTags).unwrap();
        assert_eq!(tagged["choices"][0]["message"]["content"], "<think>Think.</think>\n\nHi");
        let dropped = completion(&r, ReasoningDisplay::Drop).unwrap();
        assert_eq!(dropped["choices"][0]["message"].get("reasoning_content"), None);
    }

    #[test]
    fn tool_calls_and_finish_reasons() {
        let mut r = response(json!([{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]));
        let chat = completion(&r, ReasoningDisplay::Drop).unwrap();
        assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chat["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(chat["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "f");
        r["incomplete_details"] = json!({"reason": "max_output_tokens"});
        assert_eq!(finish_reason(&r, true), "length");
        r["incomplete_details"] = json!({"reason": "content_filter"});
        assert_eq!(finish_reason(&r, false), "content_filter");
    }

    #[test]
    fn failures_and_garbage_become_errors() {
        let mut r = response(json!([]));
        r["error"] = json!({"code": "server_error", "message": "boom"});
        assert_eq!(completion(&r, ReasoningDisplay::Drop).unwrap_err()["error"]["message"], "boom");
        let garbage = completion(&json!([1]), ReasoningDisplay::Drop).unwrap_err();
        assert_eq!(garbage["error"]["code"], "bridge_invalid_upstream");
    }
}
