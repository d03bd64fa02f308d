//! Hot reload of a running `relay serve`: real files in a temp directory,
//! the real binary on loopback, real HTTP.
//!
//! The upstream is `127.0.0.1:1` (nothing listens), so a route that exists
//! answers 502 and a route that does not answers 404: that is how these tests
//! see which table is in force. The SSE test runs a small streaming upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

const UPSTREAM: &str = "[upstream.openai]\nbase_url = \"http://127.0.0.1:1/v1\"\n";

fn route(id: &str, path: &str) -> String {
    format!("[[route]]\nid = \"{id}\"\nmethod = \"GET\"\npath = \"{path}\"\n")
}

mod support;

use support::relay::Process;

/// Checks on a relay process: which routes answer, and its reload status.
struct Relay(Process);

impl std::ops::Deref for Relay {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.0
    }
}

impl Relay {
    fn start(dir: &Path) -> Relay {
        Relay(Process::start(dir, &[], &[]))
    }

    fn start_with(dir: &Path, extra_args: &[&str]) -> Relay {
        Relay(Process::start(dir, extra_args, &[]))
    }

    async fn status_of(&self, path: &str) -> u16 {
        support::relay::client().get(self.url(path)).send().await.unwrap().status().as_u16()
    }

    async fn relay_status(&self) -> serde_json::Value {
        let mut response = support::relay::client().get(self.url("/relay/status")).send().await.unwrap();
        response.json().limit(1 << 20).await.unwrap()
    }

    async fn version(&self) -> u64 {
        self.relay_status().await["version"].as_u64().unwrap()
    }

    /// Waits (up to 5 s) until `path` answers `status`.
    async fn wait_for(&self, path: &str, status: u16) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.status_of(path).await;
            if got == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} still answers {got}, not {status}; log:\n{}",
                self.log.lock().unwrap()
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn routes_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00-upstreams.toml"), UPSTREAM).unwrap();
    std::fs::write(dir.path().join("a.toml"), route("a", "/v1/a")).unwrap();
    dir
}

#[actix_web::test]
async fn added_edited_and_deleted_files_take_effect() {
    let dir = routes_dir();
    let relay = Relay::start(dir.path());
    relay.wait_for("/v1/a", 502).await;
    assert_eq!(relay.status_of("/v1/b").await, 404);

    std::fs::write(dir.path().join("b.toml"), route("b", "/v1/b")).unwrap();
    relay.wait_for("/v1/b", 502).await;

    // Editors save by writing a temp file and renaming it over the original.
    let temp = dir.path().join(".b.toml.swp");
    std::fs::write(&temp, route("b", "/v1/b2")).unwrap();
    std::fs::rename(&temp, dir.path().join("b.toml")).unwrap();
    relay.wait_for("/v1/b2", 502).await;
    assert_eq!(relay.status_of("/v1/b").await, 404);

    std::fs::remove_file(dir.path().join("b.toml")).unwrap();
    relay.wait_for("/v1/b2", 404).await;
    assert_eq!(relay.status_of("/v1/a").await, 502, "the other file's route still serves");
}

