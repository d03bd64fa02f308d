//! Warnings of a running `relay serve`, from the real binary's log: the
//! ChatGPT Actions advice only for a relay that publishes Actions
//! (`RELAY_PUBLIC_URL`), and a reload repeats no unchanged warning.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::path::Path;

use support::relay::Process;

const NOT_HTTPS: &str = "ChatGPT Actions need https";

fn shipped() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d")
}

#[test]
fn actions_advice_is_logged_only_when_actions_are_published() {
    let plain = Process::start(&shipped(), &["--no-watch"], &[("OPENAI_API_KEY", "sk-test")]);
    // Start warnings are written before the listening line, on the same
    // stream: once that line is in, any advice would be too.
    assert!(plain.wait_for_log("relay listening"));
    let log = plain.log.lock().unwrap().clone();
    assert!(!log.contains(NOT_HTTPS) && !log.contains("can stream server-sent events"), "{log}");
    drop(plain);

    let env = [("OPENAI_API_KEY", "sk-test"), ("RELAY_PUBLIC_URL", "http://relay.example.test")];
    let publishing = Process::start(&shipped(), &["--no-watch"], &env);
    assert!(publishing.wait_for_log(NOT_HTTPS), "{}", publishing.log.lock().unwrap());
    assert!(publishing.wait_for_log("route `responses.create` can stream server-sent events"));
    assert_eq!(publishing.log.lock().unwrap().matches(NOT_HTTPS).count(), 1);
}

#[test]
fn a_reload_logs_only_new_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = "[upstream.openai]\nbase_url = \"http://127.0.0.1:1/v1\"\n";
    std::fs::write(dir.path().join("00-upstream.toml"), upstream).unwrap();
    let unused = "[routes]\n\"files.get\" = { at = \"GET /v1/files/{file_id}\", upstream_path = \"/files\" }\n";
    std::fs::write(dir.path().join("a.toml"), unused).unwrap();
    let relay = Process::start(dir.path(), &[], &[]);
    let warning = "path parameter `file_id` of route `files.get` is not used";
    assert!(relay.wait_for_log(warning), "{}", relay.log.lock().unwrap());

    std::fs::write(dir.path().join("b.toml"), "[routes]\n\"models.list\" = \"GET /v1/models\"\n").unwrap();
    assert!(relay.wait_for_log("models.list"), "{}", relay.log.lock().unwrap());
    let again = "[routes]\n\"batches.get\" = { at = \"GET /v1/batches/{batch_id}\", upstream_path = \"/batches\" }\n";
    std::fs::write(dir.path().join("c.toml"), again).unwrap();
    assert!(relay.wait_for_log("path parameter `batch_id`"), "{}", relay.log.lock().unwrap());
    let log = relay.log.lock().unwrap().clone();
    assert_eq!(log.matches(warning).count(), 1, "{log}");
}
