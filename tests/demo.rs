#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! `relay demo` as a user runs it: the real binary, the shipped routes and
//! the built-in mock upstream in one process. The test reads the URL the
//! demo prints, then makes the requests it suggests (chat, streamed chat,
//! file upload) and a few more the SDKs make (embeddings, responses, images,
//! audio, the bridge and its model list).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::relay::client;

/// The running demo and everything it printed; killed on drop.
struct Demo {
    child: Child,
    base: String,
    printed: Arc<Mutex<String>>,
}

impl Demo {
    fn start() -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
            .args(["demo", "--listen", "127.0.0.1:0", "--routes"])
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d"))
            // A relay key in the environment must not lock the demo.
            .env("RELAY_KEYS", "rk-ignored-by-the-demo")
            .env("OPENAI_API_KEY", "sk-the-users-own-key-stays-home")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("relay demo starts");
        let printed = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stdout, sink) = (child.stdout.take().unwrap(), printed.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("the shipped routes at ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(url.trim_end_matches(',').trim_end_matches("/v1").to_owned());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let Ok(base) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("the demo printed no URL: {}", printed.lock().unwrap());
        };
        Demo { child, base, printed }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything printed so far, once the suggestions are all there.
    fn printed(&self) -> String {
        for _ in 0..100 {
            let text = self.printed.lock().unwrap().clone();
            if text.contains("Ctrl-C") {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.printed.lock().unwrap().clone()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post_json(url: &str, body: &Value) -> (u16, String, Vec<u8>) {
    let mut response =
        client().post(url).insert_header(("authorization", "Bearer anything")).send_json(body).await.unwrap();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.body().limit(1 << 20).await.unwrap().to_vec();
    (response.status().as_u16(), content_type, body)
}

async fn get_json(url: &str) -> Value {
    let mut response = client().get(url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{url}");
    serde_json::from_slice(&response.body().await.unwrap()).unwrap()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

#[actix_web::test]
async fn the_demo_answers_the_requests_it_prints() {
    let demo = Demo::start();
    let printed = demo.printed();
    for suggested in ["/v1/chat/completions", "\"stream\":true", "/v1/files -F purpose=assistants"] {
        assert!(printed.contains(suggested), "{suggested} not in {printed}");
    }
    assert!(printed.contains(&format!("curl {}/v1/chat/completions", demo.base)), "{printed}");

    // Chat, whole: the mock echoes the message, so the relay injected the
    // demo's own key (the mock refuses any other) and not the user's.
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello, relay!"}]});
    let (status, _, body) = post_json(&demo.url("/v1/chat/completions"), &chat).await;
    let answer = json_of(&body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello from the mock upstream! You said: Hello, relay!");

    // Chat, streamed: chunks as server-sent events, [DONE] last.
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let (status, content_type, body) = post_json(&demo.url("/v1/chat/completions"), &streamed).await;
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    assert!(text.matches("chat.completion.chunk").count() > 3, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // A file upload, then its content back.
    let boundary = "demo-test-boundary";
    let upload = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n--{boundary}\r\n\
         content-disposition: form-data; name=\"file\"; filename=\"hello.txt\"\r\ncontent-type: text/plain\r\n\r\n\
         hello from a file\n\r\n--{boundary}--\r\n"
    );
    let mut response = client()
        .post(demo.url("/v1/files"))
        .insert_header(("content-type", format!("multipart/form-data; boundary={boundary}")))
        .send_body(upload)
        .await
        .unwrap();
    let file = json_of(&response.body().await.unwrap());
    assert_eq!((response.status().as_u16(), file["filename"].as_str()), (200, Some("hello.txt")), "{file}");
    assert_eq!(file["bytes"], 18);
    let id = file["id"].as_str().unwrap();
    let mut content = client().get(demo.url(&format!("/v1/files/{id}/content"))).send().await.unwrap();
    assert_eq!(content.body().await.unwrap().as_ref(), b"hello from a file\n");
}

#[test]
fn ctrl_c_stops_the_demo() {
    let mut demo = Demo::start();
    let interrupted = Command::new("kill").args(["-INT", &demo.child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    for _ in 0..200 {
        if let Some(status) = demo.child.try_wait().unwrap() {
            assert!(status.success(), "the demo ended with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the demo still runs 10 s after SIGINT");
}

#[actix_web::test]
async fn the_mock_answers_what_the_sdks_ask_through_the_shipped_routes() {
    let demo = Demo::start();
    let (status, _, body) =
        post_json(&demo.url("/v1/embeddings"), &json!({"model": "text-embedding-3-small", "input": ["a", "b"]})).await;
    let embeddings = json_of(&body);
    assert_eq!((status, embeddings["data"].as_array().map(Vec::len)), (200, Some(2)), "{embeddings}");

    let (status, _, body) = post_json(&demo.url("/v1/responses"), &json!({"model": "gpt-5-mini", "input": "hi"})).await;
    assert_eq!(
        (status, json_of(&body)["output"][0]["content"][0]["text"].as_str()),
        (200, Some("Hello from the mock upstream! You said: hi"))
    );

    let (status, _, body) = post_json(&demo.url("/v1/images/generations"), &json!({"prompt": "a dot"})).await;
    assert_eq!((status, json_of(&body)["data"][0]["b64_json"].is_string()), (200, true));

    let speech = json!({"model": "gpt-4o-mini-tts", "input": "hi", "voice": "alloy"});
    let (status, content_type, body) = post_json(&demo.url("/v1/audio/speech"), &speech).await;
    assert_eq!((status, content_type.as_str()), (200, "audio/wav"));
    assert!(body.starts_with(b"RIFF") && body.len() > 44);

    // The speech back as a transcription upload (multipart).
    let boundary = "demo-audio-boundary";
    let mut form = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"model\"\r\n\r\ngpt-4o-transcribe\r\n--{boundary}\r\n\
         content-disposition: form-data; name=\"file\"; filename=\"speech.wav\"\r\ncontent-type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&body);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut response = client()
        .post(demo.url("/v1/audio/transcriptions"))
        .insert_header(("content-type", format!("multipart/form-data; boundary={boundary}")))
        .send_body(form)
        .await
        .unwrap();
    let heard = json_of(&response.body().await.unwrap());
    assert_eq!(response.status().as_u16(), 200, "{heard}");
    let expected = format!("transcribed {} bytes of speech.wav", body.len());
    assert!(heard["text"].as_str().is_some_and(|text| text.contains(&expected)), "{heard}");

    // The bridge: a chat request served by the mock's Responses API, and
    // the bridge's own model list (no embedding models).
    let chat = json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "bridge me"}]});
    let (status, _, body) = post_json(&demo.url("/v1/bridge/chat/completions"), &chat).await;
    let bridged = json_of(&body);
    assert_eq!(status, 200, "{bridged}");
    assert_eq!(bridged["object"], "chat.completion");
    assert_eq!(bridged["choices"][0]["message"]["content"], "Hello from the mock upstream! You said: bridge me");
    let models = get_json(&demo.url("/v1/bridge/models")).await;
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&"gpt-5-mini") && !ids.contains(&"text-embedding-3-small"), "{ids:?}");
}
