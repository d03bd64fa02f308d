//! The file fetcher against real sockets, on loopback only.
//!
//! Refusals are proved with a marker listener on 127.0.0.1 (and ::1) that
//! counts the connections it got; addresses off loopback are only ever
//! checked, never connected to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

mod support;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, stream};
use relay::fetch::address::{check_public, check_public_or_loopback};
use relay::fetch::{FetchError, FetchPolicy, Fetcher, Forbidden, HostPattern, Resolve};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use support::tls::TestCa;

fn tls() -> Arc<rustls::ClientConfig> {
    relay::upstream::client::tls_config().unwrap()
}

/// A listener that only counts the connections that reached it.
struct Marker {
    listeners: Vec<TcpListener>,
    port: u16,
}

impl Marker {
    fn new() -> Marker {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        // `localhost` and `[::1]` may go to IPv6 loopback: listen there too if we can.
        let v6 = TcpListener::bind(("::1", port)).ok();
        let listeners: Vec<_> = std::iter::once(v4).chain(v6).collect();
        for l in &listeners {
            l.set_nonblocking(true).unwrap();
        }
        Marker { listeners, port }
    }

    /// Connections completed so far (a finished connect sits in the backlog).
    fn accepted(&self) -> usize {
        let mut n = 0;
        for l in &self.listeners {
            loop {
                match l.accept() {
                    Ok(_) => n += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        n
    }
}

/// Headers of each request the file server got.
type Seen = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

struct FileServer {
    addr: SocketAddr,
    seen: Seen,
}

impl FileServer {
    /// Routes: see `answer`. `redirect_target` is where `/redirect-out` points.
    async fn start(redirect_target: String) -> FileServer {
        FileServer::start_with(redirect_target, None)
    }

    /// Serves https with `tls` when given.
    fn start_with(redirect_target: String, tls: Option<rustls::ServerConfig>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Seen::default();
        let state = web::Data::new((seen.clone(), redirect_target));
        let server = HttpServer::new(move || App::new().app_data(state.clone()).default_service(web::to(answer)))
            .workers(1)
            .disable_signals();
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        };
        actix_web::rt::spawn(server.unwrap().run());
        FileServer { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<BTreeMap<String, String>> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(req: HttpRequest, state: web::Data<(Seen, String)>) -> HttpResponse {
    let headers = req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned())).collect();
    state.0.lock().unwrap().push(headers);
    let chunks = |n: usize| stream::iter((0..n).map(|_| Ok::<_, actix_web::Error>(Bytes::from(vec![b'x'; 1000]))));
    match req.path() {
        "/file" => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("hello file"),
        "/untyped" => HttpResponse::Ok().body(vec![0u8, 1, 2]),
        "/2000" => HttpResponse::Ok().body(vec![b'y'; 2000]),
        // Chunked: 10 x 1000 bytes, then nothing more, ever.
        "/chunked-stall" => HttpResponse::Ok().streaming(chunks(10).chain(stream::pending())),
        "/chunked" => HttpResponse::Ok().streaming(chunks(3)),
        "/slow-headers" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            HttpResponse::Ok().finish()
        }
        "/redirect" => HttpResponse::Found().insert_header(("location", "/file")).finish(),
        "/redirect-relative" => HttpResponse::SeeOther().insert_header(("location", "file")).finish(),
        "/redirect-out" => HttpResponse::TemporaryRedirect().insert_header(("location", state.1.as_str())).finish(),
        "/loop" => HttpResponse::MovedPermanently().insert_header(("location", "/loop")).finish(),
        _ => HttpResponse::NotFound().finish(),
    }
}

/// A raw server that writes `head` on every connection and then holds it open.
fn raw_server(head: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(head);
            held.push(stream);
        }
    });
    addr
}

/// Plain http and loopback allowed; everything else as in production.
fn test_policy() -> FetchPolicy {
    FetchPolicy { allow_http: true, total_timeout: Duration::from_secs(5), ..FetchPolicy::default() }
}

