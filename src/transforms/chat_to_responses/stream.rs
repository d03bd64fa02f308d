//! Responses SSE events → `chat.completion.chunk` events, one event at a
//! time: each call returns the chunks for that event, nothing is held back.
//!
//! Every chunk carries the `id`, `created` and `model` of `response.created`;
//! the first has `delta.role = "assistant"`. `response.completed` and
//! `response.incomplete` give a chunk with `finish_reason`, a usage chunk
//! when the client asked `stream_options.include_usage`, then `[DONE]`.
//! `response.failed`, `error`, a relay error and a stream that ends too soon
//! give `data: {"error": {...}}` and end the stream (no `[DONE]`).

use serde_json::{Value, json};

use super::ReasoningDisplay;
use super::response::{error_body, finish_reason, upstream_error, usage};
use super::sse::SseEvent;

/// The translation state of one streamed answer.
#[derive(Debug)]
pub struct ChatStream {
    include_usage: bool,
    reasoning: ReasoningDisplay,
    id: Value,
    created: Value,
    model: Value,
    started: bool,
    /// Output item ids of tool calls, by chat tool-call index.
    tool_items: Vec<String>,
    /// A `<think>` tag is open (`reasoning = "think_tags"`).
    thinking: bool,
    /// The reasoning summary part last written: (item id, summary index).
    summary_part: Option<(Value, Value)>,
    finished: bool,
}

impl ChatStream {
    pub fn new(include_usage: bool, reasoning: ReasoningDisplay) -> Self {
        ChatStream {
            include_usage,
            reasoning,
            id: Value::Null,
            created: Value::Null,
            model: Value::Null,
            started: false,
            tool_items: Vec::new(),
            thinking: false,
            summary_part: None,
            finished: false,
        }
    }

