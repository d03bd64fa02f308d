//! The generated OpenAPI and ChatGPT Actions documents: the shipped routes'
//! documents parse as OpenAPI 3.1, the `files` and `images` Actions sets are
//! golden (`RELAY_BLESS=1` rewrites them), each Actions rule leaves a route
//! of a small spec out of the Actions documents with a located message (the
//! table still compiles), and the endpoints answer on a running relay, also
//! after a reload.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use relay::env::Env;
use relay::live::Live;
use serde_json::Value;

const UPSTREAM: &str = "[upstream.openai]\nbase_url = \"http://127.0.0.1:1/v1\"\n";
const PUBLIC_URL: &str = "https://relay.example.test";

fn shipped(env: &[(&str, &str)]) -> Live {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d");
    Live::load(&dir, &Env::from_pairs(env.iter().copied())).unwrap_or_else(|e| panic!("routes.d: {e:?}"))
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Compiles one routes file; errors and warnings as printed, without the temp dir.
fn compile(routes: &str) -> (Result<Live, Vec<String>>, Vec<String>) {
    let dir = support::relay::routes_dir(&format!("{UPSTREAM}{routes}"));
    let prefix = format!("{}/", dir.path().display());
    let strip = |s: String| s.replace(&prefix, "");
    match Live::load(dir.path(), &Env::from_pairs([("RELAY_PUBLIC_URL", PUBLIC_URL)])) {
        Ok(table) => {
            let warnings = table.documents.warnings.iter().map(|w| strip(w.to_string())).collect();
            (Ok(table), warnings)
        }
        Err(errors) => (Err(errors.into_iter().map(|e| strip(e.to_string())).collect()), Vec::new()),
    }
}

fn errors_of(routes: &str) -> Vec<String> {
    match compile(routes).0 {
        Ok(_) => panic!("the routes compiled, but a rule should fail them"),
        Err(errors) => errors,
    }
}

/// The Actions errors of a spec that still compiles; the routes they name
/// are in no Actions document.
fn actions_errors_of(routes: &str) -> Vec<String> {
    let (table, problems) = compile(routes);
    let table = table.unwrap_or_else(|e| panic!("an Actions problem must not fail the table: {e:?}"));
    assert!(table.documents.has_actions_errors());
    for set in table.documents.actions.values().chain(&table.documents.default_actions) {
        let paths = json(set)["paths"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert!(paths.iter().all(|p| p == "/v1/health"), "a route with an Actions error is listed: {paths:?}");
    }
    problems.into_iter().filter(|p| p.contains(": error: ")).collect()
}

fn route(id: &str, method: &str, path: &str, extra: &str) -> String {
    format!("\n[[route]]\nid = \"{id}\"\nmethod = \"{method}\"\npath = \"{path}\"\n{extra}")
}

#[test]
fn shipped_document_is_openapi_3_1_with_one_operation_per_route_method() {
    let table = shipped(&[]);
    let text = std::str::from_utf8(&table.documents.full).unwrap();
    let spec = oas3::from_json(text).unwrap_or_else(|e| panic!("oas3 cannot parse the document: {e}"));
    assert_eq!(spec.openapi, "3.1.0");
    // Every route method, and the relay's own health check.
    let expected: usize =
        table.table.routes.iter().filter(|r| !r.docs.hidden).map(|r| r.methods.len()).sum::<usize>() + 1;
    let operations: Vec<_> = spec.operations().collect();
    assert_eq!(operations.len(), expected);
    let ids: HashSet<_> = operations.iter().map(|(_, _, op)| op.operation_id.clone().unwrap()).collect();
    assert_eq!(ids.len(), expected, "operationIds are unique");
    assert_eq!(json(&table.documents.full)["servers"][0]["url"], "http://127.0.0.1:8080");
}

#[test]
fn images_actions_document_is_golden() {
    let table = shipped(&[("RELAY_PUBLIC_URL", "https://relay.example.test/")]);
    let doc = table.documents.actions_set("images").unwrap();
    oas3::from_json(std::str::from_utf8(doc).unwrap()).unwrap();
    let value = json(doc);
    // JSON in, described in the shape ChatGPT sends files; no multipart.
    let edit = &value["paths"]["/v1/actions/images/edits"]["post"];
    let content = edit["requestBody"]["content"].as_object().unwrap();
    assert_eq!(content.keys().collect::<Vec<_>>(), ["application/json"]);
    let refs = &content["application/json"]["schema"]["properties"]["openaiFileIdRefs"];
    assert_eq!(refs["items"]["required"], serde_json::json!(["download_link"]));
    assert_eq!(edit["x-openai-isConsequential"], true);
    let pretty = serde_json::to_string_pretty(&value).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi/actions_images.json");
    support::golden::assert_golden(&path, &pretty);
}

#[test]
fn files_actions_document_is_golden() {
    let table = shipped(&[("RELAY_PUBLIC_URL", "https://relay.example.test/")]);
    let doc = table.documents.actions_set("files").unwrap();
    oas3::from_json(std::str::from_utf8(doc).unwrap()).unwrap();
    let pretty = serde_json::to_string_pretty(&json(doc)).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi/actions_files.json");
    support::golden::assert_golden(&path, &pretty);
    // The default set: what the replaced relay's Actions document offered.
    let default = json(table.documents.actions_set("default").unwrap());
    let paths: Vec<&String> = default["paths"].as_object().unwrap().keys().collect();
    let expected = [
        "/v1/actions/files",
        "/v1/actions/images/edits",
        "/v1/actions/images/variations",
        "/v1/embeddings",
        "/v1/files/{file_id}",
        "/v1/health",
        "/v1/images/generations",
        "/v1/models",
        "/v1/models/{model}",
        "/v1/proxy",
        "/v1/realtime/sessions",
        "/v1/responses",
        "/v1/responses/compact",
        "/v1/responses/{response_id}",
        "/v1/responses/{response_id}/cancel",
        "/v1/responses/{response_id}/input_items",
    ];
    assert_eq!(paths, expected);
    assert_eq!(default["paths"]["/v1/responses"]["post"]["x-openai-isConsequential"], true);
}

#[test]
fn an_invalid_operation_id_is_located() {
    let errors =
        actions_errors_of(&route("a", "GET", "/v1/a", "openapi = { actions = [\"s\"], operation_id = \"list a\" }\n"));
    assert_eq!(
        errors,
        ["routes.toml:8:11: error: operationId \"list a\" of route `a` is not valid for ChatGPT Actions\n  \
          hint: use letters, digits, `_` and `-` in `openapi.operation_id`"]
    );
}

#[test]
fn long_summaries_and_descriptions_are_located() {
    let long = "x".repeat(301);
    let extra = format!("summary = \"{long}\"\ndescription = \"{long}\"\nopenapi = {{ actions = [\"s\"] }}\n");
    let errors = actions_errors_of(&route("a", "GET", "/v1/a", &extra));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with(
        "routes.toml:10:11: error: the summary of route `a` has 301 characters; ChatGPT Actions allow 300\n"
    ));
    assert!(errors[1].starts_with("routes.toml:10:11: error: the description of route `a` has 301 characters"));
    // Outside an Actions set, long texts are fine.
    let extra = format!("summary = \"{long}\"\n");
    assert!(compile(&route("a", "GET", "/v1/a", &extra)).0.is_ok());
}

#[test]
fn multipart_in_an_actions_set_is_an_error_with_a_hint() {
    let extra = "body = { accept = [\"multipart/form-data\"] }\nopenapi = { actions = [\"images\"] }\n";
    let errors = actions_errors_of(&route("images.edit", "POST", "/v1/images/edits", extra));
    assert_eq!(
        errors,
        [
            "routes.toml:9:11: error: route `images.edit` takes multipart/form-data, which ChatGPT Actions cannot send\n  \
          hint: offer a JSON form of this route (the `json_to_multipart` transform, when available) and list that one"
        ]
    );
}

#[test]
fn set_names_hidden_routes_and_duplicate_operation_ids_are_errors() {
    let errors = actions_errors_of(&route("a", "GET", "/v1/a", "openapi = { actions = [\"my set\"] }\n"));
    assert!(errors[0].starts_with("routes.toml:8:11: error: Actions set name \"my set\" of route `a` is not valid"));
    let errors = actions_errors_of(&route("a", "GET", "/v1/a", "openapi = { actions = [\"s\"], hidden = true }\n"));
    assert!(errors[0].starts_with("routes.toml:8:11: error: route `a` is hidden but listed in an Actions set"));
    let routes = route("a", "GET", "/v1/a", "openapi = { operation_id = \"same\" }\n")
        + &route("b", "GET", "/v1/b", "openapi = { operation_id = \"same\" }\n");
    let errors = errors_of(&routes);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with(
        "routes.toml:14:11: error: operationId `same` of route `b` is also used by route `a`\n  hint: `a` is at routes.toml:4:1"
    ));
}