fn loopback_fetcher(policy: FetchPolicy) -> Fetcher {
    Fetcher::new(policy, tls()).with_address_check(check_public_or_loopback)
}

#[track_caller]
fn assert_blocked(result: Result<impl std::fmt::Debug, FetchError>, expected: Forbidden, what: &str) {
    match result {
        Err(FetchError::Blocked { reason, .. }) => assert_eq!(reason, expected, "{what}"),
        other => panic!("{what}: expected Blocked({expected:?}), got {other:?}"),
    }
}

#[actix_web::test]
async fn default_policy_refuses_every_loopback_spelling_without_connecting() {
    let marker = Marker::new();
    let port = marker.port;
    let default = Fetcher::new(FetchPolicy::default(), tls());
    let http_allowed = Fetcher::new(FetchPolicy { allow_http: true, ..FetchPolicy::default() }, tls());
    let hosts = [
        ("127.0.0.1", Forbidden::Loopback),
        ("127.1", Forbidden::Loopback),
        ("2130706433", Forbidden::Loopback),
        ("0x7f000001", Forbidden::Loopback),
        ("0177.0.0.1", Forbidden::Loopback),
        ("0.0.0.0", Forbidden::Unspecified),
        ("[::1]", Forbidden::Loopback),
        ("[::ffff:127.0.0.1]", Forbidden::Loopback),
        ("localhost", Forbidden::Loopback),
    ];
    for (host, reason) in hosts {
        let https = format!("https://{host}:{port}/file");
        let http = format!("http://{host}:{port}/file");
        assert_blocked(default.fetch(&https).await, reason, &https);
        assert!(matches!(default.fetch(&http).await, Err(FetchError::SchemeNotAllowed { .. })), "{http}");
        assert_blocked(http_allowed.fetch(&http).await, reason, &http);
    }
    assert_eq!(marker.accepted(), 0, "no connection may reach the marker");
}

#[actix_web::test]
async fn metadata_cgnat_and_private_literals_are_refused_by_the_address_check() {
    // Only checked, never fetched: a regression must not send packets off loopback.
    let default = Fetcher::new(FetchPolicy::default(), tls());
    let http_allowed = Fetcher::new(FetchPolicy { allow_http: true, ..FetchPolicy::default() }, tls());
    for (host, reason) in [
        ("169.254.169.254", Forbidden::LinkLocal),
        ("100.64.0.1", Forbidden::SharedAddressSpace),
        ("10.0.0.1", Forbidden::Private),
        ("[::ffff:169.254.169.254]", Forbidden::LinkLocal),
        ("[fd00:ec2::254]", Forbidden::UniqueLocal),
    ] {
        assert_blocked(default.check(&format!("https://{host}/latest/meta-data/")).await, reason, host);
        assert_blocked(http_allowed.check(&format!("http://{host}/latest/meta-data/")).await, reason, host);
    }
}

/// Answers from a script, counting the calls; the last answer repeats.
struct Scripted {
    answers: Vec<Vec<SocketAddr>>,
    calls: AtomicUsize,
}

impl Resolve for Scripted {
    fn resolve<'a>(&'a self, _host: &'a str, _port: u16) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers[call.min(self.answers.len() - 1)].clone();
        Box::pin(async move { Ok(answer) })
    }
}

/// Stands in for "public": 127.0.0.1 passes, every other address is judged
/// by the production rule (so 127.0.0.2 is loopback, refused).
fn only_127_0_0_1(ip: IpAddr) -> Result<(), Forbidden> {
    if ip == IpAddr::V4(Ipv4Addr::LOCALHOST) { Ok(()) } else { check_public(ip) }
}

