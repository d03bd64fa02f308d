//! A test upstream that records what it received and answers by path.
//!
//! Paths (below `/v1`, as an OpenAI base URL):
//! - `POST /chat/completions`: a completion, or SSE chunks when `"stream": true`
//! - `POST /files`: a file object; `GET /files/{id}/content`: `hello file`, or,
//!   for ids `big-N`, N bytes generated on the fly (byte i is `i % 251`)
//! - `GET /models`: a model list; `ANY /echo/...`: 200 with an empty JSON object
//! - `ANY /status/{code}`: that status, a JSON error body, `x-upstream-custom`
//! - `/stall`: never answers; `/sse-stall`: one event, then silence
//! - `/sse-slow`: 10 events 100 ms apart; counts streams dropped early
//! - `/big-headers`: a 60 KiB response header

use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as received.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// All values of a header (lowercase name).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).first().copied()
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    dropped_streams: AtomicUsize,
}

/// A running test upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = web::Data::from(shared.clone());
        let server = HttpServer::new(move || App::new().app_data(state.clone()).default_service(web::to(answer)))
            .workers(1)
            .h1_allow_half_closed(false)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Upstream { addr, shared, handle }
    }

    /// The base URL to configure as `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("the upstream received a request")
    }

    pub fn dropped_streams(&self) -> usize {
        self.shared.dropped_streams.load(Ordering::SeqCst)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn answer(req: HttpRequest, mut payload: web::Payload, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.path().strip_prefix("/v1").unwrap_or(req.path()).to_owned();
    let mut body = Vec::new();
    if path != "/files/drain" {
        while let Some(Ok(chunk)) = payload.next().await {
            body.extend_from_slice(&chunk);
        }
    }
    let target = req.uri().path_and_query().map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let streaming = serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|b| b["stream"] == true);
    shared.requests.lock().unwrap().push(Recorded { method: req.method().to_string(), target, headers, body });

    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["chat", "completions"] if streaming => sse(chat_chunks(), Duration::from_millis(20), None),
        ["chat", "completions"] => HttpResponse::Ok().json(chat_completion()),
        ["files"] => HttpResponse::Ok().json(file_object("file-abc", 11)),
        ["files", id, "content"] => match id.strip_prefix("big-").and_then(|n| n.parse::<u64>().ok()) {
            Some(size) => {
                HttpResponse::Ok().content_type("application/octet-stream").no_chunking(size).streaming(generated(size))
            }
            None => HttpResponse::Ok().content_type("application/octet-stream").body("hello file"),
        },
        ["models"] => HttpResponse::Ok().json(serde_json::json!({"object": "list", "data": [
            {"id": "gpt-test", "object": "model", "created": 1, "owned_by": "test"}]})),
        ["status", code] => {
            let status =
                code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::IM_A_TEAPOT);
            HttpResponse::build(status)
                .insert_header(("x-upstream-custom", "yes"))
                .insert_header(("retry-after", "7"))
                .json(serde_json::json!({"error": {"message": format!("upstream says {code}"), "type": "upstream_test", "param": null, "code": "test"}}))
        }
        ["stall"] => {
            actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
            HttpResponse::Ok().finish()
        }
        ["sse-stall"] => sse(vec!["data: {\"n\":0}\n\n".to_owned()], Duration::from_secs(3600), None),
        ["sse-slow"] => {
            let events = (0..10).map(|i| format!("data: {{\"n\":{i}}}\n\n")).collect();
            sse(events, Duration::from_millis(100), Some(shared.into_inner()))
        }
        ["big-headers"] => {
            HttpResponse::Ok().insert_header(("x-big", "b".repeat(60 * 1024))).json(serde_json::json!({}))
        }
        _ => HttpResponse::Ok().json(serde_json::json!({})),
    }
}

fn chat_completion() -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the test upstream."},
                     "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}
    })
}

/// SSE chunks of a streamed chat completion, then `[DONE]`.
pub fn chat_chunks() -> Vec<String> {
    let mut events: Vec<String> = ["Hel", "lo", " there"]
        .iter()
        .map(|piece| {
            let chunk = serde_json::json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000,
                "model": "gpt-test", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    events.push("data: [DONE]\n\n".to_owned());
    events
}

pub fn file_object(id: &str, bytes: u64) -> serde_json::Value {
    serde_json::json!({"id": id, "object": "file", "bytes": bytes, "created_at": 1700000000,
        "filename": "notes.txt", "purpose": "assistants", "status": "processed"})
}

/// Byte `i` of a generated download.
pub fn generated_byte(i: u64) -> u8 {
    (i % 251) as u8
}

fn generated(size: u64) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    const CHUNK: u64 = 64 * 1024;
    futures_util::stream::iter((0..size.div_ceil(CHUNK)).map(move |n| {
        let start = n * CHUNK;
        let end = (start + CHUNK).min(size);
        Ok(Bytes::from((start..end).map(generated_byte).collect::<Vec<u8>>()))
    }))
}

fn sse(events: Vec<String>, gap: Duration, count_drop: Option<Arc<Shared>>) -> HttpResponse {
    let stream = futures_util::stream::iter(events.into_iter().enumerate()).then(move |(i, event)| async move {
        if i > 0 {
            actix_web::rt::time::sleep(gap).await;
        }
        Ok::<_, std::io::Error>(Bytes::from(event))
    });
    let stream = DropCounter { inner: Box::pin(stream), shared: count_drop, finished: false };
    HttpResponse::Ok().content_type("text/event-stream").insert_header(("cache-control", "no-cache")).streaming(stream)
}

/// Counts streams that are dropped before their end (the peer went away).
struct DropCounter<S> {
    inner: Pin<Box<S>>,
    shared: Option<Arc<Shared>>,
    finished: bool,
}

impl<S: Stream> Stream for DropCounter<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.finished = true;
        }
        next
    }
}

impl<S> Drop for DropCounter<S> {
    fn drop(&mut self) {
        if let (false, Some(shared)) = (self.finished, &self.shared) {
            shared.dropped_streams.fetch_add(1, Ordering::SeqCst);
        }
    }
}
