//! `POST /embeddings` and the model list.

use actix_web::{HttpResponse, get, post, web};
use base64::Engine;
use serde_json::{Value, json};

use super::text::{model_of, tokens};
use super::{ApiError, read_json};

/// What `GET /models` lists: chat models, Codex models (which answer only on
/// the Responses API) and an embedding model.
const MODELS: [&str; 6] =
    ["gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini", "gpt-5-codex", "codex-mini-latest", "text-embedding-3-small"];

/// Embedding length when the request gives no `dimensions`.
const DEFAULT_DIMENSIONS: u64 = 16;

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

/// Standard base64 of the floats' little-endian bytes.
fn base64_f32(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