#[actix_web::test]
async fn a_rebinding_resolver_is_asked_once_and_only_the_checked_address_is_used() {
    let files = FileServer::start(String::new()).await;
    let marker = Marker::new();
    let resolver = Arc::new(Scripted {
        answers: vec![vec![files.addr], vec![SocketAddr::from(([127, 0, 0, 1], marker.port))]],
        calls: AtomicUsize::new(0),
    });
    let fetcher = Fetcher::new(test_policy(), tls()).with_resolver(resolver.clone()).with_address_check(only_127_0_0_1);
    let url = format!("http://rebind.test:{}/file", files.addr.port());
    let file = fetcher.fetch(&url).await.unwrap();
    assert_eq!(file.bytes, "hello file");
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 1);
    assert_eq!(marker.accepted(), 0);
    let requests = files.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["host"], format!("rebind.test:{}", files.addr.port()), "Host is the URL's host");
}

#[actix_web::test]
async fn a_first_label_glob_admits_the_blob_hosts_of_generated_images_only() {
    let files = FileServer::start(String::new()).await;
    let resolver = Arc::new(Scripted { answers: vec![vec![files.addr]], calls: AtomicUsize::new(0) });
    let policy = FetchPolicy {
        allowed_hosts: vec![HostPattern::parse("oaidalle*.blob.core.windows.net").unwrap()],
        ..test_policy()
    };
    let fetcher = Fetcher::new(policy, tls()).with_resolver(resolver.clone()).with_address_check(only_127_0_0_1);
    let port = files.addr.port();
    let file = fetcher.fetch(&format!("http://oaidalleapiprodscus.blob.core.windows.net:{port}/file")).await.unwrap();
    assert_eq!(file.bytes, "hello file");
    for host in [
        "oaidall.blob.core.windows.net",
        "x.oaidalleapiprodscus.blob.core.windows.net",
        "oaidalleapiprodscus.blob.core.windows.net.evil.test",
        "evil.blob.core.windows.net",
    ] {
        let result = fetcher.fetch(&format!("http://{host}:{port}/file")).await;
        assert!(matches!(result, Err(FetchError::HostNotAllowed { .. })), "{host}: {result:?}");
    }
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 1, "refused hosts are never looked up");
    assert_eq!(files.requests().len(), 1);
}

#[actix_web::test]
async fn one_forbidden_answer_among_several_refuses_the_fetch() {
    let files = FileServer::start(String::new()).await;
    let second = SocketAddr::from(([127, 0, 0, 2], files.addr.port()));
    let resolver = Arc::new(Scripted { answers: vec![vec![files.addr, second]], calls: AtomicUsize::new(0) });
    let fetcher = Fetcher::new(test_policy(), tls()).with_resolver(resolver).with_address_check(only_127_0_0_1);
    let result = fetcher.fetch(&format!("http://two.test:{}/file", files.addr.port())).await;
    assert!(
        matches!(result, Err(FetchError::Blocked { addr, reason: Forbidden::Loopback }) if addr == second.ip()),
        "{result:?}"
    );
    assert!(files.requests().is_empty());
}

/// The https success path, end to end: a file host whose certificate comes
/// from a test CA, and a fetcher told to trust that CA (as production trusts
/// the web PKI roots, which refuse the same host).
#[actix_web::test]
async fn fetches_over_https_from_a_host_its_roots_trust() {
    relay::upstream::client::install_crypto_provider();
    let ca = TestCa::new();
    let leaf = ca.leaf(7);
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![leaf.der], key).unwrap();
    let files = FileServer::start_with(String::new(), Some(config));
    let url = format!("https://127.0.0.1:{}/file", files.addr.port());
    let policy = FetchPolicy { total_timeout: Duration::from_secs(5), ..FetchPolicy::default() };
    let trusting = Fetcher::new(policy.clone(), ca.client_config()).with_address_check(check_public_or_loopback);
    let file = trusting.fetch(&url).await.unwrap();
    assert_eq!(file.bytes, "hello file");
    assert_eq!(file.content_type, "text/plain; charset=utf-8");
    let public_roots = Fetcher::new(policy, tls()).with_address_check(check_public_or_loopback);
    let refused = public_roots.fetch(&url).await;
    assert!(refused.is_err(), "a certificate from an unknown CA must fail: {refused:?}");
    assert_eq!(files.requests().len(), 1, "only the trusting fetch reached the host");
}

