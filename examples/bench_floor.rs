//! The floor of the relay's stack, for `bench/instructions.py --floor`: an
//! actix-web server that forwards every request to one upstream through
//! awc, streaming both ways, and does nothing else. No routes, no header
//! policy, no request id, no metrics, no log, no limits: what any relay
//! built on actix-web and awc pays per request before it does its own
//! work. It drops only the hop-by-hop headers (the relay's list), `host`
//! and the length (awc writes its own), so that what it sends and answers
//! is valid.
//!
//! Usage: `bench_floor LISTEN_ADDR UPSTREAM_BASE` (e.g.
//! `127.0.0.1:8080 http://127.0.0.1:9000`), one worker.

use actix_web::http::header::{self, HeaderName};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// The relay binary's allocator (src/main.rs), so the two compare alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The relay's hop-by-hop rule (`Connection`-listed names aside), plus
/// `host` and the length, which awc writes itself.
fn hop_by_hop(name: &HeaderName) -> bool {
    relay::stages::headers::is_hop_by_hop(name, &[]) || *name == header::HOST || *name == header::CONTENT_LENGTH
}

async fn forward(
    request: HttpRequest,
    body: web::Payload,
    client: web::Data<awc::Client>,
    base: web::Data<String>,
) -> HttpResponse {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = client.request(request.method().clone(), format!("{}{path}", base.as_str()));
    for (name, value) in request.headers() {
        if !hop_by_hop(name) {
            upstream = upstream.append_header((name.clone(), value.clone()));
        }
    }
    let length = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let sent = match length {
        Some(length) => upstream.send_body(actix_web::body::SizedStream::new(length, body)).await,
        None => upstream.send_stream(body).await,
    };
    match sent {
        Ok(answer) => {
            let mut response = HttpResponse::build(answer.status());
            for (name, value) in answer.headers() {
                if !hop_by_hop(name) {
                    response.append_header((name.clone(), value.clone()));
                }
            }
            response.streaming(answer)
        }
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(base)) = (args.next(), args.next()) else {
        eprintln!("usage: bench_floor LISTEN_ADDR UPSTREAM_BASE");
        std::process::exit(2);
    };
    let base = base.trim_end_matches('/').to_owned();
    // awc's default client builds a TLS connector, which needs a provider.
    relay::upstream::client::install_crypto_provider();
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(awc::Client::default()))
            .app_data(web::Data::new(base.clone()))
            .default_service(web::to(forward))
    })
    .workers(1)
    .bind(listen)?
    .run()
    .await
}
