//! A mock OpenAI upstream, to try the relay without an API key.
//!
//! ```text
//! cargo run --example mock_upstream                      # listens on 127.0.0.1:4010
//! cargo run --example mock_upstream -- --listen 127.0.0.1:5000
//! OPENAI_BASE_URL=http://127.0.0.1:4010/v1 cargo run -- serve
//! ```
//!
//! It answers under `/v1` in the shapes the official SDKs parse:
//!
//! - `POST /chat/completions`, `POST /responses`: a canned reply that echoes
//!   the last user message; with `"stream": true` it is sent as server-sent
//!   events, one word per event ([`generate`]).
//! - `POST /embeddings`: small deterministic vectors, as floats or base64.
//! - `GET /models`, `GET /models/{id}`: a fixed list of model names.
//! - `/files`: upload (multipart), list, get, download and delete, kept in
//!   memory until the process ends ([`files`]).
//!
//! Any other path gets a 404 in the OpenAI error shape. Every response carries
//! an `x-request-id` (the request's own, if it sent one) and the
//! `openai-version` header the real API sends. With `MOCK_API_KEY` set, every
//! request must carry `Authorization: Bearer $MOCK_API_KEY`, as a real
//! upstream would; otherwise no key is needed. One line per request is logged
//! to stderr.

mod files;
mod generate;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

const DEFAULT_LISTEN: &str = "127.0.0.1:4010";
const USAGE: &str = "usage: cargo run --example mock_upstream [-- --listen 127.0.0.1:4010]";

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

#[actix_web::main]
async fn main() -> ExitCode {
    let listen = match parse_args() {
        Ok(listen) => listen,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let state = web::Data::new(State {
        api_key: std::env::var("MOCK_API_KEY").ok().filter(|key| !key.is_empty()),
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
                    .service(generate::chat_completions)
                    .service(generate::responses)
                    .service(generate::embeddings)
                    .service(generate::list_models)
                    .service(generate::get_model)
                    .service(files::upload_file)
                    .service(files::list_files)
                    .service(files::get_file)
                    .service(files::file_content)
                    .service(files::delete_file),
            )
            .default_service(web::to(not_found))
    })
    .workers(2);
    let server = match server.bind(listen) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // With port 0 the system picks the port: print the one actually bound.
    let bound = server.addrs().first().copied().unwrap_or(listen);
    announce(bound);
    match server.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--listen ADDR` (or `--listen=ADDR`) is the only option.
fn parse_args() -> Result<SocketAddr, String> {
    let mut listen = DEFAULT_LISTEN.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = args.next().ok_or("--listen needs an address, e.g. 127.0.0.1:4010")?;
        } else if let Some(value) = arg.strip_prefix("--listen=") {
            listen = value.to_owned();
        } else {
            return Err(format!("unknown argument {arg:?}"));
        }
    }
    listen.parse().map_err(|e| format!("{listen:?} is not an address like 127.0.0.1:4010: {e}"))
}

#[allow(clippy::print_stdout)] // the base URL is this program's output
fn announce(addr: SocketAddr) {
    println!("mock OpenAI upstream listening on http://{addr}");
    println!("OPENAI_BASE_URL=http://{addr}/v1");
    println!("try: OPENAI_BASE_URL=http://{addr}/v1 cargo run -- serve");
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
        let error =
            ApiError::new(StatusCode::UNAUTHORIZED, "Incorrect API key provided (the mock expects MOCK_API_KEY).")
                .code("invalid_api_key");
        req.into_response(error.error_response())
    };
    let headers = response.headers_mut();
    headers.insert(HeaderName::from_static("x-request-id"), request_id);
    headers.insert(HeaderName::from_static("openai-version"), HeaderValue::from_static("2020-10-01"));
    headers.insert(HeaderName::from_static("openai-processing-ms"), HeaderValue::from_static("1"));
    eprintln!("{line} -> {}", response.status().as_u16());
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
