//! The one TCP connector of every connection the relay opens: upstream
//! requests (awc), WebSocket upstreams and file fetches.
//!
//! `TCP_NODELAY` is always on: awc leaves it unset, so a request head and
//! its body written separately, or a small final piece of a streamed upload,
//! would wait for the peer's delayed ACK. The host is resolved with the
//! system resolver, or, for the fetcher, the connection is pinned to
//! addresses that were resolved and checked before ([`Pinned`]): a second
//! DNS answer (rebinding) is never used. Each address is tried in turn.
//! awc's sockets are [`Watched`] for end of file ([`super::eof`]).

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use actix_service::Service;
use actix_tls::connect::{ConnectError, ConnectInfo, Connection};
use awc::http::Uri;
use futures_util::future::LocalBoxFuture;
use tokio::net::TcpStream;

use super::eof::Watched;

/// Addresses a connection is limited to, for the one host they were
/// checked for.
#[derive(Clone, Debug)]
pub struct Pinned {
    pub host: Rc<str>,
    pub port: u16,
    pub addrs: Rc<[SocketAddr]>,
}

/// awc's TCP connector: resolving, or pinned; `attempt_timeout` bounds
/// each address tried (awc's own timeout bounds the whole call).
#[derive(Clone, Debug)]
pub struct Connect {
    pub pinned: Option<Pinned>,
    pub attempt_timeout: Option<Duration>,
}

/// Opens a TCP connection to `host:port` (or to the pinned addresses).
pub async fn tcp(host: &str, port: u16, pinned: Option<&Pinned>, attempt: Option<Duration>) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match pinned {
        Some(pinned) if *pinned.host == *host && pinned.port == port => pinned.addrs.to_vec(),
        Some(_) => return Err(io::Error::new(io::ErrorKind::PermissionDenied, "not the host that was checked")),
        None => tokio::net::lookup_host((host, port)).await?.collect(),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"));
    for addr in addrs {
        let connecting = TcpStream::connect(addr);
        let result = match attempt {
            Some(limit) => tokio::time::timeout(limit, connecting).await.unwrap_or_else(|_| {
                Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out")))
            }),
            None => connecting.await,
        };
        match result {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Service<ConnectInfo<Uri>> for Connect {
    type Response = Connection<Uri, Watched<TcpStream>>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, ConnectError>>;

    actix_service::always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream = tcp(req.hostname(), req.port(), this.pinned.as_ref(), this.attempt_timeout).await.map_err(
                |e| match e.kind() {
                    io::ErrorKind::PermissionDenied => ConnectError::Unresolved,
                    _ if this.pinned.is_none() && e.kind() == io::ErrorKind::NotFound => ConnectError::NoRecords,
                    _ => ConnectError::Io(e),
                },
            )?;
            Ok(Connection::new(req.request().clone(), Watched(stream)))
        })
    }
}
