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

use actix_http::HttpService;
use actix_service::ServiceFactoryExt;
use actix_web::dev::{AppConfig, Server};
use actix_web::{App, web};

use crate::connection;
use crate::drain::Drain;
use crate::executor::{self, Worker};
use crate::live::SharedLive;
use crate::reload::Reloader;
use crate::tls::ReloadingCert;
use crate::transforms::json_to_multipart::FetchContext;
use crate::upstream::client::{self, Clients};

/// How long a stopping server waits for open connections when no drain
/// timeout is given (see [`Options::shutdown_timeout`]).
const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(30);

/// How long a client may take to send a request head before it gets 408
/// and the connection is closed ([`connection`]).
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The head timeout (default [`DEFAULT_HEAD_TIMEOUT`]).
    pub head_timeout: Option<Duration>,
    /// Consumers' counters; give every listener of a process the same one
    /// (default: a new one for this server).
    pub meter: Option<Arc<crate::quota::Meter>>,
}

/// The HTTP service builder of one worker and its app: actix-web's `App` (the executor behind
/// [`entry`]) on actix-http's `HttpService`, with the relay's expect service
/// (`100 Continue` only after the head checks pass, see
/// [`executor::expect`]) and its connection settings.
macro_rules! http_service {
    ($worker:expr, $drain:expr, $settings:expr) => {{
        let settings: &Settings = $settings;
        let (live, listener, log) = ($worker.live.clone(), $worker.listener.to_string(), $worker.log.clone());
        let app = App::new()
            .app_data(web::Data::new($worker))
            .app_data($drain.clone())
            .wrap_fn(connection::mark)
            .default_service(web::to(entry::entry));
        let shutdown = settings.shutdown.clone();
        let http = HttpService::build()
            // A client that closes its side must cancel the upstream request at once.
            .h1_allow_half_closed(false)
            // The relay times every head ([`connection`]); actix-http's
            // timer, for the first head only, is a backstop.
            .client_request_timeout(settings.head_timeout + Duration::from_secs(1))
            .client_disconnect_timeout(Duration::from_secs(1))
            .keep_alive(Duration::from_secs(75))
            .local_addr(settings.addr)
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .expect(executor::expect::service(live, listener, log));
        (http, actix_service::map_config(app, |()| AppConfig::default()))
    }};
}

/// What every worker's service is built with.
struct Settings {
    head_timeout: Duration,
    addr: std::net::SocketAddr,
    shutdown: actix_server::GracefulShutdownSignal,
}

/// Starts serving the live state on `listener`. The returned server must be
/// awaited (or spawned) to run; its handle stops it. It does not handle
/// signals: `relay serve` does (see [`crate::drain`]).
///
/// The server is built by hand (as `actix_web::HttpServer` would) to give it
/// an expect service and, on plain listeners, a head timer for every
/// request of a connection and the HTTP layer's refusals in the OpenAI shape
/// ([`connection`]). A TLS listener has actix-http's first-head timer only.
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
    let addr = listener.local_addr()?;
    let head_timeout = options.head_timeout.unwrap_or(DEFAULT_HEAD_TIMEOUT);
    let meter = options.meter.clone().unwrap_or_default();
    let mut builder = Server::build()
        .max_concurrent_connections(100_000)
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN).as_secs().max(1));
    if let Some(workers) = options.workers {
        builder = builder.workers(workers);
    }
    let settings = Arc::new(Settings { head_timeout, addr, shutdown: builder.graceful_shutdown_signal() });
    let worker = move || Worker {
        live: live.clone(),
        clients: Clients::new(tls.clone()),
        reloader: reloader.clone(),
        fetch: FetchContext { tls: tls.clone(), address_check, dry_run: false },
        listener: listener_name.as_str().into(),
        log: log.clone(),
        access: access.clone(),
        metrics: crate::telemetry::metrics::WorkerMetrics::new(&listener_name),
        meter: meter.clone(),
    };
    let name = format!("relay-{addr}");
    let builder = match &options.tls {
        None => builder.listen(name, listener, move || {
            let (http, app) = http_service!(worker(), drain, &settings);
            connection::accept(settings.head_timeout).and_then(http.on_connect_ext(connection::on_connect).finish(app))
        })?,
        Some(cert) => {
            let config = cert.server_config().map_err(std::io::Error::other)?;
            builder.listen(name, listener, move || {
                let (http, app) = http_service!(worker(), drain, &settings);
                http.finish(app).rustls_0_23(config.clone())
            })?
        }
    };
    Ok(builder.run())
}
