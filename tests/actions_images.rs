//! The image JSON wrappers of the shipped `routes.d/` keep the contract of
//! the replaced FastAPI Actions relay, on real sockets: the image from
//! `openaiFileIdRefs[0]`, `image_url` or `image_base64` (plain or a data:
//! URL), the mask from `openaiFileIdRefs[1]`, `mask_url` or `mask_base64`,
//! each arriving as its multipart part; a mask field is never ignored; links
//! only from OpenAI's hosts and the `oaidalle*` blob hosts.
//!
//! Links to a loopback file server need the shipped specs with the host list
//! swapped for `allow_http` and the test-only loopback address check; every
//! other line of them is used as shipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::net::TcpListener;
use std::path::Path;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};
use support::relay::{InProcess, client};
use support::upstream::{Recorded, Upstream};

const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-the-image";
const MASK: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-the-mask";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The bytes of the multipart part `name` the upstream received, and its head.
fn part(seen: &Recorded, name: &str) -> Option<(String, Vec<u8>)> {
    let content_type = seen.header("content-type")?;
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=")?;
    let delimiter = format!("--{boundary}");
    let body = &seen.body;
    let mut at = 0;
    while let Some(found) = find(&body[at..], delimiter.as_bytes()) {
        let start = at + found + delimiter.len() + 2;
        let head_end = start + find(&body[start..], b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&body[start..head_end]).into_owned();
        let data_start = head_end + 4;
        let data_end = data_start + find(&body[data_start..], format!("\r\n{delimiter}").as_bytes())?;
        if head.contains(&format!("name=\"{name}\"")) {
            return Some((head, body[data_start..data_end].to_vec()));
        }
        at = data_end;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn post(relay: &InProcess, path: &str, body: &Value) -> (u16, Value) {
    let mut response = client().post(relay.url(path)).send_json(body).await.unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_slice(&response.body().await.unwrap()).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn base64_and_data_urls_become_image_and_mask_parts() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let text = json!({"prompt": "a hat", "model": "dall-e-2", "n": 1, "size": "256x256",
        "response_format": "b64_json", "user": "u1"});
    let with = |extra: Value| {
        let mut body = text.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        ("/v1/actions/images/edits", json!({"image_base64": b64(IMAGE), "mask_base64": b64(MASK)})),
        (
            "/v1/actions/images/edits",
            json!({"image_base64": format!("data:image/png;base64,{}", b64(IMAGE)),
            "mask_base64": format!("data:image/png;base64,{}", b64(MASK))}),
        ),
        ("/v1/images/edits", json!({"image_base64": b64(IMAGE), "mask_base64": b64(MASK)})),
        ("/v1/actions/images/variations", json!({"image_base64": b64(IMAGE)})),
        ("/v1/images/variations", json!({"image_base64": format!("data:image/png;base64,{}", b64(IMAGE))})),
    ];
    for (path, files) in cases {
        let mut body = with(files.clone());
        if path.ends_with("variations") {
            // The variations endpoint takes no prompt (its schema refuses one).
            body.as_object_mut().unwrap().remove("prompt");
        }
        let (status, answer) = post(&relay, path, &body).await;
        assert_eq!(status, 200, "{path} {files}: {answer}");
        let seen = upstream.last();
        assert_eq!(seen.target, path.replace("/actions", ""), "{path}");
        assert_eq!(part(&seen, "image").map(|p| p.1).as_deref(), Some(IMAGE), "{path} {files}");
        let expects_mask = files.get("mask_base64").is_some();
        assert_eq!(part(&seen, "mask").map(|p| p.1).as_deref(), expects_mask.then_some(MASK), "{path}");
        for field in ["model", "n", "size", "response_format", "user"] {
            let expected = match &text[field] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(part(&seen, field).map(|p| p.1), Some(expected.into_bytes()), "{path} {field}");
        }
        let prompt = part(&seen, "prompt").map(|p| p.1);
        assert_eq!(prompt.is_some(), path.ends_with("edits"), "{path}: prompt goes to edits only");
    }
}

#[actix_web::test]
async fn a_mask_field_is_never_ignored() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let image = json!(b64(IMAGE));
    let cases = [
        // A mask that cannot be fetched is refused, not left out.
        (
            json!({"prompt": "p", "image_base64": image, "mask_url": "https://example.com/mask.png"}),
            "mask_url",
            "file_host_not_allowed",
        ),
        (json!({"prompt": "p", "image_base64": image, "mask_url": 5}), "mask_url", "invalid_file"),
        (
            json!({"prompt": "p", "image_base64": image, "mask_base64": b64(b"GIF89a-not-png")}),
            "mask_base64",
            "invalid_file",
        ),
        (
            json!({"prompt": "p", "image_base64": image, "mask_base64": b64(MASK),
                "mask_url": "https://files.oaiusercontent.com/m"}),
            "mask",
            "invalid_file",
        ),
    ];
    for path in ["/v1/actions/images/edits", "/v1/images/edits"] {
        for (body, param, code) in &cases {
            let (status, answer) = post(&relay, path, body).await;
            assert_eq!(status, 400, "{path} {body}: {answer}");
            // The Actions route validates its schema first: a mask of the
            // wrong type is named by its pointer there.
            let (param, code) = match (path.contains("/actions/"), body["mask_url"].is_number()) {
                (true, true) => ("/mask_url", "invalid_body"),
                _ => (*param, *code),
            };
            assert_eq!(
                (&answer["error"]["param"], &answer["error"]["code"]),
                (&json!(param), &json!(code)),
                "{path} {body}"
            );
        }
        // A mask alone: the image it belongs to is missing.
        let (status, answer) = post(&relay, path, &json!({"prompt": "p", "mask_base64": b64(MASK)})).await;
        assert_eq!((status, &answer["error"]["param"]), (400, &json!("image")), "{path}: {answer}");
    }
    assert!(upstream.requests().is_empty(), "nothing reached the upstream");
}

/// Hosts the replaced relay fetched from, and lookalikes it did not.
const ALLOWED_HOSTS: &[&str] = &[
    "files.openai.com",
    "openai.com",
    "cdn.openai.com",
    "oaiusercontent.com",
    "files.oaiusercontent.com",
    "openaiusercontent.com",
    "a.b.openaiusercontent.com",
    "oaidalleapiprodscus.blob.core.windows.net",
    "oaidalle.blob.core.windows.net",
];
const REFUSED_HOSTS: &[&str] = &[
    "evil-openai.com",
    "openai.com.evil.test",
    "files.oaiusercontent.com.evil.test",
    "oaidall.blob.core.windows.net",
    "evil.blob.core.windows.net",
    "xoaidalle.blob.core.windows.net",
    "x.oaidalleapiprodscus.blob.core.windows.net",
    "oaidalleapiprodscus.blob.core.windows.net.evil.test",
    "oaidalleapiprodscus.queue.core.windows.net",
];

#[actix_web::test]
async fn links_come_only_from_the_replaced_relays_hosts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d");
    let env = relay::env::Env::from_pairs([("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")]);
    let table = relay::compile::load_table(&dir, &env).unwrap();
    let parts = [
        ("actions.images.edits", "image"),
        ("actions.images.edits", "mask"),
        ("actions.images.variations", "image"),
        ("images.edits.create", "image"),
        ("images.edits.create", "mask"),
        ("images.variations.create", "image"),
    ];
    for (id, name) in parts {
        let route = table.routes.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no route {id}"));
        let policy = route.transforms.multipart().and_then(|m| m.file_policy(name)).unwrap();
        let admits = |host: &str| policy.allowed_hosts.iter().any(|p| p.matches(host));
        for host in ALLOWED_HOSTS {
            assert!(admits(host), "{id}.{name} refuses {host}");
        }
        for host in REFUSED_HOSTS {
            assert!(!admits(host), "{id}.{name} admits {host}");
        }
        assert!(!policy.allow_http && policy.max_redirects == 0, "{id}.{name}: https only, no redirects");
    }

    // End to end, a lookalike is refused before any lookup or connection.
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    for host in REFUSED_HOSTS {
        let refs = json!([{"name": "a.png", "id": "file-1", "mime_type": "image/png",
            "download_link": format!("https://{host}/a.png")}]);
        let body = json!({"prompt": "p", "openaiFileIdRefs": refs});
        let (status, answer) = post(&relay, "/v1/actions/images/edits", &body).await;
        assert_eq!((status, &answer["error"]["code"]), (400, &json!("file_host_not_allowed")), "{host}: {answer}");
        assert_eq!(answer["error"]["param"], "openaiFileIdRefs[0]");
    }
    let http = json!({"prompt": "p", "image_url": "http://oaidalleapiprodscus.blob.core.windows.net/a.png"});
    let (status, answer) = post(&relay, "/v1/actions/images/edits", &http).await;
    assert_eq!((status, &answer["error"]["param"]), (400, &json!("image_url")), "https only: {answer}");
    assert!(upstream.requests().is_empty());
}

