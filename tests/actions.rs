//! The default ChatGPT Actions set, used as a GPT would use it: every
//! operation of `/openapi.actions.json` is called with a request built from
//! the document itself (path parameters, required fields filled from
//! examples, enums and types, plus the fields a GPT naturally sets), through
//! the shipped `routes.d/` to a test upstream, which must receive what the
//! OpenAI API expects. Also: the Actions routes refuse a bad body with the
//! pointer of the bad field, before anything goes upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use base64::Engine;
use serde_json::{Map, Value, json};
use support::relay::{InProcess, SERVER_KEY, client};
use support::upstream::Upstream;

const RELAY_KEY: &str = "relay-key-test";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-test-image-bytes";

/// A value for `schema`, as a GPT would pick it: an example, the first
/// enum value, the default, else a value of the type with required fields.
fn fill(schema: &Value) -> Value {
    if let Some(example) = schema.get("example").or_else(|| schema.get("examples").and_then(|e| e.get(0))) {
        return example.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)).or_else(|| schema.get("default")) {
        return first.clone();
    }
    if let Some(first) = ["anyOf", "oneOf"].iter().find_map(|k| schema.get(*k).and_then(|v| v.get(0))) {
        return fill(first);
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap_or_default(),
        kind => kind.clone(),
    };
    match kind.as_str().unwrap_or("object") {
        "string" => "test".into(),
        "integer" | "number" => schema.get("minimum").cloned().unwrap_or_else(|| 1.into()),
        "boolean" => true.into(),
        "array" => json!([fill(&schema["items"])]),
        _ => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                object.insert(name.to_owned(), fill(&schema["properties"][name]));
            }
            Value::Object(object)
        }
    }
}

/// The body a GPT sends: the required fields, and the ones it would add.
fn body_for(operation_id: &str, schema: &Value) -> Value {
    let mut body = fill(schema);
    let property = |name: &str| {
        assert!(schema["properties"].get(name).is_some(), "{operation_id} documents `{name}`");
        fill(&schema["properties"][name])
    };
    let png = base64::engine::general_purpose::STANDARD.encode(PNG);
    let extra = match operation_id {
        "createResponse" => json!({"model": property("model"), "input": "Say hello."}),
        "createRealtimeSession" => json!({"instructions": "Be brief."}),
        "editImage" => json!({"image_base64": png, "mask_base64": format!("data:image/png;base64,{png}")}),
        "createImageVariation" => json!({"image_base64": png}),
        _ => json!({}),
    };
    for (key, value) in extra.as_object().unwrap() {
        if key.ends_with("base64") {
            property(key);
        }
        body[key] = value.clone();
    }
    body
}

/// A path parameter's value: one the test upstream knows.
fn path_value(name: &str) -> &'static str {
    match name {
        "response_id" => "text",
        "model" => "gpt-test",
        "file_id" => "file-abc",
        _ => "test-id",
    }
}

/// What the upstream must see for an operation: method and target.
fn expected_upstream(operation_id: &str, method: &str, path: &str, query: &str) -> (String, String) {
    let path = match operation_id {
        "editImage" => "/v1/images/edits".to_owned(),
        "createImageVariation" => "/v1/images/variations".to_owned(),
        "proxyRequest" => return ("GET".into(), "/v1/models".into()),
        // A small page unless the GPT asks for a size.
        "listFilesPage" => return ("GET".into(), "/v1/files?limit=20".into()),
        _ => path.to_owned(),
    };
    (method.to_ascii_uppercase(), format!("{path}{query}"))
}