#[actix_web::test]
async fn a_broken_file_keeps_its_last_good_version_and_is_reported() {
    let dir = routes_dir();
    std::fs::write(dir.path().join("b.toml"), route("b", "/v1/b")).unwrap();
    let relay = Relay::start(dir.path());
    relay.wait_for("/v1/b", 502).await;

    // b.toml breaks while a.toml changes: a's change applies, b keeps serving.
    std::fs::write(
        dir.path().join("b.toml"),
        "[[route]]\nid = \"b\"\nmethod = \"GET\"\npath = \"/v1/b\"\nupstream = \"nope\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.toml"), route("a", "/v1/a2")).unwrap();
    relay.wait_for("/v1/a2", 502).await;
    assert_eq!(relay.status_of("/v1/b").await, 502, "the last good b.toml still serves");

    let status = relay.relay_status().await;
    let files = status["files"].as_array().unwrap();
    let b = files.iter().find(|f| f["file"].as_str().unwrap().ends_with("b.toml")).unwrap();
    assert_eq!(b["state"], "error", "{status}");
    assert_eq!(b["errors"][0]["line"], 5);
    assert_eq!(b["errors"][0]["column"], 12);
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("unknown upstream \"nope\""));
    assert_eq!(b["in_force"], "last good version");
    let a = files.iter().find(|f| f["file"].as_str().unwrap().ends_with("a.toml")).unwrap();
    assert_eq!(a["state"], "ok");

    // Fixing it recovers.
    std::fs::write(dir.path().join("b.toml"), route("b", "/v1/b3")).unwrap();
    relay.wait_for("/v1/b3", 502).await;
    let status = relay.relay_status().await;
    assert!(status["files"].as_array().unwrap().iter().all(|f| f["state"] == "ok"), "{status}");
}

#[actix_web::test]
async fn a_broken_start_is_refused_with_every_error() {
    let dir = routes_dir();
    std::fs::write(dir.path().join("b.toml"), "[[route]]\nid = \"b\"\nmethd = \"GET\"\n").unwrap();
    std::fs::write(dir.path().join("c.toml"), route("c", "/v1/../c")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["serve", "--listen", "127.0.0.1:0", "--routes"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("b.toml:3:1: error: unknown field `methd`"), "{stderr}");
    assert!(stderr.contains("c.toml:4:8: error: `..` segments are not allowed"), "{stderr}");
}

#[actix_web::test]
async fn a_kubernetes_configmap_swap_is_seen() {
    // The ConfigMap layout: files are symlinks through `..data`, which is
    // itself a symlink swapped atomically to a new timestamped folder.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write_generation = |name: &str, path: &str| {
        let generation = root.join(name);
        std::fs::create_dir(&generation).unwrap();
        std::fs::write(generation.join("00-upstreams.toml"), UPSTREAM).unwrap();
        std::fs::write(generation.join("a.toml"), route("a", path)).unwrap();
    };
    write_generation("..2026_11_21_00_00_00.1", "/v1/first");
    std::os::unix::fs::symlink("..2026_11_21_00_00_00.1", root.join("..data")).unwrap();
    for file in ["00-upstreams.toml", "a.toml"] {
        std::os::unix::fs::symlink(format!("..data/{file}"), root.join(file)).unwrap();
    }
    let relay = Relay::start(root);
    relay.wait_for("/v1/first", 502).await;

    write_generation("..2026_11_21_00_01_00.2", "/v1/second");
    std::os::unix::fs::symlink("..2026_11_21_00_01_00.2", root.join("..data_tmp")).unwrap();
    let swapped = Command::new("mv").args(["-T", "..data_tmp", "..data"]).current_dir(root).status().unwrap();
    assert!(swapped.success());
    std::fs::remove_dir_all(root.join("..2026_11_21_00_00_00.1")).unwrap();
    relay.wait_for("/v1/second", 502).await;
    assert_eq!(relay.status_of("/v1/first").await, 404);
}

#[actix_web::test]
async fn a_burst_of_writes_gives_a_handful_of_reloads() {
    let dir = routes_dir();
    let relay = Relay::start(dir.path());
    relay.wait_for("/v1/a", 502).await;
    let before = relay.version().await;
    let file = dir.path().join("b.toml");
    for i in 0..1000 {
        std::fs::write(&file, format!("# write {i}\n{}", route("b", "/v1/b"))).unwrap();
    }
    relay.wait_for("/v1/b", 502).await;
    // Let the debounce settle, then count.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let reloads = relay.version().await - before;
    assert!((1..=10).contains(&reloads), "1,000 writes caused {reloads} reloads");
}

