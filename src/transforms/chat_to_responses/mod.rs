//! `type = "chat_to_responses"`: the chat-completions bridge. A client
//! speaks Chat Completions; the upstream is the Responses API.
//!
//! ```toml
//! [[route]]
//! upstream_path = "/responses"
//!
//! [[route.transforms]]
//! type = "chat_to_responses"
//! unknown_fields = "drop"          # or "pass" (default): chat fields without a Responses twin
//! reasoning = "reasoning_content"  # or "think_tags" or "drop": how summaries are shown
//!
//! defaults_when = "always"         # or "no_client_tools": only when the client sent no tools
//!
//! [route.transforms.defaults]      # Responses fields, for requests that lack them
//! reasoning = { effort = "medium", summary = "auto" }
//! tools = [{ type = "web_search" }]
//! ```
//!
//! The request is translated in the pipeline ([`request`], [`messages`]);
//! the 2xx answer by the executor's response hook, whole ([`response`]) or
//! one SSE event at a time ([`sse`], [`stream`]). Upstream errors pass
//! unchanged.

pub mod messages;
pub mod request;
pub mod response;
pub mod sse;
pub mod stream;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::RelayError;

/// Responses request fields a default may set (`input` comes from
/// `messages`, and whether to stream is the client's choice).
const DEFAULTABLE: [&str; 26] = [
    "model",
    "instructions",
    "tools",
    "tool_choice",
    "reasoning",
    "text",
    "include",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "truncation",
    "metadata",
    "parallel_tool_calls",
    "store",
    "service_tier",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "background",
    "prompt",
    "conversation",
    "context_management",
    "stream_options",
];

/// The spec as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatToResponsesSpec {
    #[serde(default)]
    pub unknown_fields: UnknownFields,
    #[serde(default)]
    pub reasoning: ReasoningDisplay,
    /// Top-level Responses fields set when the translated request lacks them.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub defaults: BTreeMap<String, toml::Value>,
    /// Which requests get the `defaults`.
    #[serde(default)]
    pub defaults_when: DefaultsWhen,
}

/// Which requests the `defaults` apply to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefaultsWhen {
    /// Every request (a client's own value still wins, field by field).
    #[default]
    Always,
    /// Only requests without tools of the client's own (`tools`,
    /// `functions` or `web_search_options`); a request with tools is sent
    /// with none of the defaults.
    NoClientTools,
}

/// What happens to a chat field that has no Responses counterpart.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    /// Sent upstream as it is (the upstream may refuse it).
    #[default]
    Pass,
    /// Left out.
    Drop,
}

/// How reasoning summaries reach a chat client.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningDisplay {
    /// A `reasoning_content` field beside `content` (as in `delta`).
    #[default]
    ReasoningContent,
    /// Inside `<think>…</think>` at the start of `content`.
    ThinkTags,
    /// Not shown.
    Drop,
}

/// A request the bridge cannot translate: the offending field and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub param: String,
    pub message: String,
}

impl Invalid {
    pub fn new(param: &str, message: &str) -> Self {
        Invalid { param: param.to_owned(), message: message.to_owned() }
    }
}

/// The compiled transform.
#[derive(Debug)]
pub struct ChatToResponses {
    unknown: UnknownFields,
    reasoning: ReasoningDisplay,
    defaults: Map<String, Value>,
    defaults_when: DefaultsWhen,
}

/// What the answer's translation needs to know about its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub include_usage: bool,
    pub reasoning: ReasoningDisplay,
}

impl ChatToResponses {
    pub fn compile(spec: &ChatToResponsesSpec) -> Result<Self, String> {
        let mut defaults = Map::new();
        for (key, value) in &spec.defaults {
            if !DEFAULTABLE.contains(&key.as_str()) {
                let hint = match crate::diagnostics::nearest(key, DEFAULTABLE) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("defaults may set: {}", DEFAULTABLE.join(", ")),
                };
                return Err(format!("`defaults.{key}` is not a Responses field a default may set; {hint}"));
            }
            let value = serde_json::to_value(value).map_err(|e| format!("`defaults.{key}`: {e}"))?;
            let tools_ok = |tools: &Vec<Value>| tools.iter().all(|t| t.get("type").is_some_and(Value::is_string));
            match (key.as_str(), &value) {
                ("tools", Value::Array(tools)) if tools_ok(tools) => {}
                ("tools", _) => return Err("`defaults.tools` must be a list of tables with a `type`".to_owned()),
                ("reasoning" | "text", v) if !v.is_object() => {
                    return Err(format!("`defaults.{key}` must be a table, e.g. {{ effort = \"medium\" }}"));
                }
                _ => {}
            }
            defaults.insert(key.clone(), value);
        }
        Ok(ChatToResponses {
            unknown: spec.unknown_fields,
            reasoning: spec.reasoning,
            defaults,
            defaults_when: spec.defaults_when,
        })
    }

    /// The client's chat request → the Responses request, with defaults.
    pub fn request(&self, chat: &Value) -> Result<(Value, Exchange), RelayError> {
        let translated = request::translate(chat, self.unknown).map_err(|invalid| {
            RelayError::bad_request("invalid_chat_request", invalid.message).with_param(invalid.param)
        })?;
        if !translated.dropped.is_empty() {
            tracing::debug!(fields = ?translated.dropped, "chat_to_responses dropped fields");
        }
        let mut body = translated.body;
        if self.defaults_when == DefaultsWhen::Always || !request::has_client_tools(chat) {
            request::apply_defaults(&mut body, &self.defaults);
        }
        Ok((body, Exchange { include_usage: translated.include_usage, reasoning: self.reasoning }))
    }
}

