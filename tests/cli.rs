//! The `relay` binary's offline commands, run as a user would run them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::path::Path;
use std::process::{Command, Output};

fn relay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RELAY_ROUTES")
        .env("OPENAI_API_KEY", "sk-test")
        .output()
        .expect("the relay binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_the_shipped_routes() {
    let out = relay(&["check"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("ok: "), "{}", text(&out.stderr));
}

#[test]
fn check_prints_every_error_and_exits_1() {
    let out = relay(&["check", "--routes", "tests/fixtures/spec_errors/many_files"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("01-broken.toml:4:14: error:"), "{stderr}");
    assert!(stderr.contains("02-ok.toml:8:11: error:"), "{stderr}");
    assert!(stderr.contains("03-also-broken.toml:5:12: error:"), "{stderr}");
    assert!(stderr.trim_end().ends_with("3 errors found"), "{stderr}");
}

#[test]
fn check_reports_a_missing_directory() {
    let out = relay(&["check", "--routes", "tests/fixtures/no-such-dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read the routes directory"), "{}", text(&out.stderr));
}

#[test]
fn routes_json_lists_every_route_with_its_target() {
    let out = relay(&["routes", "--json"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let routes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let routes = routes.as_array().expect("an array");
    assert!(routes.len() >= 14);
    let upload = routes.iter().find(|r| r["id"] == "files.upload").expect("files.upload is listed");
    assert_eq!(upload["methods"], serde_json::json!(["POST"]));
    assert_eq!(upload["path"], "/v1/files");
    assert_eq!(upload["upstream"], "openai");
    assert_eq!(upload["upstream_path"], "/files");
    for route in routes {
        for key in ["id", "methods", "path", "upstream", "upstream_path"] {
            assert!(!route[key].is_null(), "{key} missing in {route}");
        }
    }
}

#[test]
fn routes_prints_one_line_per_route() {
    let out = relay(&["routes"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("files.content ")).expect("files.content line");
    assert!(
        line.contains("GET")
            && line.contains("/v1/files/{file_id}/content")
            && line.ends_with("/files/{file_id}/content")
    );
}

#[test]
fn serve_refuses_an_open_address_without_keys() {
    let out = Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env_remove("RELAY_KEYS")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("refusing to listen on 0.0.0.0:0 without relay keys"), "{}", text(&out.stderr));
}

#[test]
fn check_names_an_unclosed_inline_table_and_hints_every_syntax_error() {
    let out = relay(&["check", "--routes", "tests/fixtures/spec_errors/syntax_hints"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("a.toml:7:15: error: this inline table has no closing `}`\n  hint: add `}`"), "{stderr}");
    assert!(stderr.contains("b.toml:3:10: error: unknown method \"GTE\""), "{stderr}");
    assert!(!stderr.contains("names no upstream"), "{stderr}");
    assert!(stderr.contains("d.toml:4:8: error: string values must be quoted"), "{stderr}");
    let errors = stderr.lines().filter(|l| l.contains(": error: ")).count();
    let hints = stderr.lines().filter(|l| l.starts_with("  hint: ")).count();
    assert_eq!((errors, hints), (4, 4), "{stderr}");
    assert!(stderr.trim_end().ends_with("4 errors found"), "{stderr}");
}

#[test]
fn routes_has_a_header_and_the_listeners_of_each_route() {
    let dirs = ["routes", "--routes", "routes.d", "--routes", "examples/two-ports"];
    let out = relay(&dirs);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let header: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["ID", "METHODS", "PATH", "LISTENERS", "UPSTREAM", "UPSTREAM_PATH"]);
    let columns = |id: &str| -> Vec<String> {
        let line = stdout.lines().find(|l| l.starts_with(&format!("{id} "))).expect("the route is listed");
        line.split_whitespace().map(str::to_owned).collect()
    };
    let bridge = ["bridge.completions", "POST", "/v1/chat/completions", "bridge", "openai", "/responses"];
    assert_eq!(columns("bridge.completions"), bridge);
    assert_eq!(columns("chat.completions.create")[3], "default");
    assert_eq!(columns("files.list")[3], "default,bridge");
    let out = relay(&[&dirs[..], &["--json"]].concat());
    let routes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let listeners = |id: &str| routes.as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["listeners"].clone();
    assert_eq!(listeners("bridge.completions"), serde_json::json!(["bridge"]));
    assert_eq!(listeners("files.list"), serde_json::json!(["default", "bridge"]));
}

#[test]
fn check_warns_about_a_path_parameter_nothing_reads() {
    let out = relay(&["check", "--routes", "tests/fixtures/spec_warnings"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(": warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].starts_with("tests/fixtures/spec_warnings/routes.toml:7:37: warning: path parameter `file_id`")
    );
    assert!(warnings[1].starts_with("tests/fixtures/spec_warnings/routes.toml:43:33: warning: path parameter `part`"));
    assert!(stderr.contains("hint: write {file_id} in `upstream_path`"), "{stderr}");
    let shipped = text(&relay(&["check"]).stderr);
    assert!(!shipped.contains("path parameter"), "{shipped}");
}
