//! `relay test`, run as a user runs it: the shipped routes' examples pass,
//! a broken example fails with a readable diff (exit 1), and an example
//! that does not fit its route is a spec error (exit 2; `relay check`
//! reports it too).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::path::Path;
use std::process::{Command, Output};

fn relay(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(args)
        .current_dir(dir)
        .env_remove("RELAY_ROUTES")
        .env_remove("RELAY_KEYS")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_ADMIN_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .expect("the relay binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A routes directory holding one file with this route and its examples.
fn routes_dir(route: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let upstream =
        "[upstream.up]\nbase_url = \"http://upstream.test/v1\"\nauth = { mode = \"bearer\", env = \"UP_KEY\" }\n\n";
    std::fs::write(dir.path().join("things.toml"), format!("{upstream}{route}")).unwrap();
    dir
}

const ROUTE: &str = r#"[[route]]
id = "things.create"
method = "POST"
path = "/v1/things/{id}"
upstream_path = "/things/{id}/create"

[[route.transforms]]
type = "json_fields"
set = { stream = true }
"#;

#[test]
fn the_shipped_examples_pass_without_any_key() {
    let out = relay(Path::new(env!("CARGO_MANIFEST_DIR")), &["test"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    let summary = stdout.lines().last().unwrap();
    let passed: usize =
        summary.strip_suffix(" passed, 0 failed").unwrap_or_else(|| panic!("{summary}")).parse().unwrap();
    assert!(passed >= 10, "{stdout}");
    for shown in [
        "ok      actions.images.edits / an attached file becomes the image part",
        "ok      proxy / a path off the allowlist is refused",
        "ok      chat.bridge / a chat completion becomes a Responses request",
    ] {
        assert!(stdout.contains(shown), "{shown:?} missing in\n{stdout}");
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn a_broken_example_fails_with_a_diff_of_what_differs() {
    let examples = r#"
[[route.examples]]
name = "passes"
request = { path = "/v1/things/t1", body = { model = "m", stream = false } }
expect = { method = "POST", url = "/things/t1/create", headers = { authorization = "Bearer [redacted]" }, body = { stream = true } }

[[route.examples]]
name = "a wrong URL and body"
request = { path = "/v1/things/t1?x=1", body = { model = "m" } }
expect = { url = "/things/t1?x=1", headers = { authorization = "" }, body = { model = "n", stream = true } }

[[route.examples]]
name = "expects a refusal"
request = { path = "/v1/things/t1", body = { model = "m" } }
expect = { status = 403 }
"#;
    let dir = routes_dir(&format!("{ROUTE}{examples}"));
    let out = relay(dir.path(), &["test", "--routes", "."]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", text(&out.stderr));
    let expected = r#"ok      things.create / passes
FAILED  things.create / a wrong URL and body (./things.toml:20:1)
    --- expected
    +++ actual
      answer: upstream request
    - url: /things/t1?x=1
    - header authorization: <not sent>
    + url: /things/t1/create?x=1
    + header authorization: Bearer [redacted]
      body:
        {
    -     "model": "n",
    +     "model": "m",
          "stream": true
        }

FAILED  things.create / expects a refusal (./things.toml:25:1)
    --- expected
    +++ actual
    - answer: the relay answers 403
    + answer: upstream request

1 passed, 2 failed
"#;
    assert_eq!(stdout, expected);
    assert!(text(&out.stderr).contains("UP_KEY"), "the placeholder key is noted: {}", text(&out.stderr));
}

#[test]
fn an_example_that_does_not_fit_its_route_is_a_spec_error() {
    let examples = r#"
[[route.examples]]
name = "another path"
request = { path = "/v1/other/t1" }
expect = { url = "/things/t1/create" }
"#;
    let dir = routes_dir(&format!("{ROUTE}{examples}"));
    let error = "things.toml:17:20: error: the example's path \"/v1/other/t1\" does not match the route's path";
    let out = relay(dir.path(), &["test", "--routes", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(error), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let check = relay(dir.path(), &["check", "--routes", "."]);
    assert_eq!(check.status.code(), Some(1));
    assert!(text(&check.stderr).contains(error), "{}", text(&check.stderr));
}

#[test]
fn routes_without_examples_pass_with_a_note() {
    let dir = routes_dir(ROUTE);
    let out = relay(dir.path(), &["test", "--routes", "."]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "0 passed, 0 failed\n");
    assert!(text(&out.stderr).contains("no route in . has examples"), "{}", text(&out.stderr));
}