    /// Whether the client's stream is complete (after `[DONE]` or an error).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The chat events for one upstream event (maybe none).
    pub fn event(&mut self, event: &SseEvent) -> String {
        if self.finished {
            return String::new();
        }
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            return self.fail(error_body("bridge_invalid_event", "The upstream sent an event that is not JSON.", None));
        };
        let kind = data.get("type").and_then(Value::as_str).or(event.event.as_deref()).unwrap_or_default();
        let mut out = String::new();
        match kind {
            "response.created" | "response.in_progress" => {
                self.meta(data.get("response"));
                self.start(&mut out);
            }
            "response.output_text.delta" => self.content(&mut out, "content", &data["delta"]),
            "response.refusal.delta" => self.content(&mut out, "refusal", &data["delta"]),
            "response.reasoning_summary_text.delta" => self.reasoning(&mut out, &data),
            "response.output_item.added" => {
                let item = &data["item"];
                let (kind, field) = match item.get("type").and_then(Value::as_str) {
                    Some("function_call") => ("function", "arguments"),
                    Some("custom_tool_call") => ("custom", "input"),
                    _ => return out,
                };
                self.close_think(&mut out);
                let index = self.tool_items.len();
                self.tool_items.push(item.get("id").and_then(Value::as_str).unwrap_or_default().to_owned());
                let call = json!({"index": index, "id": item.get("call_id"), "type": kind,
                    kind: {"name": item.get("name"), field: ""}});
                self.chunk(&mut out, json!({"tool_calls": [call]}), Value::Null);
            }
            "response.function_call_arguments.delta" => self.tool_delta(&mut out, &data, "function", "arguments"),
            "response.custom_tool_call_input.delta" => self.tool_delta(&mut out, &data, "custom", "input"),
            "response.completed" | "response.incomplete" => self.complete(&mut out, &data["response"]),
            "response.failed" => {
                let error = data["response"].get("error").filter(|e| e.is_object()).cloned().unwrap_or(json!({}));
                out.push_str(&self.fail(upstream_error(&error)));
            }
            "error" => {
                let error = data.get("error").filter(|e| e.is_object()).unwrap_or(&data);
                out.push_str(&self.fail(upstream_error(error)));
            }
            _ if data.get("error").is_some_and(Value::is_object) => out.push_str(&self.fail(data)),
            _ => {}
        }
        out
    }

    /// The upstream stream ended; an unfinished answer ends with an error.
    pub fn end(&mut self) -> String {
        if self.finished {
            return String::new();
        }
        self.fail(error_body("bridge_stream_ended", "The upstream stream ended before the response completed.", None))
    }

    /// Ends the client's stream with an error event.
    pub fn fail(&mut self, error: Value) -> String {
        self.finished = true;
        format!("data: {error}\n\n")
    }

    fn meta(&mut self, response: Option<&Value>) {
        let Some(response) = response else { return };
        for (slot, key) in [(&mut self.id, "id"), (&mut self.created, "created_at"), (&mut self.model, "model")] {
            if slot.is_null() {
                *slot = response.get(key).cloned().unwrap_or(Value::Null);
            }
        }
    }

    fn start(&mut self, out: &mut String) {
        if !self.started {
            self.started = true;
            self.chunk(out, json!({"role": "assistant", "content": "", "refusal": null}), Value::Null);
        }
    }

    fn chunk(&mut self, out: &mut String, delta: Value, finish: Value) {
        self.start(out);
        let choice = json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish});
        self.write(out, json!([choice]), None);
    }

    fn write(&self, out: &mut String, choices: Value, usage: Option<Value>) {
        let mut chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": choices});
        if self.include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        out.push_str(&format!("data: {chunk}\n\n"));
    }

    fn content(&mut self, out: &mut String, field: &str, delta: &Value) {
        let delta = delta.as_str().unwrap_or_default();
        let text = if self.thinking && field == "content" {
            self.thinking = false;
            format!("</think>\n\n{delta}")
        } else {
            self.close_think(out);
            delta.to_owned()
        };
        self.chunk(out, json!({field: text}), Value::Null);
    }

    fn close_think(&mut self, out: &mut String) {
        if self.thinking {
            self.thinking = false;
            self.chunk(out, json!({"content": "</think>\n\n"}), Value::Null);
        }
    }

    fn reasoning(&mut self, out: &mut String, data: &Value) {
        let delta = data.get("delta").and_then(Value::as_str).unwrap_or_default();
        let part =
            (data.get("item_id").cloned().unwrap_or_default(), data.get("summary_index").cloned().unwrap_or_default());
        let separator = match &self.summary_part {
            Some(last) if *last != part => "\n\n",
            _ => "",
        };
        self.summary_part = Some(part);
        match self.reasoning {
            ReasoningDisplay::Drop => {}
            ReasoningDisplay::ReasoningContent => {
                self.chunk(out, json!({"reasoning_content": format!("{separator}{delta}")}), Value::Null);
            }
            ReasoningDisplay::ThinkTags => {
                let open = if self.thinking { "" } else { "<think>" };
                let separator = if self.thinking { separator } else { "" };
                self.thinking = true;
                self.chunk(out, json!({"content": format!("{open}{separator}{delta}")}), Value::Null);
            }
        }
    }

    fn tool_delta(&mut self, out: &mut String, data: &Value, kind: &str, field: &str) {
        let item = data.get("item_id").and_then(Value::as_str).unwrap_or_default();
        let Some(index) = self.tool_items.iter().position(|id| id == item) else { return };
        let call = json!({"index": index, kind: {field: data.get("delta")}});
        self.chunk(out, json!({"tool_calls": [call]}), Value::Null);
    }

    fn complete(&mut self, out: &mut String, response: &Value) {
        self.meta(Some(response));
        self.close_think(out);
        let finish = finish_reason(response, !self.tool_items.is_empty());
        self.chunk(out, json!({}), finish.into());
        if self.include_usage {
            self.write(out, json!([]), Some(usage(response.get("usage"))));
        }
        out.push_str("data: [DONE]\n\n");
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(stream: &mut ChatStream, events: &[Value]) -> Vec<Value> {
        let mut out = String::new();
        for data in events {
            out.push_str(&stream.event(&SseEvent { event: None, data: data.to_string() }));
        }
        out.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let data = e.strip_prefix("data: ").unwrap();
                serde_json::from_str(data).unwrap_or(Value::String(data.to_owned()))
            })
            .collect()
    }

    fn created() -> Value {
        json!({"type": "response.created", "response": {"id": "resp_1", "created_at": 7, "model": "m"}})
    }

    #[test]
    fn text_then_finish_usage_and_done() {
        let mut s = ChatStream::new(true, ReasoningDisplay::ReasoningContent);
        let done = json!({"type": "response.completed", "response": {"id": "resp_1", "usage": {"input_tokens": 1,
            "output_tokens": 2, "total_tokens": 3}}});
        let out = feed(&mut s, &[created(), json!({"type": "response.output_text.delta", "delta": "Hi"}), done]);
        assert_eq!(out.len(), 5);
        assert_eq!(out[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(out[1]["choices"][0]["delta"], json!({"content": "Hi"}));
        assert_eq!(out[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(out[3]["usage"]["total_tokens"], 3);
        assert_eq!(out[4], "[DONE]");
        assert!(out[..4].iter().all(|c| c["id"] == "resp_1" && c["created"] == 7 && c["model"] == "m"));
        assert!(s.is_finished());
    }

    #[test]
    fn think_tags_wrap_summaries() {
        let mut s = ChatStream::new(false, ReasoningDisplay::ThinkTags);
        let summary = |i: u64, d: &str| {
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs",
            "summary_index": i, "delta": d})
        };
        let out = feed(
            &mut s,
            &[created(), summary(0, "a"), summary(1, "b"), json!({"type": "response.output_text.delta", "delta": "x"})],
        );
        let texts: Vec<&str> = out[1..].iter().map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
        assert_eq!(texts, ["<think>a", "\n\nb", "</think>\n\nx"]);
    }

    #[test]
    fn errors_end_the_stream() {
        let mut s = ChatStream::new(false, ReasoningDisplay::Drop);
        let out = feed(
            &mut s,
            &[
                created(),
                json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down",
            "param": null}),
            ],
        );
        assert_eq!(out[1]["error"]["code"], "rate_limit_exceeded");
        assert!(s.is_finished());
        assert_eq!(s.event(&SseEvent { event: None, data: "{}".into() }), "");
        let mut garbage = ChatStream::new(false, ReasoningDisplay::Drop);
        assert!(garbage.event(&SseEvent { event: None, data: "{oops".into() }).contains("bridge_invalid_event"));
        let mut cut = ChatStream::new(false, ReasoningDisplay::Drop);
        assert!(cut.end().contains("bridge_stream_ended"));
    }
}