impl Exchange {
    /// A whole Responses answer → chat completion bytes, or an error body.
    pub fn completion(&self, body: &[u8]) -> Result<Vec<u8>, Value> {
        let upstream: Value = serde_json::from_slice(body)
            .map_err(|_| response::error_body("bridge_invalid_upstream", "The upstream answer is not JSON.", None))?;
        let chat = response::completion(&upstream, self.reasoning)?;
        Ok(chat.to_string().into_bytes())
    }

    /// A translator for a streamed answer.
    pub fn stream(&self) -> stream::ChatStream {
        stream::ChatStream::new(self.include_usage, self.reasoning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<ChatToResponses, String> {
        let spec: ChatToResponsesSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        ChatToResponses::compile(&spec)
    }

    #[test]
    fn options_are_checked() {
        let bridge = compile("unknown_fields = \"drop\"\nreasoning = \"think_tags\"\n[defaults]\nreasoning = { effort = \"medium\", summary = \"auto\" }\ntools = [{ type = \"web_search\" }]").unwrap();
        assert_eq!((bridge.unknown, bridge.reasoning), (UnknownFields::Drop, ReasoningDisplay::ThinkTags));
        assert!(compile("reasoning = \"shout\"").unwrap_err().contains("unknown variant"));
        assert!(compile("unknown = \"drop\"").unwrap_err().contains("unknown field"));
        assert!(compile("[defaults]\nreasonig = {}").unwrap_err().contains("did you mean `reasoning`?"));
        assert!(compile("[defaults]\ninput = []").is_err());
        assert!(compile("[defaults]\ntools = [{ name = \"x\" }]").unwrap_err().contains("`type`"));
        assert!(compile("[defaults]\nreasoning = \"high\"").unwrap_err().contains("must be a table"));
    }

    #[test]
    fn requests_get_defaults_and_bad_ones_a_400() {
        let bridge = compile("[defaults]\nreasoning = { summary = \"auto\" }").unwrap();
        let chat = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": "low", "stream": true, "stream_options": {"include_usage": true}});
        let (body, exchange) = bridge.request(&chat).unwrap();
        assert_eq!(body["reasoning"], serde_json::json!({"effort": "low", "summary": "auto"}));
        assert!(exchange.include_usage);
        let error = bridge.request(&serde_json::json!({"messages": "hi"})).unwrap_err();
        assert_eq!((error.status.as_u16(), error.param.as_deref()), (400, Some("messages")));
    }

    #[test]
    fn no_client_tools_skips_every_default_when_the_client_has_tools() {
        let defaults = "[defaults]\nreasoning = { effort = \"medium\" }\ntools = [{ type = \"web_search\" }]";
        let only_without = compile(&format!("defaults_when = \"no_client_tools\"\n{defaults}")).unwrap();
        let always = compile(defaults).unwrap();
        let plain = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let mut with_tools = plain.clone();
        with_tools["tools"] = serde_json::json!([{"type": "function", "function": {"name": "f"}}]);
        let sent = |bridge: &ChatToResponses, chat: &Value| bridge.request(chat).unwrap().0;
        assert_eq!(sent(&only_without, &plain)["tools"], serde_json::json!([{"type": "web_search"}]));
        assert_eq!(sent(&only_without, &plain)["reasoning"]["effort"], "medium");
        let bare = sent(&only_without, &with_tools);
        assert_eq!(bare["tools"], serde_json::json!([{"type": "function", "name": "f"}]));
        assert!(bare.get("reasoning").is_none(), "{bare}");
        assert_eq!(sent(&always, &with_tools)["tools"].as_array().map(Vec::len), Some(2));
        let mut searching = plain.clone();
        searching["web_search_options"] = serde_json::json!({});
        assert!(sent(&only_without, &searching).get("reasoning").is_none());
        assert!(compile("defaults_when = \"sometimes\"").unwrap_err().contains("unknown variant"));
    }
}
