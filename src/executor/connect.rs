//! The TCP connector of the upstream clients: awc's, with Nagle's algorithm
//! off.
//!
//! awc leaves `TCP_NODELAY` unset, so a request head and its body written
//! separately, or a small final piece of a streamed upload, can wait for the
//! upstream's delayed ACK. The host is resolved with the system resolver and
//! each address tried in turn; awc's connector timeout covers the whole call.

use actix_service::Service;
use actix_tls::connect::{ConnectError, ConnectInfo, Connection};
use awc::http::Uri;
use futures_util::future::LocalBoxFuture;
use tokio::net::TcpStream;

#[derive(Clone, Copy, Debug, Default)]
pub struct NoDelay;

impl Service<ConnectInfo<Uri>> for NoDelay {
    type Response = Connection<Uri, TcpStream>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, ConnectError>>;

    actix_service::always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((req.hostname(), req.port()))
                .await
                .map_err(|e| ConnectError::Resolver(Box::new(e)))?;
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        stream.set_nodelay(true).map_err(ConnectError::Io)?;
                        return Ok(Connection::new(req.request().clone(), stream));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.map_or(ConnectError::NoRecords, ConnectError::Io))
        })
    }
}
