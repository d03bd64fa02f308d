#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! Consumers' counters shared through a real Redis (Debian's
//! `redis-server`, which `.ci/run` installs): two relay processes enforce
//! one limit together; with Redis stopped, `fail_open` serves and
//! `fail_closed` answers 503.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::relay::{Process, client};
use support::upstream::Upstream;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `redis-server` on a free loopback port, without persistence; killed
/// on drop.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Option<Redis> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "CI installs redis-server (.ci/run)");
            eprintln!("SKIP: no redis-server on PATH (apt-get install redis-server)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("redis://127.0.0.1:{port}/");
        let client = redis::Client::open(url.as_str()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.get_connection().and_then(|mut c| redis::cmd("PING").query::<String>(&mut c)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not answer PING");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Redis { child, url })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `relay serve --routes routes.d --routes DIR` with counters in `redis`.
fn start(upstream: &Upstream, dir: &Path, redis: &str) -> Process {
    let base = upstream.base_url();
    let env = [("OPENAI_BASE_URL", base.as_str()), ("RELAY_REDIS_URL", redis)];
    let args = ["--routes", dir.to_str().unwrap(), "--access-log", "off"];
    Process::start(&root().join("routes.d"), &args, &env)
}

async fn chat_status(relay: &Process, key: &str) -> (u16, Value) {
    let mut answer = client()
        .post(relay.url("/v1/chat/completions"))
        .insert_header(("authorization", format!("Bearer {key}")))
        .send_json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    let body = answer.body().await.unwrap();
    (answer.status().as_u16(), serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn minute_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 60
}

#[actix_web::test]
async fn two_replicas_share_one_limit_and_redis_failure_follows_the_configuration() {
    let Some(redis) = Redis::start() else { return };
    let upstream = Upstream::start().await;
    let example = root().join("examples/consumers/routes.d");
    let (a, b) = (start(&upstream, &example, &redis.url), start(&upstream, &example, &redis.url));
    assert!(a.wait_for_log("counted in Redis"), "the relay says where it counts");

    // Alice may make 3 requests a minute, across both replicas. The window
    // is the clock's minute: if one ends during the test, it runs again.
    for attempt in 0..2 {
        let minute = minute_now();
        let statuses = [
            chat_status(&a, "rk-alice-test").await.0,
            chat_status(&b, "rk-alice-test").await.0,
            chat_status(&a, "rk-alice-test").await.0,
        ];
        let (status, body) = chat_status(&b, "rk-alice-test").await;
        if minute_now() != minute && attempt == 0 {
            continue;
        }
        assert_eq!(statuses, [200, 200, 200]);
        assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limit_exceeded")), "{body}");
        break;
    }
    // Bob's budget, spent through one replica, is spent on the other.
    let mut spent = 0;
    while chat_status(&a, "rk-bob-test").await.0 == 200 {
        spent += 1;
        assert!(spent <= 28, "bob's 250 tokens a day were never spent");
        // Settlement goes to Redis after the answer: wait until B sees it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let counted: redis::RedisResult<Option<u64>> = loop {
            let mut connection = redis::Client::open(redis.url.as_str()).unwrap().get_connection().unwrap();
            let keys: Vec<String> = redis::cmd("KEYS").arg("relay:bob:budget_tokens:*").query(&mut connection).unwrap();
            let value: Option<u64> = match keys.first() {
                Some(key) => redis::cmd("GET").arg(key).query(&mut connection).unwrap(),
                None => None,
            };
            if value == Some(spent * 9) || Instant::now() > deadline {
                break Ok(value);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(counted.unwrap(), Some(spent * 9));
    }
    assert_eq!(spent, 28);
    let (status, body) = chat_status(&b, "rk-bob-test").await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("insufficient_quota")));

    // A configuration that fails closed, beside the example's fail_open.
    let closed = tempfile::tempdir().unwrap();
    let hash = relay::policy::consumer::written_digest("rk-erin-test");
    let text = format!(
        "[consumer.erin]\nkeys = [\"{hash}\"]\nlimits = {{ requests = \"100/min\" }}\n\n[state]\nredis = \"${{RELAY_REDIS_URL}}\"\nwhen_unreachable = \"fail_closed\"\n"
    );
    std::fs::write(closed.path().join("erin.toml"), text).unwrap();
    let c = start(&upstream, closed.path(), &redis.url);
    assert_eq!(chat_status(&c, "rk-erin-test").await.0, 200);

    drop(redis);
    // fail_open: Bob's budget cannot be read, so he is served (and the
    // failure is logged); fail_closed: 503, nothing sent upstream.
    let (status, _) = chat_status(&a, "rk-bob-test").await;
    assert_eq!(status, 200);
    assert!(a.wait_for_log("Redis failed"), "the failure is logged");
    let sent = upstream.requests().len();
    let (status, body) = chat_status(&c, "rk-erin-test").await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("limits_unavailable")), "{body}");
    assert_eq!(upstream.requests().len(), sent);
}