#[actix_web::test]
async fn sighup_reloads_too() {
    let dir = routes_dir();
    let relay = Relay::start_with(dir.path(), &["--no-watch"]);
    relay.wait_for("/v1/a", 502).await;
    let before = relay.version().await;
    // Without the watcher, a changed file waits for the signal.
    std::fs::write(dir.path().join("b.toml"), route("b", "/v1/b")).unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(relay.status_of("/v1/b").await, 404, "no reload without the watcher or a signal");
    let pid = relay.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    relay.wait_for("/v1/b", 502).await;
    assert!(relay.version().await > before);
    assert!(relay.wait_for_log("Routes reloaded."));
}

/// A loopback upstream that answers every request with `events` SSE events,
/// `gap` apart.
async fn sse_upstream(events: usize, gap: Duration) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    actix_web::rt::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            actix_web::rt::spawn(async move {
                let mut head = vec![0u8; 8192];
                let _ = socket.read(&mut head).await;
                let start = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                socket.write_all(start.as_bytes()).await.unwrap();
                for i in 0..events {
                    let event = format!("data: {{\"n\":{i}}}\n\n");
                    let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    actix_web::rt::time::sleep(gap).await;
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    addr
}

#[actix_web::test]
async fn a_stream_started_before_a_reload_finishes_intact() {
    let upstream = sse_upstream(10, Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("00-upstreams.toml"),
        format!("[upstream.openai]\nbase_url = \"http://{upstream}/v1\"\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("a.toml"), route("stream", "/v1/stream")).unwrap();
    let relay = Relay::start(dir.path());

    let mut response = support::relay::client().get(relay.url("/v1/stream")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let first = response.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: {\"n\":0}"));

    // Remove the stream's route entirely while the stream runs.
    std::fs::write(dir.path().join("a.toml"), route("other", "/v1/other")).unwrap();
    relay.wait_for("/v1/stream", 404).await;

    let mut rest = Vec::new();
    while let Some(chunk) = response.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(rest).unwrap();
    for i in 1..10 {
        assert!(text.contains(&format!("data: {{\"n\":{i}}}\n\n")), "event {i} missing from {text:?}");
    }
}

#[actix_web::test]
async fn a_file_saved_as_latin1_is_located_and_keeps_its_last_good_version() {
    let dir = routes_dir();
    std::fs::write(dir.path().join("b.toml"), route("b", "/v1/b")).unwrap();
    let relay = Relay::start(dir.path());
    relay.wait_for("/v1/b", 502).await;

    let mut latin1 = route("b", "/v1/b2").into_bytes();
    latin1.extend_from_slice(b"summary = \"caf\xe9\"\n");
    std::fs::write(dir.path().join("b.toml"), latin1).unwrap();
    std::fs::write(dir.path().join("a.toml"), route("a", "/v1/a2")).unwrap();
    relay.wait_for("/v1/a2", 502).await;
    assert_eq!(relay.status_of("/v1/b").await, 502, "the last good b.toml still serves");
    assert_eq!(relay.status_of("/v1/b2").await, 404);
    let deadline = Instant::now() + Duration::from_secs(5);
    let b = loop {
        let status = relay.relay_status().await;
        let files = status["files"].as_array().unwrap();
        let b = files.iter().find(|f| f["file"].as_str().unwrap().ends_with("b.toml")).unwrap().clone();
        if b["state"] == "error" || Instant::now() > deadline {
            break b;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(b["state"], "error", "{b}");
    assert_eq!((b["errors"][0]["line"].as_u64(), b["errors"][0]["column"].as_u64()), (Some(5), Some(15)), "{b}");
    assert_eq!(b["errors"][0]["message"], "the file is not valid UTF-8");
    assert_eq!(b["in_force"], "last good version");
    assert!(relay.wait_for_log("b.toml:5:15: error: the file is not valid UTF-8"), "{}", relay.log.lock().unwrap());

    // Saved as UTF-8, it applies.
    std::fs::write(dir.path().join("b.toml"), route("b", "/v1/b2")).unwrap();
    relay.wait_for("/v1/b2", 502).await;
}
