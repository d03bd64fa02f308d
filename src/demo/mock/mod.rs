//! A mock OpenAI upstream: the other end of `relay demo`, and the test
//! upstream of the SDK smoke tests (`examples/mock_upstream`).
//!
//! It answers under `/v1` in the shapes the official SDKs parse:
//!
//! - `POST /chat/completions`, `POST /responses`: a reply that echoes the
//!   last user message; with `"stream": true` it is sent as server-sent
//!   events, one word per event ([`chat`], [`responses`]).
//! - `POST /embeddings`: small deterministic vectors, as floats or base64;
//!   `GET /models`, `GET /models/{id}`: a fixed list ([`generate`]).
//! - `/files`: upload (multipart), list, get, download and delete, kept in
//!   memory until the process ends ([`files`]).
//! - `POST /images/generations`: a 1×1 PNG; `POST /audio/speech`: a short
//!   WAV of silence; `POST /audio/transcriptions` and `/translations`: a
//!   text naming the uploaded file ([`media`]).
//!
//! Any other path gets a 404 in the OpenAI error shape. Every response carries
//! an `x-request-id` (the request's own, if it sent one) and the
//! `openai-version` header the real API sends. With an API key set, every
//! request must carry `Authorization: Bearer KEY`, as a real upstream would.
//! Each request is logged at `info` as one line.

mod chat;
mod files;
mod generate;
mod media;
mod multipart;
mod responses;
mod text;

use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Largest JSON request body accepted.
const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

/// Pause between two streamed events, so streaming is visible in a terminal.
const EVENT_DELAY: Duration = Duration::from_millis(20);

/// What all workers share: the optional key, id counters and the files.
pub struct State {
    api_key: Option<String>,
    next_id: AtomicU64,
    next_request_id: AtomicU64,
    files: Mutex<files::Store>,
}

impl State {
    /// A new id such as `chatcmpl-mock000001`; `prefix` includes the separator.
    fn new_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}mock{n:06}")
    }
}

/// Serves the mock on a bound listener with `workers` threads; requests must
/// carry `api_key` when one is given. The returned server must be awaited
/// (or spawned) to run.
pub fn serve(listener: TcpListener, api_key: Option<String>, workers: usize) -> std::io::Result<Server> {
    let state = web::Data::new(State {
        api_key: api_key.filter(|key| !key.is_empty()),
        next_id: AtomicU64::new(0),
        next_request_id: AtomicU64::new(0),
        files: Mutex::new(files::Store::default()),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(around_every_request))
            .service(
                web::scope("/v1")
                    .service(chat::chat_completions)
                    .service(responses::responses)
                    .service(generate::embeddings)
                    .service(generate::list_models)
                    .service(generate::get_model)
                    .service(files::upload_file)
                    .service(files::list_files)
                    .service(files::get_file)
                    .service(files::file_content)
                    .service(files::delete_file)
                    .service(media::image_generations)
                    .service(media::speech)
                    .service(media::transcriptions)
                    .service(media::translations),
            )
            .default_service(web::to(not_found))
    })
    .workers(workers.max(1));
    Ok(server.listen(listener)?.run())
}

/// Runs around every request: checks the key (if one is set), adds the
/// headers the real API sends and logs one line.
async fn around_every_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<State>>().cloned();
    let expected = state.as_ref().and_then(|s| s.api_key.as_deref()).map(|key| format!("Bearer {key}"));
    let sent = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let authorized = expected.as_deref().is_none_or(|expected| sent == Some(expected));
    // Echo the caller's request id so one request can be followed through the
    // relay's logs; otherwise make one up as the real API does.
    let request_id = req.headers().get("x-request-id").cloned().unwrap_or_else(|| {
        let n = state.map_or(0, |s| s.next_request_id.fetch_add(1, Ordering::Relaxed) + 1);
        HeaderValue::from_str(&format!("req_mock{n:06}")).unwrap_or(HeaderValue::from_static("req_mock"))
    });
    let line = format!("{} {}", req.method(), req.uri());
    let mut response = if authorized {
        next.call(req).await?.map_into_boxed_body()
    } else {
        let error = ApiError::new(StatusCode::UNAUTHORIZED, "Incorrect API key provided (the mock expects its own).")
            .code("invalid_api_key");
        req.into_response(error.error_response())
    };
    let headers = response.headers_mut();
    headers.insert(HeaderName::from_static("x-request-id"), request_id);
    headers.insert(HeaderName::from_static("openai-version"), HeaderValue::from_static("2020-10-01"));
    headers.insert(HeaderName::from_static("openai-processing-ms"), HeaderValue::from_static("1"));
    tracing::info!("mock upstream: {line} -> {}", response.status().as_u16());
    Ok(response)
}

/// Any path or method the mock does not serve, answered like the real API.
async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(StatusCode::NOT_FOUND, format!("Invalid URL ({} {})", req.method(), req.path())).error_response()
}

/// An error in the OpenAI shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

impl ApiError {
    /// An `invalid_request_error` (the type the API uses for all 4xx here).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), param: None, code: None }
    }

    /// A 400 about one request field.
    pub fn bad_param(param: &'static str, message: impl Into<String>) -> Self {
        ApiError { param: Some(param), ..ApiError::new(StatusCode::BAD_REQUEST, message) }
    }

    pub fn code(self, code: &'static str) -> Self {
        ApiError { code: Some(code), ..self }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let error =
            json!({"message": self.message, "type": "invalid_request_error", "param": self.param, "code": self.code});
        HttpResponse::build(self.status).json(json!({ "error": error }))
    }
}

/// Reads the whole request body, refusing more than `limit` bytes.
pub async fn read_body(payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(ApiError::new(StatusCode::BAD_REQUEST, format!("The request body could not be read: {e}"))),
        Err(_) => Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("The mock accepts at most {limit} bytes."))),
    }
}

/// Reads a JSON object body.
pub async fn read_json(payload: web::Payload) -> Result<Value, ApiError> {
    let body = read_body(payload, MAX_JSON_BODY).await?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(ApiError::new(StatusCode::BAD_REQUEST, "The request body must be a JSON object.")),
        Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, format!("The request body is not valid JSON: {e}"))),
    }
}

/// A `text/event-stream` response that sends `events` (already framed as
/// `data: ...\n\n`) one by one, [`EVENT_DELAY`] apart.
pub fn event_stream(events: Vec<String>) -> HttpResponse {
    let stream = futures_util::stream::iter(events).then(|event| async move {
        tokio::time::sleep(EVENT_DELAY).await;
        Ok::<_, std::convert::Infallible>(Bytes::from(event))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

/// Seconds since the Unix epoch, as the API's `created` fields count.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
