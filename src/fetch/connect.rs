//! The awc client of one hop, pinned to the addresses that were checked.
//!
//! awc would resolve the host itself; [`Pinned`] replaces its TCP connector
//! (`Connector::connector`) and connects only to the addresses the fetcher
//! resolved and checked, so a second DNS answer (rebinding) is never used.
//! awc's rustls layer still runs on top of the stream, with SNI and
//! certificate verification for the host name in the URL.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_service::Service;
use actix_tls::connect::{ConnectError, ConnectInfo, Connection};
use awc::http::Uri;
use awc::{Client, Connector};
use futures_util::future::LocalBoxFuture;
use tokio::net::TcpStream;

use super::Checked;

/// A TCP connector that only connects to a fixed list of checked addresses,
/// and only for the host it was built for.
#[derive(Clone)]
pub(crate) struct Pinned {
    host: Rc<str>,
    port: u16,
    addrs: Rc<[SocketAddr]>,
    attempt_timeout: Duration,
}

impl Service<ConnectInfo<Uri>> for Pinned {
    type Response = Connection<Uri, TcpStream>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, ConnectError>>;

    actix_service::always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            // awc asks for the URL's host; anything else is refused, not resolved.
            if req.hostname() != &*this.host || req.port() != this.port {
                return Err(ConnectError::Unresolved);
            }
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no checked address");
            for addr in this.addrs.iter() {
                match tokio::time::timeout(this.attempt_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => return Ok(Connection::new(req.request().clone(), stream)),
                    Ok(Err(e)) => last = e,
                    Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out")),
                }
            }
            Err(ConnectError::Io(last))
        })
    }
}

/// A client for one hop, connecting only to the hop's checked addresses.
///
/// Like the upstream clients: no redirects, no default headers, no
/// decompression, HTTP/1.1 over rustls. The client and its pool live for
/// one hop, so no connection is shared between fetches.
pub(crate) fn client(hop: &Checked, connect_timeout: Duration, tls: Arc<rustls::ClientConfig>) -> Client {
    crate::executor::client::install_crypto_provider();
    let pinned = Pinned {
        host: hop.url.uri.host().unwrap_or_default().into(),
        port: hop.url.port,
        addrs: hop.addrs.as_slice().into(),
        attempt_timeout: connect_timeout,
    };
    let attempts = u32::try_from(hop.addrs.len()).unwrap_or(u32::MAX).max(1);
    // `max_http_version` replaces the TLS settings with awc's own: it goes first.
    let connector = Connector::new()
        .max_http_version(awc::http::Version::HTTP_11)
        .rustls_0_23(tls)
        .connector(pinned)
        .timeout(connect_timeout.saturating_mul(attempts))
        .handshake_timeout(connect_timeout)
        .limit(1);
    Client::builder().connector(connector).disable_redirects().no_default_headers().disable_timeout().finish()
}
