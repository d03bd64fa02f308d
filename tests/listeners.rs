#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! Listeners with their own routes, and model lists served per listener: the
//! real binary on three ports, a real upstream.

mod support;

use relay::env::Env;
use serde_json::Value;
use support::relay::{Process, routes_dir};
use support::upstream::Upstream;

const UPSTREAM: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }
"#;

fn ids(body: &Value) -> Vec<&str> {
    body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect()
}

async fn get_json(url: &str) -> (u16, Value) {
    let mut response = support::relay::client().get(url).send().await.unwrap();
    let body = response.body().await.unwrap();
    (response.status().as_u16(), serde_json::from_slice(&body).unwrap())
}

#[actix_web::test]
async fn each_listener_serves_its_own_routes_and_model_list() {
    let upstream = Upstream::start().await;
    let dir = routes_dir(&format!(
        r#"{UPSTREAM}
[listener.codex]
listen = "127.0.0.1:0"

[listener.chat]
listen = "${{CHAT_LISTEN:-127.0.0.1:0}}"

[[route]]
id = "models.codex"
method = "GET"
path = "/v1/models"
listeners = ["codex"]
models = {{ include = ["*codex*"] }}

[[route]]
id = "models.chat"
method = "GET"
path = "/v1/models"
listeners = ["chat"]
models = {{ exclude = ["*codex*", "/^o-/"] }}

[[route]]
id = "model.chat"
method = "GET"
path = "/v1/models/{{model}}"
listeners = ["chat"]
models = {{ exclude = ["*codex*"] }}

[[route]]
id = "files.list"
method = "GET"
path = "/v1/files"
listeners = ["default", "chat"]
"#
    ));
    let relay = Process::start(dir.path(), &[], &[("OPENAI_BASE_URL", &upstream.base_url())]);

    let (status, codex) = get_json(&relay.url_on("codex", "/v1/models")).await;
    assert_eq!((status, ids(&codex)), (200, vec!["gpt-test-codex"]));
    let (status, chat) = get_json(&relay.url_on("chat", "/v1/models")).await;
    assert_eq!((status, ids(&chat)), (200, vec!["gpt-test"]));
    assert_eq!(chat["object"], "list");

    // A hidden model is not found on that listener, and never asked upstream.
    let asked = upstream.requests().len();
    let (status, error) = get_json(&relay.url_on("chat", "/v1/models/gpt-test-codex")).await;
    assert_eq!((status, error["error"]["code"].as_str()), (404, Some("model_not_found")));
    assert_eq!(upstream.requests().len(), asked);
    let (status, _) = get_json(&relay.url_on("chat", "/v1/models/gpt-test")).await;
    assert_eq!(status, 200);

    // Routes bound elsewhere are not found here; a route on two listeners is on both.
    let (status, error) = get_json(&relay.url("/v1/models")).await;
    assert_eq!((status, error["error"]["code"].as_str()), (404, Some("unknown_route")));
    let (status, _) = get_json(&relay.url_on("codex", "/v1/files")).await;
    assert_eq!(status, 404);
    assert_eq!(get_json(&relay.url("/v1/files")).await.0, 200);
    assert_eq!(get_json(&relay.url_on("chat", "/v1/files")).await.0, 200);
    upstream.stop().await;
}

