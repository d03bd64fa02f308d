//! Defaults that merge: a directory's `_defaults.toml`, under a file's
//! `[defaults]`, under the route. Table-valued keys merge key by key (header
//! maps per name, case-insensitive), scalars and lists replace. Each case
//! compiles the merged form and the same route written out in full, and
//! requires the two compiled routes to be equal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::path::Path;

use relay::compile::load_table;
use relay::env::Env;
use relay::reload::Reloader;
use relay::table::Table;

const UPSTREAMS: &str = "[upstream.openai]\nbase_url = \"https://api.openai.com/v1\"\n\n\
                         [upstream.other]\nbase_url = \"https://other.example/v1\"\n";

fn env() -> Env {
    Env::from_pairs([("OPENAI_API_KEY", "sk-test")])
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    std::fs::write(dir.join("00-upstreams.toml"), UPSTREAMS).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn compile(files: &[(&str, &str)]) -> Result<Table, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), files);
    let prefix = format!("{}/", dir.path().display());
    load_table(dir.path(), &env()).map_err(|errors| errors.iter().map(|e| e.to_string().replace(&prefix, "")).collect())
}

/// The one route of the table, as text, without where it was written.
fn the_route(files: &[(&str, &str)]) -> String {
    let table = compile(files).unwrap_or_else(|errors| panic!("{errors:#?}"));
    assert_eq!(table.routes.len(), 1);
    without_origin(&format!("{:#?}", table.routes[0]))
}

/// A route's `{:#?}` without its own `origin` (its upstream's stays) and
/// `defaulted`.
fn without_origin(text: &str) -> String {
    let start = text.find("\n    origin: Origin {").expect("a route has an origin");
    let end = start + text[start..].find("\n    },").expect("the origin ends") + "\n    },".len();
    let mut text = format!("{}{}", &text[..start], &text[end..]);
    // Where defaulted values come from differs between the forms by design.
    text.truncate(text.find("\n    defaulted: [").expect("a route lists its defaulted keys"));
    // Each case compiles in its own temporary directory.
    text.lines()
        .map(|line| line.rsplit_once("/").filter(|_| line.contains("file: \"")).map_or(line, |(_, name)| name))
        .collect::<Vec<_>>()
        .join("\n")
}

const ROUTE: &str = "[[route]]\nid = \"x\"\nmethod = \"POST\"\npath = \"/v1/x\"\n";

#[test]
fn header_maps_merge_per_name_and_the_route_wins() {
    let merged = the_route(&[(
        "x.toml",
        &format!(
            "[defaults]\nupstream = \"openai\"\n\
             headers = {{ default = {{ \"OpenAI-Beta\" = \"assistants=v2\", \"X-A\" = \"file\" }}, remove = [\"cookie\"] }}\n\n\
             {ROUTE}headers = {{ default = {{ \"x-a\" = \"route\" }}, set = {{ \"X-B\" = \"b\" }} }}\n"
        ),
    )]);
    let explicit = the_route(&[(
        "x.toml",
        &format!(
            "{ROUTE}upstream = \"openai\"\nheaders = {{ default = {{ \"OpenAI-Beta\" = \"assistants=v2\", \"x-a\" = \"route\" }}, \
             set = {{ \"X-B\" = \"b\" }}, remove = [\"cookie\"] }}\n"
        ),
    )]);
    assert_eq!(merged, explicit);
    assert!(merged.contains("assistants=v2") && !merged.contains("\"file\""), "{merged}");
}

#[test]
fn a_route_drops_a_default_header_with_an_empty_value() {
    let merged = the_route(&[(
        "x.toml",
        &format!(
            "[defaults]\nheaders = {{ set = {{ \"OpenAI-Beta\" = \"v2\" }} }}\nupstream = \"openai\"\n\n{ROUTE}headers = {{ set = {{ \"OpenAI-Beta\" = \"\" }} }}\n"
        ),
    )]);
    assert_eq!(merged, the_route(&[("x.toml", &format!("{ROUTE}upstream = \"openai\"\n"))]));
}

