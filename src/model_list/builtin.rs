//! The model list served when neither a file nor the upstream can answer.

use serde_json::{Value, json};

/// OpenAI models a chat client is likely to pick from (from the public API
/// description's model ids).
const MODELS: [&str; 24] = [
    "gpt-5.5",
    "gpt-5.5-pro",
    "gpt-5.4",
    "gpt-5.4-mini",
    "gpt-5.4-nano",
    "gpt-5.2",
    "gpt-5.1",
    "gpt-5.1-codex",
    "gpt-5.1-codex-max",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-5-codex",
    "codex-mini-latest",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "o3-pro",
    "o4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
];

/// The built-in models as model objects.
pub fn builtin_models() -> Vec<Value> {
    MODELS.iter().map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "openai"})).collect()
}
