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
//! Usage: `cargo run --release --example bench_upstream -- 127.0.0.1:PORT`

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::StreamExt;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
const DOWNLOAD: usize = 8 * 1024 * 1024;

async fn chat(body: web::Bytes) -> HttpResponse {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if !(has(b"\"stream\":true") || has(b"\"stream\": true")) {
        return HttpResponse::Ok().content_type("application/json").body(COMPLETION);
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
    HttpResponse::Ok().content_type("text/event-stream").streaming(events)
}

async fn download(block: web::Data<Bytes>) -> HttpResponse {
    let block = block.get_ref().clone();
    let pieces =
        futures_util::stream::iter((0..DOWNLOAD / block.len()).map(move |_| Ok::<_, std::io::Error>(block.clone())));
    HttpResponse::Ok().content_type("application/octet-stream").no_chunking(DOWNLOAD as u64).streaming(pieces)
}

async fn file(id: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(format!(
        r#"{{"id":"{id}","object":"file","bytes":{DOWNLOAD},"created_at":1700000000,"filename":"bench.jsonl","purpose":"batch"}}"#
    ))
}

async fn upload(mut payload: web::Payload) -> HttpResponse {
    let mut size = 0usize;
    while let Some(Ok(chunk)) = payload.next().await {
        size += chunk.len();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"id":"file-bench","object":"file","bytes":{size}}}"#))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4020".to_owned());
    let block = web::Data::new(Bytes::from(vec![7u8; 64 * 1024]));
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(block.clone())
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
