//! The HTTP server: every request goes to the one executor handler.
//!
//! Routing is not actix's: the table can be swapped at runtime, so all
//! requests reach [`crate::executor::handle`] through the default service,
//! behind [`entry`] (readiness, CORS, the drain of event streams).
//! [`run`] takes a bound listener, so tests can bind port 0.

mod entry;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::drain::Drain;
use crate::executor::Worker;
use crate::live::SharedLive;
use crate::reload::Reloader;
use crate::tls::ReloadingCert;
use crate::transforms::json_to_multipart::FetchContext;
use crate::upstream::client::{self, Clients};

/// How long a stopping server waits for open connections when no drain
/// timeout is given (see [`Options::shutdown_timeout`]).
const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(30);

/// Server settings that are not part of the route table.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// The reloader behind the table, for `GET /relay/status`.
    pub reloader: Option<Arc<Reloader>>,
    /// Which addresses `json_to_multipart` may fetch files from. Only tests
    /// change this (to reach a loopback file server); the default refuses
    /// every address that is not public.
    pub fetch_address_check: Option<crate::fetch::AddressCheck>,
    /// The listener whose routes this server serves (default: `default`).
    pub listener: Option<String>,
    /// Where this listener's traffic is logged (see [`crate::traffic_log`]).
    pub traffic_log: Option<crate::traffic_log::TrafficLog>,
    /// Where finished requests are logged (see [`crate::telemetry::access`]).
    pub access_log: Option<crate::telemetry::access::AccessLog>,
    /// Serve TLS with this certificate (see [`crate::tls`]).
    pub tls: Option<Arc<ReloadingCert>>,
    /// The process's drain state (`/ready`, the end of streams at the drain
    /// deadline); the default never drains.
    pub drain: Drain,
    /// After a graceful stop, how long open connections may run before they
    /// are cut (default 30 s); `relay serve` sets it past the drain timeout.
    pub shutdown_timeout: Option<Duration>,
    /// The TLS client settings for connections the relay opens (upstreams,
    /// fetched files). Only tests change this, to trust a test CA; the
    /// default trusts the public web PKI roots.
    pub client_tls: Option<Arc<rustls::ClientConfig>>,
}

/// Starts serving the live state on `listener`. The returned server must be
/// awaited (or spawned) to run; its handle stops it. It does not handle
/// signals: `relay serve` does (see [`crate::drain`]).
pub fn run(listener: TcpListener, live: SharedLive, options: &Options) -> std::io::Result<Server> {
    let tls = match &options.client_tls {
        Some(config) => config.clone(),
        None => client::tls_config().map_err(std::io::Error::other)?,
    };
    let reloader = options.reloader.clone();
    let address_check = options.fetch_address_check.unwrap_or(crate::fetch::address::check_public);
    let listener_name = options.listener.clone().unwrap_or_else(|| crate::table::DEFAULT_LISTENER.to_owned());
    let log = options.traffic_log.clone();
    let access = options.access_log.clone();
    let drain = web::Data::new(options.drain.clone());
    let mut server = HttpServer::new(move || {
        let fetch = FetchContext { tls: tls.clone(), address_check, dry_run: false };
        let worker = Worker {
            live: live.clone(),
            clients: Clients::new(tls.clone()),
            reloader: reloader.clone(),
            fetch,
            listener: listener_name.as_str().into(),
            log: log.clone(),
            access: access.clone(),
            metrics: crate::telemetry::metrics::WorkerMetrics::new(&listener_name),
        };
        App::new().app_data(web::Data::new(worker)).app_data(drain.clone()).default_service(web::to(entry::entry))
    })
    // A client that closes its side must cancel the upstream request at once.
    .h1_allow_half_closed(false)
    // Streamed bodies go out in pieces of any size; with Nagle's algorithm a
    // small piece waits for the client's delayed ACK (40 ms on Linux).
    .tcp_nodelay(true)
    .client_request_timeout(Duration::from_secs(30))
    .keep_alive(Duration::from_secs(75))
    .max_connections(100_000)
    .disable_signals()
    .shutdown_timeout(options.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN).as_secs().max(1));
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    let server = match &options.tls {
        Some(cert) => {
            let config = cert.server_config().map_err(std::io::Error::other)?;
            server.listen_rustls_0_23(listener, config)?
        }
        None => server.listen(listener)?,
    };
    Ok(server.run())
}
