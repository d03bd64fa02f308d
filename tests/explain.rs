//! Golden tests of `relay explain`: the dry run a route author reads.
//! `RELAY_BLESS=1` rewrites the expected files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::path::Path;
use std::process::Command;

fn check(name: &str, args: &[&str], expect_success: bool) {
    check_with("routes", name, args, expect_success);
}

/// Like [`check`], on the shipped `routes.d/`.
fn check_shipped(name: &str, args: &[&str]) {
    // Relative to the fixture directory, so no machine path is printed.
    check_with("../../../routes.d", name, args, true);
}

fn check_with(routes: &str, name: &str, args: &[&str], expect_success: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests/fixtures/explain");
    let out = Command::new(env!("CARGO_BIN_EXE_relay"))
        .arg("explain")
        .args(["--routes", routes])
        .args(args)
        .env("OPENAI_API_KEY", "sk-must-not-appear")
        .env("OPENAI_BASE_URL", "https://api.example.test/v1")
        .env_remove("OPENAI_ADMIN_KEY")
        .env_remove("OPENAI_ORGANIZATION")
        .env_remove("OPENAI_PROJECT")
        .current_dir(&fixture)
        .env("EXPLAIN_KEY", "sk-must-not-appear")
        .env_remove("EXPLAIN_ADMIN_KEY")
        .env_remove("RELAY_KEYS")
        .output()
        .unwrap();
    assert_eq!(out.status.success(), expect_success, "{name}: {}", String::from_utf8_lossy(&out.stderr));
    let actual = String::from_utf8(out.stdout).unwrap();
    assert!(
        !actual.contains("sk-must-not-appear") && !actual.contains("client-secret"),
        "{name} leaks a key:\n{actual}"
    );
    support::golden::assert_golden(&fixture.join(format!("{name}.txt")), &actual);
}

#[test]
fn a_json_post_shows_the_policy_applied_and_no_secret() {
    let args = [
        "POST",
        "/v1/threads?trace=1",
        "-H",
        "content-type: application/json",
        "-H",
        "authorization: Bearer client-secret",
        "-H",
        "cookie: session=client-secret",
        "-H",
        "connection: x-hop",
        "-H",
        "x-hop: 1",
        "--body",
        "body.json",
    ];
    check("json_post", &args, true);
}

#[test]
fn a_client_beta_header_wins_over_the_default() {
    check("beta_header", &["POST", "/v1/threads", "-H", "OpenAI-Beta: assistants=v1"], true);
}

#[test]
fn a_wrong_content_type_is_shown_as_rejected() {
    check("wrong_type", &["POST", "/v1/threads", "-H", "content-type: text/plain", "--body", "body.json"], true);
}

#[test]
fn a_missing_admin_key_is_shown_as_403() {
    check("admin_forbidden", &["GET", "/v1/organization/users"], true);
}

#[test]
fn no_route_lists_the_nearest_candidates() {
    check("no_route", &["GET", "/v1/file/abc/content"], false);
}

#[test]
fn a_wrong_method_names_the_allowed_ones() {
    check("wrong_method", &["DELETE", "/v1/threads"], false);
}

#[test]
fn transforms_show_in_the_upstream_request() {
    let args = ["POST", "/v1/responses:stream", "-H", "content-type: application/json", "--body", "stream_body.json"];
    check("transforms", &args, true);
}

#[test]
fn an_envelope_shows_the_inner_request() {
    let args = ["POST", "/v1/proxy", "-H", "content-type: application/json", "--body", "proxy_body.json"];
    check_shipped("proxy", &args);
}

#[test]
fn a_json_to_multipart_route_shows_its_parts_and_fetches_nothing() {
    let args =
        ["POST", "/v1/actions/images/edits", "-H", "content-type: application/json", "--body", "image_body.json"];
    check_shipped("image_edit", &args);
}

#[test]
fn the_bridge_shows_the_responses_request() {
    let args =
        ["POST", "/v1/bridge/chat/completions", "-H", "content-type: application/json", "--body", "chat_body.json"];
    check_shipped("bridge", &args);
}

#[test]
fn bodies_are_redacted_too() {
    let args = ["POST", "/v1/chat/completions", "-H", "content-type: application/json", "--body", "secret_body.json"];
    check_shipped("secret_body", &args);
}

#[test]
fn sources_name_the_file_of_each_defaulted_value() {
    check_shipped("sources", &["GET", "/v1/threads/thread_1", "--sources"]);
}

#[test]
fn a_path_served_on_another_listener_names_it() {
    check_with("listeners", "other_listener", &["GET", "/v1/batches/batch_1"], false);
    check_with("listeners", "chosen_listener", &["--listener", "internal", "GET", "/v1/batches/batch_1"], true);
    check_with("listeners", "nowhere", &["--listener", "internal", "GET", "/v1/batch/batch_1"], false);
}
