#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly
//! TLS listeners with a test CA: the real binary serves a `[listener.NAME]
//! tls = {...}`, a real TLS client (rustls, trusting only the test CA) gets
//! answers from it, and a new certificate written over the files is served
//! on the next connection while a bad one is refused and logged. And the
//! other direction: an https upstream signed by the test CA.

mod support;

use std::time::{Duration, Instant};

use support::relay::{InProcess, Process, client, routes_dir};
use support::tls::TestCa;
use support::upstream::Upstream;

const ROUTES: &str = r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[listener.secure]
listen = "127.0.0.1:0"
tls = { cert = "certs/cert.pem", key = "${KEY_FILE}" }

[[route]]
id = "models.list"
method = "GET"
path = "/v1/models"
listeners = ["secure"]
"#;

#[actix_web::test]
async fn a_tls_listener_serves_and_swaps_its_certificate_without_a_restart() {
    let upstream = Upstream::start().await;
    let ca = TestCa::new();
    let dir = routes_dir(ROUTES);
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let first = ca.write_leaf(&certs, 1);
    let key = certs.join("key.pem");
    let env = [("OPENAI_BASE_URL", upstream.base_url()), ("KEY_FILE", key.display().to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let relay = Process::start(dir.path(), &[], &env);
    assert!(relay.wait_for_log("relay listening on https://"), "{}", relay.log.lock().unwrap());
    let addr = relay.addr_of("secure");

    let (seen, answer) = ca.get(addr, "/v1/models").await;
    assert_eq!(seen, first.der, "the first certificate is served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"object\":\"list\""), "the route answers over TLS: {answer}");

    // awc with the test CA as its only root: a real client library.
    let response = ca.awc_client().get(format!("https://localhost:{}/health", addr.port())).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let second = ca.write_leaf(&certs, 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (seen, answer) = ca.get(addr, "/health").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        if seen == second.der {
            break;
        }
        assert_eq!(seen, first.der);
        assert!(Instant::now() < deadline, "the new certificate was not picked up within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(relay.wait_for_log("TLS certificate reloaded"));

    // A key that does not match the certificate: logged, the old pair stays.
    let stranger = ca.leaf(3);
    std::fs::write(&key, stranger.key_pem).unwrap();
    assert!(relay.wait_for_log("TLS certificate not reloaded"), "{}", relay.log.lock().unwrap());
    let (seen, answer) = ca.get(addr, "/health").await;
    assert_eq!(seen, second.der, "the previous certificate stays in service");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_tls_listener_with_a_missing_or_wrong_file_is_a_located_error() {
    let ca = TestCa::new();
    let dir = routes_dir(&ROUTES.replace("${OPENAI_BASE_URL}", "http://127.0.0.1:9/v1"));
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let env = relay::env::Env::from_pairs([("KEY_FILE", "certs/key.pem")]);
    let errors = relay::compile::load_table(dir.path(), &env).unwrap_err();
    let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(text.contains("routes.toml:7:7") && text.contains("cannot read the TLS certificate"), "{text}");

    ca.write_leaf(&certs, 1);
    std::fs::write(certs.join("key.pem"), ca.leaf(2).key_pem).unwrap();
    let errors = relay::compile::load_table(dir.path(), &env).unwrap_err();
    let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(text.contains("does not serve the certificate"), "{text}");

    std::fs::write(certs.join("key.pem"), "not a key").unwrap();
    let errors = relay::compile::load_table(dir.path(), &env).unwrap_err();
    assert!(errors[0].to_string().contains("is not a PEM private key"), "{}", errors[0]);
}

/// An https upstream whose certificate comes from the test CA: the relay's
/// upstream clients use the TLS settings they are given (`client_tls`, which
/// only tests set), and the default web PKI roots refuse that upstream.
#[actix_web::test]
async fn upstream_requests_use_the_relays_tls_settings() {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;

    let ca = TestCa::new();
    let leaf = ca.leaf(9);
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![leaf.der], key).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = HttpServer::new(|| {
        App::new().default_service(web::to(|| async { HttpResponse::Ok().json(serde_json::json!({"object": "list"})) }))
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, config)
    .unwrap()
    .run();
    actix_web::rt::spawn(upstream);

    let dir = routes_dir(
        r#"
[upstream.openai]
base_url = "${OPENAI_BASE_URL}"

[[route]]
id = "models.list"
method = "GET"
path = "/v1/models"
"#,
    );
    let base_url = format!("https://localhost:{port}/v1");
    let trusting =
        relay::server::Options { workers: Some(1), client_tls: Some(ca.client_config()), ..Default::default() };
    let relay = InProcess::start_with(dir.path(), &base_url, &[], trusting).await;
    let mut response = client().get(relay.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    relay.stop().await;

    let public_roots = InProcess::start(dir.path(), &base_url, &[]).await;
    let response = client().get(public_roots.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status(), 502, "a certificate from an unknown CA is refused");
    public_roots.stop().await;
}