#[test]
fn body_and_retry_merge_key_by_key_and_lists_replace() {
    let merged = the_route(&[(
        "x.toml",
        &format!(
            "[defaults]\nupstream = \"openai\"\nbody = {{ accept = [\"application/json\"], max = \"25MiB\" }}\n\
             retry = {{ attempts = 3, on_status = [429, 503], allow_post = true }}\n\n\
             {ROUTE}body = {{ accept = [\"multipart/form-data\"] }}\nretry = {{ on_status = [429] }}\n"
        ),
    )]);
    let explicit = the_route(&[(
        "x.toml",
        &format!(
            "{ROUTE}upstream = \"openai\"\nbody = {{ accept = [\"multipart/form-data\"], max = \"25MiB\" }}\n\
             retry = {{ attempts = 3, on_status = [429], allow_post = true }}\n"
        ),
    )]);
    assert_eq!(merged, explicit);
}

#[test]
fn directory_defaults_lie_under_the_file_and_the_route() {
    let dir_defaults = "[defaults]\nupstream = \"other\"\ntimeout = \"30s\"\ntags = [\"Dir\"]\n\
                        headers = { set = { \"X-Dir\" = \"d\", \"X-Both\" = \"dir\" } }\n\
                        body = { accept = [\"application/json\"], max = \"1MiB\" }\n";
    let file = format!(
        "[defaults]\nupstream = \"openai\"\nheaders = {{ set = {{ \"X-Both\" = \"file\" }} }}\n\n\
         {ROUTE}body = {{ max = \"2MiB\" }}\n"
    );
    let merged = the_route(&[("_defaults.toml", dir_defaults), ("x.toml", &file)]);
    let explicit = the_route(&[(
        "x.toml",
        &format!(
            "{ROUTE}upstream = \"openai\"\ntimeout = \"30s\"\ntags = [\"Dir\"]\n\
             headers = {{ set = {{ \"X-Dir\" = \"d\", \"X-Both\" = \"file\" }} }}\n\
             body = {{ accept = [\"application/json\"], max = \"2MiB\" }}\n"
        ),
    )]);
    assert_eq!(merged, explicit);
}

#[test]
fn compact_routes_take_the_merged_defaults() {
    let merged = the_route(&[
        ("_defaults.toml", "[defaults]\nupstream = \"other\"\nbody = { accept = [\"application/json\"] }\n"),
        ("x.toml", "[routes]\nx = \"POST /v1/x\"\n"),
    ]);
    let explicit = the_route(&[(
        "x.toml",
        &format!("{ROUTE}upstream = \"other\"\nbody = {{ accept = [\"application/json\"] }}\n"),
    )]);
    assert_eq!(merged, explicit);
}

#[test]
fn directory_defaults_errors_are_located_in_their_own_file() {
    let bad = "[defaults]\nupstream = \"opena\"\ntimeout = \"3 parsecs\"\n";
    let errors = compile(&[("_defaults.toml", bad), ("x.toml", &format!("{ROUTE}timeout = \"1x\"\n"))]).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with("_defaults.toml:2:12: error: unknown upstream \"opena\""), "{errors:#?}");
    assert!(errors[0].contains("did you mean \"openai\"?"), "{errors:#?}");
    assert!(errors[1].starts_with("_defaults.toml:3:11: error: `timeout`"), "{errors:#?}");

    let holds_a_route = format!("[defaults]\nupstream = \"openai\"\n\n{ROUTE}");
    let errors = compile(&[("_defaults.toml", &holds_a_route)]).unwrap_err();
    assert!(errors[0].starts_with("_defaults.toml:4:1: error: _defaults.toml holds a route"), "{errors:#?}");
    assert!(errors[0].contains("hint: "), "{errors:#?}");

    let retry_without_attempts =
        format!("[defaults]\nupstream = \"openai\"\n\n{ROUTE}retry = {{ on_status = [429] }}\n");
    let errors = compile(&[("x.toml", &retry_without_attempts)]).unwrap_err();
    assert!(errors[0].starts_with("x.toml:8:9: error: `retry` needs `attempts`"), "{errors:#?}");
}