#[actix_web::test]
async fn fetches_bytes_and_type_and_sends_no_credentials() {
    let files = FileServer::start(String::new()).await;
    let fetcher = loopback_fetcher(test_policy());
    let file = fetcher.fetch(&files.url("/file")).await.unwrap();
    assert_eq!(file.bytes, "hello file");
    assert_eq!(file.content_type, "text/plain; charset=utf-8");
    let file = fetcher.fetch(&files.url("/untyped")).await.unwrap();
    assert_eq!(file.bytes.as_ref(), [0, 1, 2]);
    assert_eq!(file.content_type, "application/octet-stream");
    let file = fetcher.fetch(&files.url("/chunked")).await.unwrap();
    assert_eq!(file.bytes.len(), 3000);
    for headers in files.requests() {
        let names: Vec<_> = headers.keys().map(String::as_str).collect();
        // actix-http's HTTP/1.1 encoder always adds `date`.
        assert_eq!(names, ["accept", "date", "host", "user-agent"], "only these headers reach the file host");
        assert_eq!(headers["user-agent"], "relay");
    }
}

#[actix_web::test]
async fn size_cap_is_enforced_from_content_length_and_while_streaming() {
    let files = FileServer::start(String::new()).await;
    let capped = |max_bytes| loopback_fetcher(FetchPolicy { max_bytes, ..test_policy() });
    // Exactly at the cap is fine; one byte less refuses.
    assert_eq!(capped(2000).fetch(&files.url("/2000")).await.unwrap().bytes.len(), 2000);
    assert!(matches!(capped(1999).fetch(&files.url("/2000")).await, Err(FetchError::TooLarge { limit: 1999 })));

    // A declared length over the cap is refused at once: this server never sends a body.
    let liar = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
    let started = Instant::now();
    let result = capped(1024).fetch(&format!("http://{liar}/big")).await;
    assert!(matches!(result, Err(FetchError::TooLarge { limit: 1024 })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A chunked body is cut off when it crosses the cap, though the server then stalls.
    let started = Instant::now();
    let result = capped(2500).fetch(&files.url("/chunked-stall")).await;
    assert!(matches!(result, Err(FetchError::TooLarge { limit: 2500 })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[actix_web::test]
async fn the_total_timeout_fires_on_stalling_servers() {
    let files = FileServer::start(String::new()).await;
    let silent = raw_server(b"");
    let fetcher = loopback_fetcher(FetchPolicy { total_timeout: Duration::from_millis(300), ..test_policy() });
    for url in [format!("http://{silent}/"), files.url("/slow-headers"), files.url("/chunked-stall")] {
        let started = Instant::now();
        let result = fetcher.fetch(&url).await;
        assert!(matches!(result, Err(FetchError::Timeout)), "{url}: {result:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{url}");
    }
    let e = FetchError::Timeout.to_relay_error("openaiFileIdRefs[0].download_link");
    assert_eq!(e.status.as_u16(), 504);
}

#[actix_web::test]
async fn file_host_failures_are_typed() {
    let files = FileServer::start(String::new()).await;
    let fetcher = loopback_fetcher(test_policy());
    let result = fetcher.fetch(&files.url("/missing")).await;
    assert!(matches!(result, Err(FetchError::Status { status: 404 })), "{result:?}");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let result = fetcher.fetch(&format!("http://{closed}/")).await;
    assert!(matches!(result, Err(FetchError::Connect { .. })), "{result:?}");
    let e = result.unwrap_err().to_relay_error("file_url");
    assert_eq!((e.status.as_u16(), e.param.as_deref()), (502, Some("file_url")));
}

#[actix_web::test]
async fn redirects_are_refused_by_default() {
    let files = FileServer::start(String::new()).await;
    let result = loopback_fetcher(test_policy()).fetch(&files.url("/redirect")).await;
    assert!(matches!(result, Err(FetchError::RedirectRefused { max: 0 })), "{result:?}");
    assert_eq!(files.requests().len(), 1, "the target was not fetched");
    let e = result.unwrap_err().to_relay_error("openaiFileIdRefs[0].download_link");
    assert_eq!(e.body()["error"]["param"], "openaiFileIdRefs[0].download_link");
    assert_eq!(e.status.as_u16(), 400);
}

#[actix_web::test]
async fn allowed_redirects_are_checked_hop_by_hop() {
    let marker = Marker::new();
    let following = FetchPolicy { max_redirects: 2, ..test_policy() };

    let files = FileServer::start(String::new()).await;
    let fetcher = loopback_fetcher(following.clone());
    assert_eq!(fetcher.fetch(&files.url("/redirect")).await.unwrap().bytes, "hello file");
    assert_eq!(fetcher.fetch(&files.url("/redirect-relative")).await.unwrap().bytes, "hello file");
    let result = fetcher.fetch(&files.url("/loop")).await;
    assert!(matches!(result, Err(FetchError::RedirectRefused { max: 2 })), "{result:?}");

    // Forbidden targets: they would reach the marker if they were not refused.
    for (target, reason) in [
        (format!("http://0.0.0.0:{}/", marker.port), Forbidden::Unspecified),
        (format!("http://[::ffff:127.0.0.1]:{}/", marker.port), Forbidden::Loopback),
    ] {
        let files = FileServer::start(target.clone()).await;
        assert_blocked(fetcher.fetch(&files.url("/redirect-out")).await, reason, &target);
    }
    // The allowlist and the scheme are checked again too.
    let files = FileServer::start(format!("http://localhost:{}/", marker.port)).await;
    let listed = loopback_fetcher(FetchPolicy {
        allowed_hosts: vec![HostPattern::parse("127.0.0.1").unwrap()],
        ..following.clone()
    });
    let result = listed.fetch(&files.url("/redirect-out")).await;
    assert!(matches!(result, Err(FetchError::HostNotAllowed { .. })), "{result:?}");
    let files = FileServer::start(format!("ftp://127.0.0.1:{}/", marker.port)).await;
    let result = fetcher.fetch(&files.url("/redirect-out")).await;
    assert!(matches!(result, Err(FetchError::SchemeNotAllowed { .. })), "{result:?}");

    assert_eq!(marker.accepted(), 0);
}

#[actix_web::test]
async fn the_marker_sees_connections_that_do_happen() {
    // The control for every `accepted() == 0` above.
    let marker = Marker::new();
    let fetcher = loopback_fetcher(FetchPolicy { total_timeout: Duration::from_millis(200), ..test_policy() });
    let result = fetcher.fetch(&format!("http://127.0.0.1:{}/", marker.port)).await;
    assert!(matches!(result, Err(FetchError::Timeout)), "{result:?}");
    assert_eq!(marker.accepted(), 1);
}

#[actix_web::test]
async fn tls_runs_over_the_pinned_connection_with_the_url_host_as_sni() {
    // A "server" that records the client's first bytes (the TLS ClientHello).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hello = Arc::new(Mutex::new(Vec::new()));
    let recorded = hello.clone();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
            recorded.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let resolver = Arc::new(Scripted { answers: vec![vec![addr]], calls: AtomicUsize::new(0) });
    let fetcher =
        Fetcher::new(FetchPolicy::default(), tls()).with_resolver(resolver).with_address_check(only_127_0_0_1);
    let result = fetcher.fetch(&format!("https://files.example.test:{}/f", addr.port())).await;
    assert!(matches!(result, Err(FetchError::Connect { .. })), "{result:?}");
    let hello = hello.lock().unwrap();
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
    assert!(hello.windows(18).any(|w| w == b"files.example.test"), "SNI names the URL's host");
}