#[test]
fn streaming_binary_and_large_sets_are_warnings() {
    // An audio body: not JSON, so no schema is expected.
    let mut routes = route("s", "POST", "/v1/s", "openapi = { actions = [\"s\"], response = \"sse\" }\n")
        .replace("path = \"/v1/s\"\n", "path = \"/v1/s\"\nbody = { accept = [\"audio/*\"] }\n");
    routes += &route("b", "GET", "/v1/b", "openapi = { actions = [\"s\"], response = \"binary\" }\n");
    for i in 0..29 {
        routes += &route(&format!("r{i}"), "GET", &format!("/v1/r{i}"), "openapi = { actions = [\"s\"] }\n");
    }
    let (table, warnings) = compile(&routes);
    let table = table.unwrap();
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings[0].starts_with("routes.toml:9:11: warning: route `s` can stream server-sent events"));
    assert!(warnings[1].starts_with("routes.toml:15:11: warning: route `b` returns binary content"));
    assert!(warnings[2].contains("warning: Actions set `s` has 31 operations; ChatGPT uses at most 30"));
    assert!(warnings[3].contains("warning: Actions set `default` has 31 operations"));
    let doc = json(table.documents.actions_set("s").unwrap());
    assert_eq!(doc["paths"]["/v1/s"]["post"]["x-openai-isConsequential"], true);
    assert_eq!(doc["paths"]["/v1/b"]["get"]["x-openai-isConsequential"], false);
}