#[actix_web::test]
async fn a_model_file_wins_then_the_upstream_then_the_builtin_list() {
    let upstream = Upstream::start().await;
    let spec = format!(
        r#"{UPSTREAM}
[upstream.down]
base_url = "http://127.0.0.1:9/v1"

[defaults]
upstream = "openai"

[[route]]
id = "models.list"
method = "GET"
path = "/v1/models"
models = {{ file = "models.json", exclude = ["*-hidden"] }}

[[route]]
id = "models.down"
method = "GET"
path = "/v1/down/models"
upstream = "down"
upstream_path = "/models"
models = {{ include = ["gpt-5*"] }}

[[route]]
id = "models.refused"
method = "GET"
path = "/v1/refused/models"
upstream_path = "/files/missing"
models = {{}}
"#
    );
    let dir = routes_dir(&spec);
    let relay = Process::start(dir.path(), &[], &[("OPENAI_BASE_URL", &upstream.base_url())]);

    // No file yet: the upstream's list.
    let (_, listed) = get_json(&relay.url("/v1/models")).await;
    assert_eq!(ids(&listed), vec!["gpt-test", "gpt-test-codex", "o-test"]);
    // The file appears: it is read by the reload its change causes.
    std::fs::write(
        dir.path().join("models.json"),
        r#"["local-a", "local-hidden", {"id": "local-b", "owned_by": "me"}]"#,
    )
    .unwrap();
    let mut local = Value::Null;
    for _ in 0..100 {
        local = get_json(&relay.url("/v1/models")).await.1;
        if local["data"][0]["id"] == "local-a" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(ids(&local), vec!["local-a", "local-b"]);
    assert_eq!(local["data"][1]["owned_by"], "me");

    // An unreachable upstream: the built-in list, filtered, and a log line says so.
    let (status, builtin) = get_json(&relay.url("/v1/down/models")).await;
    assert_eq!(status, 200);
    assert!(!ids(&builtin).is_empty() && ids(&builtin).iter().all(|id| id.starts_with("gpt-5")), "{builtin}");
    assert!(relay.wait_for_log("model list served from the built-in list"));

    // A 4xx from the upstream is the client's to see, unchanged.
    let (status, error) = get_json(&relay.url("/v1/refused/models")).await;
    assert_eq!((status, error["error"]["message"].as_str()), (404, Some("No such File object: missing")));
    upstream.stop().await;
}

#[test]
fn listener_mistakes_are_located_with_hints() {
    let dir = routes_dir(&format!(
        r#"{UPSTREAM}
[listener.chat]
listen = "localhost:5101"

[listener.codex]
listen = "127.0.0.1:5103"

[listener."bad name"]
listen = "127.0.0.1:5102"

[[route]]
id = "a"
method = "GET"
path = "/v1/a"
listeners = ["codx"]

[[route]]
id = "b"
method = "GET"
path = "/v1/b"
listeners = []

[[route]]
id = "c"
method = "GET"
path = "/v1/models"
models = {{ include = ["/(/"] }}
"#
    ));
    let env = Env::from_pairs([("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")]);
    let errors = relay::compile::load_table(dir.path(), &env).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    assert!(all.contains(r#"`listen = "localhost:5101"` is not an address"#), "{all}");
    assert!(all.contains("`bad name` is not a valid listener name"), "{all}");
    assert!(all.contains("unknown listener `codx`") && all.contains("did you mean `codex`?"), "{all}");
    assert!(all.contains("`listeners = []` serves the route nowhere"), "{all}");
    assert!(all.contains("[route.models]: `include` has an invalid regular expression"), "{all}");
    assert!(errors.iter().all(|e| e.line > 0 && e.file.ends_with("routes.toml")), "{all}");
}

#[test]
fn the_same_path_twice_on_one_listener_is_still_a_clash() {
    let dir = routes_dir(&format!(
        r#"{UPSTREAM}
[listener.chat]
listen = "127.0.0.1:0"

[[route]]
id = "one"
method = "GET"
path = "/v1/x"
listeners = ["chat", "default"]

[[route]]
id = "two"
method = "GET"
path = "/v1/x"
listeners = ["chat"]
"#
    ));
    let env = Env::from_pairs([("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")]);
    let errors = relay::compile::load_table(dir.path(), &env).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("route `two` matches GET /v1/x like route `one`"), "{errors:?}");
}

#[actix_web::test]
async fn a_reload_applies_routes_but_says_new_listeners_need_a_restart() {
    let upstream = Upstream::start().await;
    let dir =
        routes_dir(&format!("{UPSTREAM}\n[[route]]\nid = \"files.list\"\nmethod = \"GET\"\npath = \"/v1/files\"\n"));
    let relay = Process::start(dir.path(), &[], &[("OPENAI_BASE_URL", &upstream.base_url())]);
    std::fs::write(
        dir.path().join("more.toml"),
        "[listener.late]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\nid = \"models.list\"\nmethod = \"GET\"\npath = \"/v1/models\"\n",
    )
    .unwrap();
    let mut status = 0;
    for _ in 0..100 {
        status = get_json(&relay.url("/v1/models")).await.0;
        if status == 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        status,
        200,
        "the new route on `default` is served after the reload; log: {}",
        relay.log.lock().unwrap()
    );
    assert!(relay.wait_for_log("listener addresses changed in the routes; they apply after a restart"));
    upstream.stop().await;
}

#[test]
fn a_second_directory_overrides_and_a_listener_inherits_what_it_does_not_serve_itself() {
    let base = routes_dir(
        r#"
[upstream.openai]
base_url = "http://base.test/v1"

[[route]]
id = "items.list"
method = "GET"
path = "/v1/items"

[[route]]
id = "items.item"
method = ["GET", "DELETE"]
path = "/v1/items/{id}"

[[route]]
id = "items.count"
method = "GET"
path = "/v1/items/count"
"#,
    );
    let overlay = routes_dir(
        r#"
[upstream.openai]
override = true
base_url = "http://overlay.test/v1"

[listener.side]
listen = "127.0.0.1:5999"
inherit = "default"

[[route]]
id = "items.count"
override = true
method = "GET"
path = "/v1/items/count"
upstream_path = "/items/total"

[[route]]
id = "side.item"
method = "GET"
path = "/v1/items/{item}"
listeners = ["side"]
upstream_path = "/side/{item}"
"#,
    );
    let dirs = [base.path().to_path_buf(), overlay.path().to_path_buf()];
    let table = relay::compile::load_dirs(&dirs, &Env::default()).unwrap();
    let get = actix_web::http::Method::GET;
    let resolve = |listener: &str, method: &actix_web::http::Method, path: &str| {
        table.resolve(listener, method, path, None).map(|r| (table.routes[r.route].id.clone(), r.url))
    };
    // The shipped-style routes go to the overriding upstream; the overriding route replaces its namesake.
    assert_eq!(
        resolve("default", &get, "/v1/items").unwrap(),
        ("items.list".into(), "http://overlay.test/v1/items".into())
    );
    let count = resolve("default", &get, "/v1/items/count").unwrap();
    assert_eq!(count, ("items.count".into(), "http://overlay.test/v1/items/total".into()));
    // `side` inherits what it has no route for, and its own route wins.
    assert_eq!(resolve("side", &get, "/v1/items").unwrap().0, "items.list");
    assert_eq!(
        resolve("side", &get, "/v1/items/7").unwrap(),
        ("side.item".into(), "http://overlay.test/v1/side/7".into())
    );
    // A route sharing any method with an own route is not inherited at all.
    let delete = resolve("side", &actix_web::http::Method::DELETE, "/v1/items/7").unwrap_err();
    assert_eq!(delete.status.as_u16(), 405);
    assert_eq!(resolve("default", &actix_web::http::Method::DELETE, "/v1/items/7").unwrap().0, "items.item");
    let item = table.routes.iter().find(|r| r.id == "items.list").unwrap();
    assert_eq!(item.listeners, ["default", "side"]);
}
