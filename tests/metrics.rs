//! Metrics on the admin address: the relay's own text format, and a real
//! Prometheus server (Debian's `prometheus`, which `.ci/run` installs)
//! scraping it and answering a PromQL query with the test's requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::relay::{Process, SERVER_KEY, client, routes_dir};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "chat.create"
method = "POST"
path = "/v1/chat/completions"

[[route]]
id = "status.any"
method = "GET"
path = "/v1/status/{code}"
upstream_path = "/status/{code}"
"#;

/// The relay (and its routes directory, kept while it runs) after two chat
/// completions and one upstream 503.
async fn relay_with_traffic(upstream: &Upstream) -> (Process, tempfile::TempDir) {
    let dir = routes_dir(ROUTES);
    let env = [("OPENAI_BASE_URL", upstream.base_url()), ("OPENAI_API_KEY", SERVER_KEY.to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let relay = Process::start(dir.path(), &["--admin-listen", "127.0.0.1:0", "--access-log", "off"], &env);
    let chat = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..2 {
        let mut answer = client().post(relay.url("/v1/chat/completions")).send_json(&chat).await.unwrap();
        assert_eq!(answer.status(), 200);
        drop(answer.body().await.unwrap());
    }
    let mut failed = client().get(relay.url("/v1/status/503")).send().await.unwrap();
    assert_eq!(failed.status(), 503);
    drop(failed.body().await.unwrap());
    (relay, dir)
}

/// The value of the sample whose line starts with `name{` and holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[actix_web::test]
async fn the_admin_address_serves_request_metrics_by_route() {
    let upstream = Upstream::start().await;
    let (relay, _routes) = relay_with_traffic(&upstream).await;
    let mut metrics = client().get(relay.url_on("admin", "/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = String::from_utf8(metrics.body().await.unwrap().to_vec()).unwrap();
    let ok = ["route=\"chat.create\"", "status=\"2xx\"", "method=\"POST\"", "listener=\"default\""];
    assert_eq!(sample(&text, "relay_requests_total", &ok), Some(2.0), "{text}");
    assert_eq!(sample(&text, "relay_requests_total", &["route=\"status.any\"", "status=\"5xx\""]), Some(1.0));
    let failures = ["route=\"status.any\"", "kind=\"status_5xx\""];
    assert_eq!(sample(&text, "relay_upstream_failures_total", &failures), Some(1.0), "{text}");
    assert_eq!(sample(&text, "relay_request_duration_seconds_count", &["route=\"chat.create\""]), Some(2.0));
    assert_eq!(sample(&text, "relay_upstream_ttfb_seconds_count", &["route=\"chat.create\""]), Some(2.0));
    assert!(sample(&text, "relay_response_bytes_total", &["route=\"chat.create\""]).unwrap() > 0.0);
    assert!(text.contains("relay_reloads_total{outcome=\"applied\"} 1"), "{text}");
    assert!(!text.contains("/v1/status/503"), "never labelled by raw path");
    assert!(!text.contains(SERVER_KEY));
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn a_real_prometheus_scrapes_the_relay() {
    if Command::new("prometheus").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI installs prometheus (.ci/run)");
        eprintln!("SKIP: no prometheus binary on PATH (apt-get install prometheus)");
        return;
    }
    let upstream = Upstream::start().await;
    let (relay, _routes) = relay_with_traffic(&upstream).await;
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("prometheus.yml");
    let target = relay.addr_of("admin");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: relay\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", work.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let query = "sum by (route) (relay_requests_total{route=\"chat.create\"})";
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = client().get(&url).query(&[("query", query)]).unwrap().send().await;
        if let Ok(mut answer) = answer
            && let Ok(body) = answer.json::<Value>().await
            && let Some(first) = body["data"]["result"].as_array().and_then(|r| r.first())
        {
            assert_eq!(first["metric"]["route"], "chat.create", "{body}");
            assert_eq!(first["value"][1], "2", "{body}");
            return;
        }
        assert!(Instant::now() < deadline, "Prometheus did not report the relay's requests within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