#[test]
fn documents_follow_the_route_specs() {
    let routes =
        route("m", "[\"GET\", \"POST\"]", "/v1/m/{id}/{*rest}", "public = true\nupstream_path = \"/m/{id}/{rest}\"\n")
            + &route("u", "POST", "/v1/u", "body = { accept = [\"audio/*\"] }\nopenapi = { deprecated = true }\n")
            + &route("h", "GET", "/v1/h", "openapi = { hidden = true }\n");
    let routes = routes.replace("method = \"[\"GET\", \"POST\"]\"", "method = [\"GET\", \"POST\"]");
    let (table, warnings) = compile(&routes);
    assert!(warnings.is_empty(), "{warnings:?}");
    let doc = json(&table.unwrap().documents.full);
    let item = &doc["paths"]["/v1/m/{id}/{rest}"];
    assert_eq!(item["get"]["operationId"], "m_get");
    assert_eq!(item["post"]["operationId"], "m_post");
    assert_eq!(item["get"]["security"], serde_json::json!([]));
    assert_eq!(item["get"]["parameters"].as_array().unwrap().len(), 2);
    assert_eq!(item["post"]["requestBody"]["content"]["application/json"]["schema"]["type"], "object");
    let upload = &doc["paths"]["/v1/u"]["post"];
    assert_eq!(upload["deprecated"], true);
    assert_eq!(upload["requestBody"]["content"]["audio/*"]["schema"]["format"], "binary");
    assert_eq!(upload["security"], serde_json::json!([{"bearerAuth": []}, {"relayKey": []}]));
    assert!(doc["paths"].get("/v1/h").is_none());
}

#[actix_web::test]
async fn the_endpoints_answer_without_a_relay_key() {
    let upstream = support::upstream::Upstream::start().await;
    let relay = support::relay::InProcess::shipped(&upstream.base_url(), &[("RELAY_KEYS", "k1")]).await;
    let client = support::relay::client();
    let get = |path: &'static str| {
        let request = client.get(relay.url(path));
        async move {
            let mut response = request.send().await.unwrap();
            let body = response.body().limit(16 << 20).await.unwrap();
            (response.status().as_u16(), json(&body))
        }
    };
    let (status, full) = get("/openapi.json").await;
    assert_eq!((status, full["openapi"].as_str()), (200, Some("3.1.0")));
    let (status, default) = get("/openapi.actions.json").await;
    assert_eq!(status, 200);
    assert!(default["paths"]["/v1/actions/files"]["get"].is_object());
    let (status, files) = get("/openapi.actions/files.json").await;
    assert_eq!(status, 200);
    assert_eq!(files["info"]["title"], "relay: files");
    let (status, unknown) = get("/openapi.actions/nope.json").await;
    assert_eq!(status, 404);
    assert_eq!(unknown["error"]["code"], "unknown_actions_set");
    for path in ["/manifest", "/v1/manifest"] {
        let (status, manifest) = get(path).await;
        assert_eq!(status, 200);
        assert_eq!(manifest["auth"]["required"], true);
        assert_eq!(manifest["auth"]["header"], "X-Relay-Key");
        assert_eq!(manifest["actions"]["sets"][1]["url"], "http://127.0.0.1:8080/openapi.actions/files.json");
    }
    // Other routes still need the key.
    assert_eq!(client.get(relay.url("/v1/models")).send().await.unwrap().status().as_u16(), 401);
    relay.stop().await;
}

