//! Real clients through the relay, on the shipped `routes.d/`, to a test
//! upstream on loopback: what each side sends and receives is checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::InputSource;
use async_openai::types::chat::{ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs};
use async_openai::types::files::{CreateFileRequest, FileInput, FilePurpose};
use futures_util::StreamExt;
use support::relay::{InProcess, SERVER_KEY, client};
use support::upstream::{Upstream, generated_byte};

fn openai(relay: &InProcess) -> Client<OpenAIConfig> {
    Client::with_config(OpenAIConfig::new().with_api_base(relay.url("/v1")).with_api_key("sk-client-must-not-leak"))
}

fn chat_request(stream: bool) -> async_openai::types::chat::CreateChatCompletionRequest {
    let message = ChatCompletionRequestUserMessageArgs::default().content("Say hello").build().unwrap();
    CreateChatCompletionRequestArgs::default()
        .model("gpt-test")
        .messages([message.into()])
        .stream(stream)
        .build()
        .unwrap()
}

#[actix_web::test]
async fn a_chat_completion_goes_through_with_the_server_key() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let response = openai(&relay).chat().create(chat_request(false)).await.unwrap();
    assert_eq!(response.choices[0].message.content.as_deref(), Some("Hello from the test upstream."));

    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {SERVER_KEY}").as_str()));
    let sent: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["model"], "gpt-test");
    assert_eq!(sent["messages"][0]["content"], "Say hello");
}

#[actix_web::test]
async fn a_streamed_chat_completion_arrives_chunk_by_chunk() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let mut stream = openai(&relay).chat().create_stream(chat_request(true)).await.unwrap();
    let mut pieces = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        pieces.push(chunk.choices[0].delta.content.clone().unwrap_or_default());
    }
    assert_eq!(pieces, ["Hel", "lo", " there"]);
}

#[actix_web::test]
async fn a_file_upload_and_download_round_trip() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let client = openai(&relay);
    let file = FileInput { source: InputSource::Bytes { filename: "notes.txt".into(), bytes: "some notes\n".into() } };
    let request = CreateFileRequest { file, purpose: FilePurpose::Assistants, expires_after: None };
    let created = client.files().create(request).await.unwrap();
    assert_eq!(created.id, "file-abc");

    // The multipart body reached the upstream byte for byte, with its length.
    let seen = upstream.last();
    let content_type = seen.header("content-type").unwrap();
    assert!(content_type.starts_with("multipart/form-data; boundary="), "{content_type}");
    assert_eq!(seen.header("content-length"), Some(seen.body.len().to_string().as_str()));
    let body = String::from_utf8_lossy(&seen.body);
    assert!(body.contains("filename=\"notes.txt\"") && body.contains("some notes\n") && body.contains("assistants"));

    let content = client.files().content("file-abc").await.unwrap();
    assert_eq!(&content[..], b"hello file");
    assert_eq!(upstream.last().target, "/v1/files/file-abc/content");
}

#[actix_web::test]
async fn multipart_bytes_pass_byte_exact_sized_and_chunked() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let boundary = "relay-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend((0..300_000u64).map(generated_byte));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");

    let response = client()
        .post(relay.url("/v1/files"))
        .insert_header(("content-type", content_type.as_str()))
        .send_body(body.clone())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert!(seen.body == body, "sized upload differs ({} vs {} bytes)", seen.body.len(), body.len());
    assert_eq!(seen.header("content-length"), Some(body.len().to_string().as_str()));

    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        body.chunks(7_919).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let response = client()
        .post(relay.url("/v1/files"))
        .insert_header(("content-type", content_type.as_str()))
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = upstream.last();
    assert!(seen.body == body, "chunked upload differs ({} vs {} bytes)", seen.body.len(), body.len());
    assert_eq!(seen.header("transfer-encoding"), Some("chunked"));
}

#[actix_web::test]
async fn query_strings_are_forwarded_byte_for_byte() {
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    for target in ["/v1/files?limit=2&after=file-1", "/v1/models?beta=true", "/v1/files?a=%2F&b=1&b=2&c=%zz&d"] {
        let response = client().get(relay.url(target)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{target}");
        assert_eq!(upstream.last().target, target);
    }
}

#[actix_web::test]
async fn delete_and_query_parameters_through_the_sdk() {
    use async_openai::traits::RequestOptionsBuilder;
    let upstream = Upstream::start().await;
    let relay = InProcess::shipped(&upstream.base_url(), &[]).await;
    let client = openai(&relay);

    let deleted = client.files().delete("file-abc").await.unwrap();
    assert!(deleted.deleted);
    let seen = upstream.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("DELETE", "/v1/files/file-abc"));

    let files = client.files().query(&[("purpose", "batch"), ("limit", "2")]).unwrap().list().await.unwrap();
    assert_eq!(files.data[0].id, "file-abc");
    assert_eq!(upstream.last().target, "/v1/files?purpose=batch&limit=2");

    let models = client.models().query(&[("beta", "true")]).unwrap().list().await.unwrap();
    assert_eq!(models.data[0].id, "gpt-test");
    assert_eq!(upstream.last().target, "/v1/models?beta=true");
}
