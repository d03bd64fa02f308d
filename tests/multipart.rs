//! `json_to_multipart` on real sockets: a JSON body with a file reference,
//! a URL, base64 or a data URL becomes the multipart upload the upstream
//! expects, files fetched from a loopback file server. With the default
//! address check, links to loopback are refused before any connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use support::relay::{InProcess, client, routes_dir};
use support::upstream::Upstream;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-test-image-bytes";

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[[route]]
id = "actions.images.edits"
method = "POST"
path = "/v1/actions/images/edits"
upstream_path = "/images/edits"
body = { accept = ["application/json"] }

[[route.transforms]]
type = "json_to_multipart"
fields = ["model", "prompt", "n"]

[route.transforms.files.image]
refs = "openaiFileIdRefs"
url = "image_url"
base64 = "image"
mime = ["image/png"]
magic = "png"
max = "1KiB"
required = true
fetch = { allow_http = true }
"#;

/// A file server on loopback that counts the requests it gets.
async fn file_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move |req: actix_web::HttpRequest| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match req.path() {
                    "/a.png" => HttpResponse::Ok().content_type("image/png").body(PNG),
                    "/big.png" => HttpResponse::Ok().content_type("image/png").body([PNG, &[0u8; 2048]].concat()),
                    _ => HttpResponse::Ok().content_type("text/plain").body("not an image"),
                }
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (base, hits)
}

async fn relay(upstream: &Upstream, dir: &tempfile::TempDir, allow_loopback: bool) -> InProcess {
    let mut options = relay::server::Options { workers: Some(1), ..Default::default() };
    if allow_loopback {
        options.fetch_address_check = Some(relay::fetch::address::check_public_or_loopback);
    }
    InProcess::start_with(dir.path(), &upstream.base_url(), &[], options).await
}

/// Checks the upload the upstream received: text fields and the PNG part.
fn assert_upload(upstream: &Upstream, filename: &str) {
    let seen = upstream.last();
    assert_eq!(seen.target, "/v1/images/edits");
    let content_type = seen.header("content-type").unwrap();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").expect("a multipart upload");
    assert_eq!(seen.header("content-length"), Some(seen.body.len().to_string().as_str()));
    let body = seen.body.clone();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-image-1\r\n"
        ))
    );
    assert!(text.contains("name=\"n\"\r\n\r\n2\r\n"), "non-string values are sent as JSON: {text}");
    let head = format!("name=\"image\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n");
    let at = text.find(&head).unwrap_or_else(|| panic!("no image part with {head:?} in {text}")) + head.len();
    assert_eq!(&body[at..at + PNG.len()], PNG, "the file bytes arrive unchanged");
    assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));
}

#[actix_web::test]
async fn every_source_becomes_the_same_upload() {
    let upstream = Upstream::start().await;
    let (files, _) = file_server().await;
    let dir = routes_dir(ROUTES);
    let relay = relay(&upstream, &dir, true).await;
    let url = relay.url("/v1/actions/images/edits");
    let base = serde_json::json!({"model": "gpt-image-1", "prompt": "add a hat", "n": 2});
    let with = |key: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(PNG);
    let cases = [
        (
            with(
                "openaiFileIdRefs",
                serde_json::json!([{"name": "cat.png", "id": "file-1", "mime_type": "image/png",
            "download_link": format!("{files}/a.png")}]),
            ),
            "cat.png",
        ),
        (with("image_url", format!("{files}/a.png").into()), "image.png"),
        (with("image", encoded.clone().into()), "image.png"),
        (with("image", format!("data:image/png;base64,{encoded}").into()), "image.png"),
    ];
    for (body, filename) in cases {
        let mut response = client().post(&url).send_json(&body).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{:?}", response.body().await);
        assert_upload(&upstream, filename);
    }
}

#[actix_web::test]
async fn bad_files_are_refused_naming_the_field() {
    let upstream = Upstream::start().await;
    let (files, _) = file_server().await;
    let dir = routes_dir(ROUTES);
    let relay = relay(&upstream, &dir, true).await;
    let url = relay.url("/v1/actions/images/edits");
    let cases = [
        (serde_json::json!({"prompt": "p"}), 400, "image"),
        (serde_json::json!({"image_url": format!("{files}/a.png"), "image": "AAAA"}), 400, "image"),
        (serde_json::json!({"image_url": format!("{files}/notes.txt")}), 400, "image_url"),
        (serde_json::json!({"image_url": format!("{files}/big.png")}), 400, "image_url"),
        (serde_json::json!({"image": base64::engine::general_purpose::STANDARD.encode([0u8; 2048])}), 400, "image"),
        (serde_json::json!({"image": "%%% not base64"}), 400, "image"),
        (serde_json::json!({"openaiFileIdRefs": [{"name": "x.png"}]}), 400, "openaiFileIdRefs[0].download_link"),
    ];
    for (body, status, param) in cases {
        let mut response = client().post(&url).send_json(&body).await.unwrap();
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}: {answer}");
        assert_eq!(answer["error"]["param"], param, "{body}: {answer}");
    }
    assert!(upstream.requests().is_empty(), "nothing reached the upstream");
}

#[actix_web::test]
async fn links_to_loopback_are_refused_by_default() {
    let upstream = Upstream::start().await;
    let (files, hits) = file_server().await;
    let dir = routes_dir(ROUTES);
    let relay = relay(&upstream, &dir, false).await;
    let port = files.rsplit(':').next().unwrap();
    for link in [
        format!("{files}/a.png"),
        format!("http://localhost:{port}/a.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/a.png"),
    ] {
        let body = serde_json::json!({"openaiFileIdRefs": [{"name": "a.png", "download_link": link}]});
        let mut response = client().post(relay.url("/v1/actions/images/edits")).send_json(&body).await.unwrap();
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{link}: {answer}");
        assert_eq!(answer["error"]["code"], "file_url_blocked", "{link}: {answer}");
        assert_eq!(answer["error"]["param"], "openaiFileIdRefs[0]");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection reached the file server");
    assert!(upstream.requests().is_empty());
}