#[actix_web::test]
async fn editing_a_route_changes_the_document_after_the_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file =
        |summary: &str| format!("{UPSTREAM}{}", route("a", "GET", "/v1/a", &format!("summary = \"{summary}\"\n")));
    std::fs::write(dir.path().join("routes.toml"), file("before the edit")).unwrap();
    let relay = support::relay::Process::start(dir.path(), &[], &[]);
    let client = support::relay::client();
    let summary = || async {
        let mut response = client.get(relay.url("/openapi.json")).send().await.unwrap();
        let doc = json(&response.body().limit(1 << 20).await.unwrap());
        doc["paths"]["/v1/a"]["get"]["summary"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(summary().await, "before the edit");
    std::fs::write(dir.path().join("routes.toml"), file("after the edit")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while summary().await != "after the edit" {
        assert!(Instant::now() < deadline, "the document did not change; log:\n{}", relay.log.lock().unwrap());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn an_actions_error_in_a_reload_leaves_that_route_out_and_applies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let actions = "openapi = { actions = [\"s\"] }\n";
    let first = format!("{UPSTREAM}{}", route("a", "GET", "/v1/a", &format!("summary = \"first\"\n{actions}")));
    std::fs::write(dir.path().join("routes.toml"), first).unwrap();
    let relay = support::relay::Process::start(dir.path(), &[], &[]);
    let client = support::relay::client();
    let get = |path: &'static str| {
        let request = client.get(relay.url(path));
        async move { json(&request.send().await.unwrap().body().limit(1 << 20).await.unwrap()) }
    };
    let long = "x".repeat(301);
    let second = format!(
        "{UPSTREAM}{}{}",
        route("a", "GET", "/v1/a", &format!("summary = \"second\"\n{actions}")),
        route("b", "GET", "/v1/b", &format!("summary = \"{long}\"\n{actions}"))
    );
    std::fs::write(dir.path().join("routes.toml"), second).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while get("/openapi.actions/s.json").await["paths"]["/v1/a"]["get"]["summary"] != "second" {
        assert!(Instant::now() < deadline, "the reload did not apply; log:\n{}", relay.log.lock().unwrap());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(get("/openapi.actions/s.json").await["paths"].get("/v1/b").is_none(), "b breaks a rule");
    assert!(get("/openapi.json").await["paths"]["/v1/b"]["get"].is_object(), "b is still served and documented");
    assert!(
        relay.wait_for_log("routes.toml:16:11: error: the summary of route `b` has 301 characters"),
        "the error is logged, located; log:\n{}",
        relay.log.lock().unwrap()
    );
}

#[test]
fn the_openapi_command_prints_documents_and_check_prints_warnings() {
    let relay = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_relay"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("RELAY_ROUTES")
            .env_remove("RELAY_PUBLIC_URL")
            .output()
            .unwrap()
    };
    let out = relay(&["openapi", "--actions", "files", "--server-url", "https://relay.example.test"]);
    assert!(out.status.success());
    let doc = json(&out.stdout);
    assert_eq!(doc["servers"][0]["url"], "https://relay.example.test");
    assert_eq!(doc["paths"].as_object().unwrap().len(), 2);
    let out = relay(&["openapi"]);
    assert_eq!(json(&out.stdout)["openapi"], "3.1.0");
    let out = relay(&["openapi", "--actions", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the sets are: default, files, images, responses"));
    let out = relay(&["check"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("routes.d/responses.toml:20:11: warning: route `responses.create` can stream"), "{stderr}");
}
