//! Golden tests of spec error messages: each folder of
//! `tests/fixtures/spec_errors/` is a routes directory that must fail to
//! compile with exactly the errors in its `expected.txt`.
//!
//! Run with `RELAY_BLESS=1` to rewrite the expected files after a deliberate
//! change, then read the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::path::Path;

use relay::env::Env;
use relay::live::Live;

fn check_case(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/fixtures/spec_errors").join(name);
    let env = Env::from_pairs([("OPENAI_API_KEY", "sk-test")]);
    let errors = match Live::load(&dir, &env) {
        Ok(_) => panic!("{name}: the routes compiled, but they should fail"),
        Err(errors) => errors,
    };
    let prefix = format!("{}/", root.display());
    let actual: String = errors.iter().map(|e| format!("{e}\n")).collect::<String>().replace(&prefix, "");
    support::golden::assert_golden(&dir.join("expected.txt"), &actual);
}

#[test]
fn unknown_key_suggests_the_nearest() {
    check_case("unknown_key");
}

#[test]
fn unknown_upstream_lists_the_defined_ones() {
    check_case("unknown_upstream");
}

#[test]
fn duplicate_route_names_both_places_once_at_the_id() {
    check_case("duplicate_route");
}

#[test]
fn every_bad_value_is_reported_at_once() {
    check_case("bad_values");
}

#[test]
fn errors_of_all_files_are_reported_together() {
    check_case("many_files");
}

#[test]
fn duplicate_upstream_names_the_first() {
    check_case("duplicate_upstream");
}

#[test]
fn websocket_routes_are_checked() {
    check_case("websocket");
}

#[test]
fn ambiguous_or_broad_host_patterns_are_located() {
    check_case("host_patterns");
}

#[test]
fn overrides_must_replace_one_definition_and_inherit_a_known_listener() {
    check_case("overrides_and_inherit");
}

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    check_case("not_utf8");
}

#[test]
fn compact_route_lines_are_located() {
    check_case("compact_routes");
}

#[test]
fn directory_defaults_errors_are_reported_once_in_their_file() {
    check_case("dir_defaults");
}

#[test]
fn examples_are_checked_against_their_route() {
    check_case("examples");
}

#[test]
fn syntax_errors_get_hints_and_an_open_bracket_is_named() {
    check_case("syntax_hints");
}
