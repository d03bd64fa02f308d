//! The awc client of one hop, pinned to the addresses that were checked.
//!
//! The client runs over the relay's one connector
//! ([`crate::upstream::connect`]), pinned: it connects only to the addresses
//! the fetcher resolved and checked, so a second DNS answer (rebinding) is
//! never used. awc's rustls layer still runs on top of the stream, with SNI
//! and certificate verification for the host name in the URL.

use std::sync::Arc;
use std::time::Duration;

use awc::Client;

use super::Checked;
use crate::upstream;
use crate::upstream::connect::{Connect, Pinned};

/// A client for one hop, connecting only to the hop's checked addresses.
///
/// Like the upstream clients: no redirects, no default headers, no
/// decompression, HTTP/1.1 over rustls. The client and its pool live for
/// one hop, so no connection is shared between fetches.
pub(crate) fn client(hop: &Checked, connect_timeout: Duration, tls: Arc<rustls::ClientConfig>) -> Client {
    let pinned = Pinned {
        host: hop.url.uri.host().unwrap_or_default().into(),
        port: hop.url.port,
        addrs: hop.addrs.as_slice().into(),
    };
    let attempts = u32::try_from(hop.addrs.len()).unwrap_or(u32::MAX).max(1);
    let connect = Connect { pinned: Some(pinned), attempt_timeout: Some(connect_timeout) };
    upstream::client::build(tls, connect, connect_timeout.saturating_mul(attempts), connect_timeout, Some(1))
}