#[test]
fn a_change_of_the_directory_defaults_reloads_every_file_of_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = |upstream: &str| format!("[defaults]\nupstream = \"{upstream}\"\n");
    write(
        dir.path(),
        &[
            ("_defaults.toml", &defaults("openai")),
            ("a.toml", "[routes]\na = \"GET /v1/a\"\n"),
            ("b.toml", "[routes]\nb = \"GET /v1/b\"\n"),
        ],
    );
    let reloader = Reloader::start(&[dir.path().to_path_buf()], Box::new(env)).unwrap();
    let upstreams = |r: &Reloader| -> Vec<String> {
        r.live().load().table.routes.iter().map(|route| route.upstream.name.clone()).collect()
    };
    assert_eq!(upstreams(&reloader), ["openai", "openai"]);
    std::fs::write(dir.path().join("_defaults.toml"), defaults("other")).unwrap();
    let outcome = reloader.reload().expect("the change is seen");
    assert!(outcome.applied && outcome.errors.is_empty(), "{outcome:#?}");
    assert_eq!(upstreams(&reloader), ["other", "other"]);
    assert_eq!(outcome.routes_changed, ["a", "b"]);

    // A broken edit keeps the last good directory defaults.
    std::fs::write(dir.path().join("_defaults.toml"), defaults("nowhere")).unwrap();
    let outcome = reloader.reload().expect("the change is seen");
    assert!(!outcome.errors.is_empty(), "{outcome:#?}");
    assert_eq!(upstreams(&reloader), ["other", "other"]);
}

#[test]
fn each_defaulted_value_names_the_file_it_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let dir_defaults = "[defaults]\nupstream = \"other\"\ntimeout = \"30s\"\n\
                        headers = { set = { \"X-Dir\" = \"d\", \"x-both\" = \"dir\" } }\n";
    let file = format!(
        "[defaults]\nupstream = \"openai\"\nheaders = {{ set = {{ \"X-Both\" = \"file\" }} }}\nbody = {{ max = \"1MiB\" }}\n\n\
         {ROUTE}body = {{ accept = [\"application/json\"] }}\nheaders = {{ set = {{ \"X-Own\" = \"r\" }} }}\n"
    );
    write(dir.path(), &[("_defaults.toml", dir_defaults), ("x.toml", &file)]);
    let table = load_table(dir.path(), &env()).unwrap();
    let route = &table.routes[0];
    let names = |path: &std::path::Path| path.file_name().unwrap().to_str().unwrap().to_owned();
    let defaulted: Vec<(&str, String)> =
        route.defaulted.iter().map(|(key, file)| (key.as_str(), names(file))).collect();
    assert_eq!(
        defaulted,
        [
            ("upstream", "x.toml".to_owned()),
            ("timeout", "_defaults.toml".to_owned()),
            ("headers.set.X-Both", "x.toml".to_owned()),
            ("headers.set.X-Dir", "_defaults.toml".to_owned()),
            ("body.max", "x.toml".to_owned()),
        ]
    );
    let grouped: Vec<(String, Vec<&str>)> =
        route.defaulted_by_file().into_iter().map(|(file, keys)| (names(file), keys)).collect();
    assert_eq!(grouped[1], ("_defaults.toml".to_owned(), vec!["timeout", "headers.set.X-Dir"]));
}

#[test]
fn directory_defaults_stay_in_their_directory() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(
        a.path(),
        &[("_defaults.toml", "[defaults]\nupstream = \"other\"\n"), ("a.toml", "[routes]\na = \"GET /v1/a\"\n")],
    );
    std::fs::write(b.path().join("b.toml"), "[routes]\nb = \"GET /v1/b\"\n[defaults]\nupstream = \"openai\"\n")
        .unwrap();
    let table = relay::compile::load_dirs(&[a.path().to_path_buf(), b.path().to_path_buf()], &env()).unwrap();
    let upstreams: Vec<(&str, &str)> = table.routes.iter().map(|r| (r.id.as_str(), r.upstream.name.as_str())).collect();
    assert_eq!(upstreams, [("a", "other"), ("b", "openai")]);
}