fn multipart_names(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    text.split("Content-Disposition: form-data; name=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

async fn start() -> (Upstream, InProcess, Value) {
    let upstream = Upstream::start().await;
    let env = [("RELAY_KEYS", RELAY_KEY), ("RELAY_PUBLIC_URL", "https://relay.example.test")];
    let relay = InProcess::shipped(&upstream.base_url(), &env).await;
    let mut response = client().get(relay.url("/openapi.actions.json")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let document = serde_json::from_slice(&response.body().limit(1 << 20).await.unwrap()).unwrap();
    (upstream, relay, document)
}

/// Operations that need the replaced relay's contract (issue 14, item 5,
/// built on another branch): `image_base64`/`mask_base64` in the image
/// wrappers, and `/v1` paths in the proxy envelope.
const NEEDS_CONTRACT: [&str; 3] = ["createImageVariation", "editImage", "proxyRequest"];

/// Calls one operation as a GPT would and checks what reached the upstream.
async fn call(upstream: &Upstream, relay: &InProcess, template: &str, method: &str, op: &Value) {
    let id = op["operationId"].as_str().unwrap();
    let mut path = template.to_owned();
    let mut query = Vec::new();
    for param in op["parameters"].as_array().into_iter().flatten() {
        let name = param["name"].as_str().unwrap();
        match param["in"].as_str().unwrap() {
            "path" => path = path.replace(&format!("{{{name}}}"), path_value(name)),
            _ if param["required"] == true => query.push(format!("{name}={}", fill(&param["schema"]))),
            _ => {}
        }
    }
    let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let body = (op["requestBody"]["required"] == true).then(|| body_for(id, schema));
    let before = upstream.requests().len();
    let request = client()
        .request(method.to_ascii_uppercase().parse().unwrap(), relay.url(&format!("{path}{query}")))
        .insert_header(("Authorization", format!("Bearer {RELAY_KEY}")));
    let mut response = match &body {
        Some(body) => request.send_json(body).await.unwrap(),
        None => request.send().await.unwrap(),
    };
    let status = response.status().as_u16();
    let answer = response.body().limit(16 << 20).await.unwrap();
    assert_eq!(status, 200, "{id}: {}", String::from_utf8_lossy(&answer));
    if id == "relayHealth" {
        assert_eq!(serde_json::from_slice::<Value>(&answer).unwrap()["status"], "ok");
        assert_eq!(upstream.requests().len(), before, "the relay answers its health check itself");
        return;
    }
    let seen = upstream.requests().pop().unwrap_or_else(|| panic!("{id}: nothing reached the upstream"));
    assert_eq!(upstream.requests().len(), before + 1, "{id}: one upstream request");
    let (method, target) = expected_upstream(id, method, &path, &query);
    assert_eq!((seen.method.as_str(), seen.target.as_str()), (method.as_str(), target.as_str()), "{id}");
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {SERVER_KEY}").as_str()), "{id}");
    assert!(!String::from_utf8_lossy(&seen.body).contains(RELAY_KEY), "{id}: the relay key stays here");
    match id {
        "editImage" | "createImageVariation" => {
            assert!(seen.header("content-type").unwrap().starts_with("multipart/form-data; boundary="));
            let names = multipart_names(&seen.body);
            let expected: &[&str] = if id == "editImage" { &["prompt", "image", "mask"] } else { &["image"] };
            for name in expected {
                assert!(names.iter().any(|n| n == name), "{id}: no part `{name}` in {names:?}");
            }
        }
        "proxyRequest" => assert!(seen.body.is_empty(), "a GET carries no body"),
        _ => match &body {
            Some(body) => {
                let sent: Value = serde_json::from_slice(&seen.body).unwrap();
                assert_eq!(&sent, body, "{id}: the JSON arrives unchanged");
            }
            None => assert!(seen.body.is_empty(), "{id}: no body"),
        },
    }
}

/// The default set's operations, as (path, method, operation), filtered by id.
fn operations(document: &Value, keep: impl Fn(&str) -> bool) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if keep(op["operationId"].as_str().unwrap()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

#[actix_web::test]
async fn every_default_operation_reaches_the_upstream_as_the_api_expects() {
    let (upstream, relay, document) = start().await;
    let mut called = Vec::new();
    for (path, method, op) in operations(&document, |id| !NEEDS_CONTRACT.contains(&id)) {
        call(&upstream, &relay, &path, &method, &op).await;
        called.push(op["operationId"].as_str().unwrap().to_owned());
    }
    called.sort();
    let expected = [
        "cancelResponse",
        "compactResponse",
        "createEmbedding",
        "createImage",
        "createRealtimeSession",
        "createResponse",
        "getFile",
        "getModel",
        "getResponse",
        "listFilesPage",
        "listInputItems",
        "listModels",
        "relayHealth",
    ];
    assert_eq!(called, expected);
    assert_eq!(operations(&document, |id| NEEDS_CONTRACT.contains(&id)).len(), NEEDS_CONTRACT.len());
    relay.stop().await;
}

#[actix_web::test]
async fn image_wrappers_and_the_proxy_take_the_documented_fields() {
    let (upstream, relay, document) = start().await;
    for (path, method, op) in operations(&document, |id| NEEDS_CONTRACT.contains(&id)) {
        call(&upstream, &relay, &path, &method, &op).await;
    }
    relay.stop().await;
}

#[actix_web::test]
async fn actions_routes_refuse_a_bad_body_with_the_pointer_before_the_upstream() {
    let (upstream, relay, document) = start().await;
    let png = base64::engine::general_purpose::STANDARD.encode(PNG);
    let cases = [
        ("/v1/proxy", json!({"method": "GET", "path": "/v1/models", "query": {"limit": {"nested": 1}}}), "/query"),
        ("/v1/proxy", json!({"method": 5, "path": "/v1/models"}), "/method"),
        ("/v1/proxy", json!({"path": "/v1/models"}), "/method"),
        ("/v1/proxy", json!({"method": "GET", "path": "/v1/models", "headers": {}}), "/headers"),
        ("/v1/actions/images/edits", json!({"prompt": "a hat", "n": 99, "image_base64": png}), "/n"),
        ("/v1/actions/images/edits", json!({"prompt": "a hat", "size": "3x3", "image_base64": png}), "/size"),
        ("/v1/actions/images/variations", json!({"n": "two", "image_base64": png}), "/n"),
    ];
    for (path, body, pointer) in cases {
        let mut response =
            client().post(relay.url(path)).insert_header(("X-Relay-Key", RELAY_KEY)).send_json(&body).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path} {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_body", "{error}");
        assert_eq!(error["error"]["param"], pointer, "{path} {body}: {error}");
    }
    assert!(upstream.requests().is_empty(), "nothing went upstream");
    // Consequential: reads are not, calls that spend or change are.
    let paths = &document["paths"];
    assert_eq!(paths["/v1/actions/files"]["get"]["x-openai-isConsequential"], false);
    assert_eq!(paths["/v1/models/{model}"]["get"]["x-openai-isConsequential"], false);
    assert_eq!(paths["/v1/responses"]["post"]["x-openai-isConsequential"], true);
    assert_eq!(paths["/v1/proxy"]["post"]["x-openai-isConsequential"], true);
    relay.stop().await;
}
