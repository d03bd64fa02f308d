//! A deliberately cheap upstream for `bench/run.py`: fixed answers, no
//! logging, one worker, so the benchmark measures what sits in front of it.
//!
//! - `POST /v1/chat/completions`: a small completion; with `"stream": true`,
//!   50 SSE chunks 5 ms apart, then `[DONE]`; with `"model": "slow"` as
//!   well, one chunk a second for 10 minutes (for the memory of open streams)
//! - `GET /v1/files/{id}`: a file object (the shipped download guard asks)
//! - `GET /v1/files/{id}/content`: 8 MiB of bytes
//! - `POST /v1/files`: reads the upload and answers with its size
//!
//! With `BENCH_UPSTREAM_HEADERS=openai` every answer carries the response
//! headers the OpenAI API sends (about 20, 1.2 KB: organization, project,
//! version, processing time, request id, the six rate-limit headers,
//! Cloudflare's `cf-ray` and its two cookies, HSTS, `alt-svc`, ...), so
//! the relay's and nginx's header handling is paid as in production;
//! unset (or `small`), only `content-type` (and actix's `date` and
//! `content-length`).
//!
//! Usage: `cargo run --release --example bench_upstream -- 127.0.0.1:PORT`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpResponseBuilder, HttpServer, web};
use bytes::Bytes;
use futures_util::StreamExt;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
const DOWNLOAD: usize = 8 * 1024 * 1024;

/// What api.openai.com sends besides `date`, `content-type`,
/// `content-length` and `connection` (values of the same shape and length;
/// the request id is numbered per answer).
const OPENAI_HEADERS: &[(&str, &str)] = &[
    ("access-control-expose-headers", "X-Request-ID"),
    ("openai-organization", "user-4qbmzgpwxk7hdbuoyjrnvslc"),
    ("openai-processing-ms", "412"),
    ("openai-project", "proj_Xo3VkT9bQm2LwRzY8cNhUeGd"),
    ("openai-version", "2020-10-01"),
    ("x-envoy-upstream-service-time", "415"),
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-limit-tokens", "30000000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-remaining-tokens", "29999985"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-reset-tokens", "0s"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
    ("cf-cache-status", "DYNAMIC"),
    (
        "set-cookie",
        "__cf_bm=Qm7xLk2vR9tYp4ZsWn8cHd1FgJb6UeAo3XiMr5NqTl0-1764648000-1.0.1.1-\
         hP3kLm9QwErTyUiOpAsDfGhJkLzXcVbNm1234567890qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDF; \
         path=/; expires=Wed, 02-Dec-26 04:30:00 GMT; domain=.api.openai.com; HttpOnly; Secure; SameSite=None",
    ),
    (
        "set-cookie",
        "_cfuvid=Zp8QwLm3Xk7RtYv2NcBd9HsFg4JuEa6Oi1Ml5TqWr0s-1764648000123-0.0.1.1-604800000; \
         path=/; domain=.api.openai.com; HttpOnly; Secure; SameSite=None",
    ),
    ("x-content-type-options", "nosniff"),
    ("server", "cloudflare"),
    ("cf-ray", "8e9a4c1f2b3d5e6f-SJC"),
    ("alt-svc", "h3=\":443\"; ma=86400"),
];

/// Answers' headers: the OpenAI API's (`BENCH_UPSTREAM_HEADERS=openai`) or
/// only the content type.
#[derive(Clone, Copy)]
struct Headers {
    openai: bool,
}

static REQUEST_NUMBER: AtomicU64 = AtomicU64::new(0);

impl Headers {
    fn from_env() -> std::io::Result<Self> {
        match std::env::var("BENCH_UPSTREAM_HEADERS").as_deref() {
            Ok("openai") => Ok(Self { openai: true }),
            Ok("small") | Err(_) => Ok(Self { openai: false }),
            Ok(other) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("BENCH_UPSTREAM_HEADERS={other}: openai or small"),
            )),
        }
    }

    fn ok(self, content_type: &str) -> HttpResponseBuilder {
        let mut answer = HttpResponse::Ok();
        answer.content_type(content_type.to_owned());
        if self.openai {
            for (name, value) in OPENAI_HEADERS {
                answer.append_header((*name, *value));
            }
            let number = REQUEST_NUMBER.fetch_add(1, Ordering::Relaxed);
            answer.append_header(("x-request-id", format!("req_{number:032x}")));
        }
        answer
    }
}

async fn chat(headers: web::Data<Headers>, body: web::Bytes) -> HttpResponse {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if !(has(b"\"stream\":true") || has(b"\"stream\": true")) {
        return headers.ok("application/json").body(COMPLETION);
    }
    let (count, gap) = match has(b"\"slow\"") {
        true => (600, Duration::from_secs(1)),
        false => (50, Duration::from_millis(5)),
    };
    let chunk = Bytes::from_static(b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n");
    let events = futures_util::stream::iter(0..=count).then(move |i| {
        let chunk = chunk.clone();
        async move {
            if i > 0 {
                actix_web::rt::time::sleep(gap).await;
            }
            Ok::<_, std::io::Error>(if i == count { Bytes::from_static(b"data: [DONE]\n\n") } else { chunk })
        }
    });
    headers.ok("text/event-stream").streaming(events)
}

async fn download(headers: web::Data<Headers>, block: web::Data<Bytes>) -> HttpResponse {
    let block = block.get_ref().clone();
    let pieces =
        futures_util::stream::iter((0..DOWNLOAD / block.len()).map(move |_| Ok::<_, std::io::Error>(block.clone())));
    headers.ok("application/octet-stream").no_chunking(DOWNLOAD as u64).streaming(pieces)
}

async fn file(headers: web::Data<Headers>, id: web::Path<String>) -> HttpResponse {
    headers.ok("application/json").body(format!(
        r#"{{"id":"{id}","object":"file","bytes":{DOWNLOAD},"created_at":1700000000,"filename":"bench.jsonl","purpose":"batch"}}"#
    ))
}

async fn upload(headers: web::Data<Headers>, mut payload: web::Payload) -> HttpResponse {
    let mut size = 0usize;
    while let Some(Ok(chunk)) = payload.next().await {
        size += chunk.len();
    }
    headers.ok("application/json").body(format!(r#"{{"id":"file-bench","object":"file","bytes":{size}}}"#))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4020".to_owned());
    let block = web::Data::new(Bytes::from(vec![7u8; 64 * 1024]));
    let headers = web::Data::new(Headers::from_env()?);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(block.clone())
                .app_data(headers.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/v1/chat/completions", web::post().to(chat))
                .route("/v1/files/{id}/content", web::get().to(download))
                .route("/v1/files/{id}", web::get().to(file))
                .route("/v1/files", web::post().to(upload))
        })
        .workers(1)
        .disable_signals()
        .bind(addr)?
        .run()
        .await
    })
}
