//! The schemas routes name in `openapi = {...}`: the shipped documents
//! describe every JSON body (never a bare `{"type": "object"}`), query
//! parameters and Actions answers; the committed `schemas/` is what the
//! routes use and compiles; a bad schema is a located spec error; editing a
//! schema in a subfolder reloads the documents.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use relay::env::Env;
use relay::live::Live;
use serde_json::{Value, json};

const UPSTREAM: &str = "[upstream.openai]\nbase_url = \"http://127.0.0.1:1/v1\"\n";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A routes directory `routes.d/` with `routes`, and `schemas/` with `files`.
fn project(routes: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("routes.d")).unwrap();
    std::fs::write(dir.path().join("routes.d/routes.toml"), format!("{UPSTREAM}{routes}")).unwrap();
    for (name, text) in files {
        let path = dir.path().join("schemas").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn route(openapi: &str) -> String {
    format!("\n[[route]]\nid = \"a\"\nmethod = \"POST\"\npath = \"/v1/a\"\nopenapi = {{ {openapi} }}\n")
}

#[test]
fn no_json_body_in_the_shipped_documents_is_a_bare_object() {
    let table = Live::load(&root().join("routes.d"), &Env::from_pairs::<&str, &str>([])).unwrap();
    let docs = &table.documents;
    let full = json(&docs.full);
    let components = &full["components"]["schemas"];
    let documents = [full.clone()].into_iter().chain(docs.actions.values().map(|d| json(d)));
    let mut bodies = 0;
    for document in documents {
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(schema) = op["requestBody"]["content"].get("application/json").map(|c| &c["schema"]) else {
                    continue;
                };
                bodies += 1;
                let schema = match schema["$ref"].as_str() {
                    Some(target) => &components[target.trim_start_matches("#/components/schemas/")],
                    None => schema,
                };
                assert!(schema.is_object() && *schema != json!({"type": "object"}), "{method} {path}: {schema}");
            }
        }
    }
    assert!(bodies > 100, "{bodies} JSON bodies checked");
}

#[test]
fn the_full_document_carries_request_query_and_response_schemas() {
    let table = Live::load(&root().join("routes.d"), &Env::from_pairs::<&str, &str>([])).unwrap();
    let full = json(&table.documents.full);
    let schemas = &full["components"]["schemas"];
    let create = &full["paths"]["/v1/responses"]["post"];
    let request = &create["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(request["$ref"], "#/components/schemas/openai.createResponse.request");
    assert_eq!(schemas["openai.createResponse.request"]["$ref"], "#/components/schemas/CreateResponse");
    assert!(schemas["CreateResponse"].is_object(), "the $defs are hoisted beside it");
    let answer = &create["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(answer["$ref"], "#/components/schemas/openai.createResponse.response");
    let list = &full["paths"]["/v1/files"]["get"]["parameters"];
    let limit = list.as_array().unwrap().iter().find(|p| p["name"] == "limit").expect("a `limit` parameter");
    assert_eq!((&limit["in"], &limit["schema"]["type"]), (&json!("query"), &json!("integer")));
    assert!(limit["description"].as_str().unwrap().contains("10,000"), "the API's own text: {limit}");
    // Multipart parts are described.
    let upload = &full["paths"]["/v1/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"];
    let parts = &schemas[upload["$ref"].as_str().unwrap().trim_start_matches("#/components/schemas/")];
    let parts = &schemas[parts["$ref"].as_str().unwrap().trim_start_matches("#/components/schemas/")];
    assert_eq!(parts["properties"]["file"]["format"], "binary", "{parts}");
    // The JSON form of a json_to_multipart route names the Actions file references.
    let edit = &full["paths"]["/v1/actions/images/edits"]["post"]["requestBody"]["content"]["application/json"];
    let edit = &schemas[edit["schema"]["$ref"].as_str().unwrap().trim_start_matches("#/components/schemas/")];
    assert_eq!(edit["properties"]["openaiFileIdRefs"]["items"]["required"], json!(["download_link"]));
}

#[test]
fn the_committed_schemas_are_the_ones_the_routes_name_and_compile() {
    let mut named = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("routes.d")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in text.split('"').filter(|p| p.ends_with(".json")) {
            named.insert(piece.to_owned());
        }
    }
    let mut files = BTreeSet::new();
    let mut pending = vec![root().join("schemas")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.strip_prefix(root().join("schemas")).unwrap().to_str().unwrap().to_owned();
            if name == "relay-routes.schema.json" {
                continue; // the spec files' own schema, for editors (tests/editor_schema.rs)
            }
            let schema: Value = json(&std::fs::read(&path).unwrap());
            jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_no_duplicate_required(&name, &schema);
            files.insert(name);
        }
    }
    assert_eq!(files, named, "every schema file is named by a route, and every name has a file");
}

/// Strict validators refuse a `required` list that names a field twice.
fn assert_no_duplicate_required(name: &str, schema: &Value) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::Array(required)) = object.get("required") {
                let unique: BTreeSet<String> = required.iter().map(Value::to_string).collect();
                assert_eq!(unique.len(), required.len(), "{name}: {required:?}");
            }
            object.values().for_each(|v| assert_no_duplicate_required(name, v));
        }
        Value::Array(items) => items.iter().for_each(|v| assert_no_duplicate_required(name, v)),
        _ => {}
    }
}

#[test]
fn a_bad_schema_is_a_located_spec_error() {
    let cases = [
        ("request_schema = \"x/missing.json\"", "`openapi.request_schema`: cannot read schema"),
        ("request_schema = \"x/not.json\"", "is not JSON"),
        ("response_schema = \"x/invalid.json\"", "is not a valid JSON Schema"),
        ("query_schema = \"x/valid.json\"", "has no `properties`; a query schema lists one per parameter"),
        ("multipart_schema = \"../outside.json\"", "must be a relative path inside the schemas folder"),
    ];
    let files =
        [("x/not.json", "{oops"), ("x/invalid.json", "{\"type\": 12}"), ("x/valid.json", "{\"type\": \"string\"}")];
    for (key, message) in cases {
        let dir = project(&route(key), &files);
        let errors = Live::load(&dir.path().join("routes.d"), &Env::from_pairs::<&str, &str>([])).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        // Line 8 is `openapi = { KEY }`; the error points at the file name.
        let at = format!("routes.toml:8:{}: error: ", "openapi = { ".len() + key.find('"').unwrap() + 1);
        assert!(text.contains(&at) && text.contains(message), "{key}: {text} (expected {at}... {message})");
        assert!(text.contains("hint: name a JSON Schema file"), "{text}");
    }
}

#[actix_web::test]
async fn editing_a_schema_in_a_subfolder_changes_the_document() {
    let schema =
        |text: &str| format!("{{\"type\": \"object\", \"properties\": {{\"x\": {{\"description\": \"{text}\"}}}}}}");
    let dir = project(&route("request_schema = \"sub/a.json\""), &[("sub/a.json", &schema("before"))]);
    let relay = support::relay::Process::start(&dir.path().join("routes.d"), &[], &[]);
    let client = support::relay::client();
    let description = || async {
        let mut response = client.get(relay.url("/openapi.json")).send().await.unwrap();
        let doc = json(&response.body().limit(1 << 20).await.unwrap());
        doc["components"]["schemas"]["sub.a"]["properties"]["x"]["description"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(description().await, "before");
    std::fs::write(dir.path().join("schemas/sub/a.json"), schema("after the edit")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while description().await != "after the edit" {
        assert!(Instant::now() < deadline, "the document did not change; log:\n{}", relay.log.lock().unwrap());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
