//! Images and audio: `POST /images/generations` answers a 1×1 PNG,
//! `POST /audio/speech` a short WAV of silence, and transcriptions and
//! translations a text that names the uploaded file.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::json;

use super::multipart::{field, file_part, read_form};
use super::text::{model_of, tokens};
use super::{ApiError, now, read_json};

/// A 1×1 transparent PNG, base64.
const PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// Largest audio upload accepted.
const MAX_AUDIO: usize = 25 * 1024 * 1024;

/// Samples per second of the speech answer (16-bit mono); it lasts 0.1 s.
const SAMPLE_RATE: u32 = 8_000;

#[post("/images/generations")]
pub async fn image_generations(payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request = read_json(payload).await?;
    let prompt = request.get("prompt").and_then(|p| p.as_str()).filter(|p| !p.is_empty());
    let prompt = prompt.ok_or_else(|| ApiError::bad_param("prompt", "'prompt' is required."))?;
    let n = request.get("n").and_then(serde_json::Value::as_u64).unwrap_or(1).clamp(1, 10);
    let as_url = request.get("response_format").and_then(|f| f.as_str()) == Some("url");
    let image = if as_url {
        json!({"url": format!("data:image/png;base64,{PIXEL_PNG}"), "revised_prompt": prompt})
    } else {
        json!({"b64_json": PIXEL_PNG, "revised_prompt": prompt})
    };
    let data: Vec<_> = (0..n).map(|_| image.clone()).collect();
    Ok(HttpResponse::Ok().json(json!({
        "created": now(),
        "data": data,
        "usage": {"input_tokens": tokens(prompt), "output_tokens": 1, "total_tokens": tokens(prompt) + 1},
    })))
}

/// The bytes of the spoken text: always a WAV file, whatever format was asked.
#[post("/audio/speech")]
pub async fn speech(payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request = read_json(payload).await?;
    model_of(&request)?;
    if request.get("input").and_then(|i| i.as_str()).is_none_or(str::is_empty) {
        return Err(ApiError::bad_param("input", "'input' is required."));
    }
    Ok(HttpResponse::Ok().content_type("audio/wav").body(silent_wav(SAMPLE_RATE / 10)))
}

#[post("/audio/transcriptions")]
pub async fn transcriptions(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    heard(&req, payload, "transcribed").await
}

#[post("/audio/translations")]
pub async fn translations(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    heard(&req, payload, "translated").await
}

/// `{"text": ...}`, or the bare text with `response_format=text`.
async fn heard(req: &HttpRequest, payload: web::Payload, what: &str) -> Result<HttpResponse, ApiError> {
    let parts = read_form(req, payload, MAX_AUDIO).await?;
    let file = file_part(&parts)?;
    field(&parts, "model").ok_or_else(|| ApiError::bad_param("model", "You must provide a model parameter."))?;
    let name = file.filename.as_deref().unwrap_or("audio");
    let text = format!("Hello from the mock upstream! ({what} {} bytes of {name})", file.data.len());
    Ok(match field(&parts, "response_format") {
        Some("text") => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text),
        _ => HttpResponse::Ok().json(json!({"text": text, "usage": {"type": "duration", "seconds": 1}})),
    })
}

/// A mono 16-bit PCM WAV file of `samples` zero samples.
fn silent_wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // format chunk length
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // one channel
    wav.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    wav.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(44 + data_len as usize, 0);
    wav
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn the_wav_header_describes_its_data() {
        let wav = silent_wav(800);
        assert_eq!(wav.len(), 44 + 1600);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([wav[40], wav[41], wav[42], wav[43]]), 1600);
    }

    #[test]
    fn the_pixel_is_a_png() {
        let png = base64::engine::general_purpose::STANDARD.decode(PIXEL_PNG).unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
