//! Traces on the real binary: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a
//! test OTLP/HTTP receiver on loopback gets the request's span in the
//! client's trace, and the upstream sees the relay's span as its parent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::Value;
use support::relay::{Process, SERVER_KEY, client, routes_dir};
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"
auth = { mode = "bearer", env = "OPENAI_API_KEY" }

[[route]]
id = "models.list"
method = "GET"
path = "/v1/models"
"#;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP receiver keeping every JSON export it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = received.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let kept = kept.clone();
                async move {
                    if let Ok(value) = serde_json::from_slice(&body) {
                        kept.lock().unwrap().push(value);
                    }
                    HttpResponse::Ok().content_type("application/json").body("{}")
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (url, received)
}

/// Every exported span, flattened.
fn spans(exports: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for export in exports {
        for resource in export["resourceSpans"].as_array().into_iter().flatten() {
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let mut span = span.clone();
                    span["service"] = resource["resource"]["attributes"].clone();
                    out.push(span);
                }
            }
        }
    }
    out
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

#[actix_web::test]
async fn a_request_span_continues_the_clients_trace_and_parents_the_upstream_call() {
    let upstream = Upstream::start().await;
    let (collector, received) = receiver().await;
    let dir = routes_dir(ROUTES);
    let env = [
        ("OPENAI_BASE_URL", upstream.base_url()),
        ("OPENAI_API_KEY", SERVER_KEY.to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_SERVICE_NAME", "relay-under-test".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let relay = Process::start(dir.path(), &["--access-log", "off"], &env);

    let answer = client()
        .get(relay.url("/v1/models"))
        .insert_header(("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01")))
        .insert_header(("x-request-id", "req-trace"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let upstream_parent = upstream.last().header("traceparent").unwrap().to_owned();
    let parts: Vec<&str> = upstream_parent.split('-').collect();
    assert_eq!(parts[1], TRACE, "the upstream call is in the client's trace");
    assert_ne!(parts[2], CLIENT_SPAN, "its parent is the relay's span, not the client's");

    let deadline = Instant::now() + Duration::from_secs(20);
    let span = loop {
        let found = spans(&received.lock().unwrap())
            .into_iter()
            .find(|s| attribute(s, "request_id").is_some_and(|v| v["stringValue"] == "req-trace"));
        if let Some(span) = found {
            break span;
        }
        assert!(Instant::now() < deadline, "no span reached the OTLP receiver");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(span["traceId"].as_str().map(str::to_ascii_lowercase).as_deref(), Some(TRACE), "{span}");
    assert_eq!(span["parentSpanId"].as_str().map(str::to_ascii_lowercase).as_deref(), Some(CLIENT_SPAN));
    assert_eq!(span["spanId"].as_str().map(str::to_ascii_lowercase).as_deref(), Some(parts[2]));
    assert_eq!(attribute(&span, "relay.route").unwrap()["stringValue"], "models.list");
    let service = span["service"].as_array().unwrap().iter().find(|a| a["key"] == "service.name").unwrap();
    assert_eq!(service["value"]["stringValue"], "relay-under-test");
}
