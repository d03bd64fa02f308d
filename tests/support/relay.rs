//! Starting the relay for a test: in-process on the shipped `routes.d/` or a
//! temp routes directory, or as the real `relay` binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use relay::env::Env;

/// The server key the relay sends upstream in tests.
pub const SERVER_KEY: &str = "sk-server-test";

/// A relay running inside the test process.
pub struct InProcess {
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl InProcess {
    /// Serves `dir` with `OPENAI_BASE_URL` and `OPENAI_API_KEY` set, plus `env`.
    pub async fn start(dir: &Path, base_url: &str, env: &[(&str, &str)]) -> InProcess {
        let options = relay::server::Options { workers: Some(1), ..Default::default() };
        InProcess::start_with(dir, base_url, env, options).await
    }

    /// Like [`InProcess::start`], with server options of the test's own.
    pub async fn start_with(
        dir: &Path,
        base_url: &str,
        env: &[(&str, &str)],
        options: relay::server::Options,
    ) -> InProcess {
        let mut vars = vec![("OPENAI_BASE_URL", base_url), ("OPENAI_API_KEY", SERVER_KEY)];
        vars.extend_from_slice(env);
        let live = relay::live::Live::load(dir, &Env::from_pairs(vars.iter().copied()))
            .unwrap_or_else(|errors| panic!("routes do not compile: {errors:?}"));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = relay::server::run(listener, live.shared(), &options).unwrap();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        InProcess { addr, handle }
    }

    /// Serves the shipped `routes.d/`.
    pub async fn shipped(base_url: &str, env: &[(&str, &str)]) -> InProcess {
        InProcess::start(&Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d"), base_url, env).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// A routes directory holding one file with `text`.
pub fn routes_dir(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.toml"), text).unwrap();
    dir
}

/// An HTTP client for tests: no timeout, no redirects, no default headers.
pub fn client() -> awc::Client {
    relay::upstream::client::install_crypto_provider();
    awc::Client::builder().disable_timeout().disable_redirects().no_default_headers().finish()
}

/// The real `relay serve` binary; killed on drop.
pub struct Process {
    pub child: Child,
    /// The first listener's address (`default`, unless it is not opened).
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
    listeners: Arc<Mutex<HashMap<String, SocketAddr>>>,
}

impl Process {
    /// Starts `relay serve --routes DIR` on port 0 with `args` and `env`.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        relay::upstream::client::install_crypto_provider();
        let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1", "--routes"])
            .arg(dir)
            .args(args)
            .env_remove("RELAY_KEYS")
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("relay starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        let listeners = Arc::new(Mutex::new(HashMap::new()));
        let named = listeners.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let admin =
                    line.split("admin listening on http://").nth(1).and_then(|rest| rest.split_whitespace().next());
                // Text or JSON log lines: an address ends at its last digit.
                let admin = admin.map(|a| a.trim_end_matches(|c: char| !c.is_ascii_digit()));
                if let Some(addr) = admin.and_then(|a| a.parse::<SocketAddr>().ok()) {
                    named.lock().unwrap().insert("admin".to_owned(), addr);
                }
                let addr = line
                    .split("relay listening on http://")
                    .nth(1)
                    .or_else(|| line.split("relay listening on https://").nth(1))
                    .and_then(|rest| rest.split_whitespace().next());
                let addr = addr.map(|a| a.trim_end_matches(|c: char| !c.is_ascii_digit()));
                if let Some(addr) = addr.and_then(|a| a.parse::<SocketAddr>().ok()) {
                    // `listener=NAME` in text lines, `"listener":"NAME"` in JSON ones.
                    let name = line
                        .split("listener=")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .or_else(|| line.split("\"listener\":\"").nth(1).and_then(|rest| rest.split('"').next()));
                    named.lock().unwrap().insert(name.unwrap_or("default").to_owned(), addr);
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("no listening line; log: {}", log.lock().unwrap());
        };
        Process { child, addr, log, listeners }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Whether the relay's log shows `needle` within 5 seconds (stderr is
    /// read by another thread, so a line may land after the response).
    pub fn wait_for_log(&self, needle: &str) -> bool {
        for _ in 0..100 {
            if self.log.lock().unwrap().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The URL of `path` on the listener `name` (`admin` for the admin
    /// address), once it listens.
    pub fn url_on(&self, name: &str, path: &str) -> String {
        format!("http://{}{path}", self.addr_of(name))
    }

    /// The address of the listener `name`, once it listens.
    pub fn addr_of(&self, name: &str) -> SocketAddr {
        for _ in 0..200 {
            if let Some(addr) = self.listeners.lock().unwrap().get(name) {
                return *addr;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("listener {name} never listened; log: {}", self.log.lock().unwrap());
    }

    /// Sends SIGTERM, as an orchestrator stopping the relay does.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// The process's exit status, waiting at most `limit`.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A value in kB from `/proc/PID/status`, e.g. `VmHWM` or `VmRSS`.
    pub fn memory_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} not in status"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