/// A loopback file server: `/image.png`, `/mask.png`, `/redirect` (to the
/// image) and `/text` (not a PNG).
async fn file_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|req: actix_web::HttpRequest| async move {
            match req.path() {
                "/image.png" => HttpResponse::Ok().content_type("image/png").body(IMAGE),
                "/mask.png" => HttpResponse::Ok().content_type("image/png").body(MASK),
                "/redirect" => HttpResponse::Found().insert_header(("location", "/image.png")).finish(),
                _ => HttpResponse::Ok().content_type("text/plain").body("not an image"),
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    base
}

/// The shipped image specs, with each fetch host list replaced by
/// `allow_http = true` so that the loopback file server can be reached: a
/// `routes.d/` beside a copy of the shipped `schemas/`.
fn loopback_routes() -> (tempfile::TempDir, std::path::PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = root.join("routes.d");
    let top = tempfile::tempdir().unwrap();
    copy_dir(&root.join("schemas"), &top.path().join("schemas"));
    let dir = top.path().join("routes.d");
    std::fs::create_dir(&dir).unwrap();
    let upstream = "[upstream.openai]\nbase_url = \"${OPENAI_BASE_URL}\"\nauth = { mode = \"bearer\", env = \"OPENAI_API_KEY\" }\n";
    std::fs::write(dir.join("00-upstreams.toml"), upstream).unwrap();
    for file in ["actions.toml", "images.toml"] {
        let text = std::fs::read_to_string(shipped.join(file)).unwrap();
        let mut out = String::new();
        let mut in_hosts = false;
        for line in text.lines() {
            if line.starts_with("hosts = [") {
                in_hosts = true;
                out.push_str("allow_http = true\n");
            } else if in_hosts {
                in_hosts = line != "]";
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        assert!(out.matches("allow_http = true").count() >= 3, "{file}: the host lists moved; update this test");
        std::fs::write(dir.join(file), out).unwrap();
    }
    (top, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[actix_web::test]
async fn links_and_file_references_arrive_as_image_and_mask_parts() {
    let upstream = Upstream::start().await;
    let files = file_server().await;
    let (_top, dir) = loopback_routes();
    let mut options = relay::server::Options { workers: Some(1), ..Default::default() };
    options.fetch_address_check = Some(relay::fetch::address::check_public_or_loopback);
    let relay = InProcess::start_with(&dir, &upstream.base_url(), &[], options).await;
    let reference = |name: &str| {
        json!({"name": name, "id": "file-1", "mime_type": "image/png",
        "download_link": format!("{files}/{name}")})
    };
    let cases = [
        json!({"openaiFileIdRefs": [reference("image.png"), reference("mask.png")]}),
        json!({"openaiFileIdRefs": [reference("image.png")], "mask_url": format!("{files}/mask.png")}),
        json!({"image_url": format!("{files}/image.png"), "mask_url": format!("{files}/mask.png")}),
        json!({"image_url": format!("{files}/image.png"), "mask_base64": b64(MASK)}),
    ];
    for path in ["/v1/actions/images/edits", "/v1/images/edits"] {
        for mut body in cases.clone() {
            body["prompt"] = "a hat".into();
            let (status, answer) = post(&relay, path, &body).await;
            assert_eq!(status, 200, "{path} {body}: {answer}");
            let seen = upstream.last();
            assert_eq!(seen.target, "/v1/images/edits");
            let (head, image) = part(&seen, "image").unwrap();
            assert_eq!(image, IMAGE, "{path} {body}");
            assert!(head.contains("Content-Type: image/png"), "{head}");
            assert_eq!(part(&seen, "mask").map(|p| p.1).as_deref(), Some(MASK), "{path} {body}");
        }
        // With one reference, there is no mask, and no error about one.
        let body = json!({"prompt": "p", "openaiFileIdRefs": [reference("image.png")]});
        assert_eq!(post(&relay, path, &body).await.0, 200, "{path}");
        assert!(part(&upstream.last(), "mask").is_none());
    }
    let before = upstream.requests().len();
    for (body, param) in [
        (json!({"image_url": format!("{files}/redirect")}), "image_url"),
        (json!({"image_url": format!("{files}/image.png"), "mask_url": format!("{files}/text")}), "mask_url"),
        (json!({"openaiFileIdRefs": [reference("image.png"), reference("text")]}), "openaiFileIdRefs[1]"),
    ] {
        let mut body = body;
        body["prompt"] = "p".into();
        let (status, answer) = post(&relay, "/v1/actions/images/edits", &body).await;
        assert_eq!((status, &answer["error"]["param"]), (400, &json!(param)), "{body}: {answer}");
    }
    assert_eq!(upstream.requests().len(), before, "refused files never reach the upstream");
}
