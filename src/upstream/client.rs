//! The upstream HTTP clients of one worker thread.
//!
//! awc clients are per thread. awc's defaults do not suit a relay, so each is
//! set deliberately: no redirects (the client sees the upstream's 3xx), no
//! default headers, no pool cap (streams would queue behind 100
//! connections), no response decompression (bytes pass through as sent), and
//! HTTP/1.1 over rustls with the webpki roots, over the one TCP connector
//! ([`super::connect`]). A client is kept per connect timeout, since awc
//! sets that on the connector. The file fetcher builds its clients with
//! [`build`] too, pinned to checked addresses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use awc::{Client, Connector};

use super::connect::Connect;

/// Makes ring the process-wide rustls provider, unless one is installed.
///
/// awc's `Connector::new()` builds a default TLS config with the process
/// provider before ours replaces it; when more than one provider is compiled
/// in (another dependency may enable aws-lc-rs), rustls cannot choose one and
/// panics. Call this before building any awc client; it is idempotent.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// TLS settings shared by all workers.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    install_crypto_provider();
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// This worker's clients, by connect timeout.
pub struct Clients {
    tls: Arc<rustls::ClientConfig>,
    by_connect_timeout: RefCell<HashMap<Duration, Client>>,
}

impl Clients {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Clients { tls, by_connect_timeout: RefCell::default() }
    }

    /// The TLS settings, for connections the relay opens itself (WebSocket).
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The client to use for an upstream with this connect timeout.
    pub fn get(&self, connect_timeout: Duration) -> Client {
        self.by_connect_timeout
            .borrow_mut()
            .entry(connect_timeout)
            .or_insert_with(|| upstream_client(self.tls.clone(), connect_timeout))
            .clone()
    }
}

fn upstream_client(tls: Arc<rustls::ClientConfig>, connect_timeout: Duration) -> Client {
    let connect = Connect { pinned: None, attempt_timeout: None };
    build(tls, connect, connect_timeout, connect_timeout, None)
}

/// An awc client as the relay sets them all: no redirects, no default
/// headers, no decompression, no client timeout (each request sets its
/// own), HTTP/1.1 over rustls, through `connect`. `limit`: the most
/// connections per host (`None`: no cap, kept alive for reuse).
pub fn build(
    tls: Arc<rustls::ClientConfig>,
    connect: Connect,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    limit: Option<usize>,
) -> Client {
    install_crypto_provider();
    let connector = Connector::new()
        .max_http_version(awc::http::Version::HTTP_11)
        .rustls_0_23(tls)
        .connector(connect)
        .timeout(connect_timeout)
        .handshake_timeout(handshake_timeout);
    let connector = match limit {
        Some(limit) => connector.limit(limit),
        None => connector.limit(0).conn_keep_alive(Duration::from_secs(30)).conn_lifetime(Duration::from_secs(300)),
    };
    Client::builder().connector(connector).disable_redirects().no_default_headers().disable_timeout().finish()
}
