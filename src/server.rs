//! The HTTP server: every request goes to the one executor handler.
//!
//! Routing is not actix's: the table can be swapped at runtime, so all
//! requests reach [`crate::executor::handle`] through the default service.
//! [`run`] takes a bound listener, so tests can bind port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_service::ServiceFactoryExt;
use actix_web::dev::{AppConfig, Server};
use actix_web::{App, web};

use crate::connection;
use crate::executor::{self, Worker};
use crate::live::SharedLive;
use crate::reload::Reloader;
use crate::transforms::json_to_multipart::FetchContext;
use crate::upstream::client::{self, Clients};

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
    /// The head timeout (default [`DEFAULT_HEAD_TIMEOUT`]).
    pub head_timeout: Option<Duration>,
}

/// Starts serving the live state on `listener`. The returned server must be awaited
/// (or spawned) to run; its handle stops it.
///
/// The server is actix-web's `App` on actix-http's `HttpService`, built by
/// hand (as `actix_web::HttpServer` would) to give it an expect service
/// (`100 Continue` goes out after the head checks pass, see
/// [`executor::expect`]) and a head timer for every request, not only a
/// connection's first ([`connection`]).
pub fn run(listener: TcpListener, live: SharedLive, options: &Options) -> std::io::Result<Server> {
    let tls = client::tls_config().map_err(std::io::Error::other)?;
    let reloader = options.reloader.clone();
    let address_check = options.fetch_address_check.unwrap_or(crate::fetch::address::check_public);
    let listener_name = options.listener.clone().unwrap_or_else(|| crate::table::DEFAULT_LISTENER.to_owned());
    let log = options.traffic_log.clone();
    let head_timeout = options.head_timeout.unwrap_or(DEFAULT_HEAD_TIMEOUT);
    let addr = listener.local_addr()?;
    let mut builder = Server::build().max_concurrent_connections(100_000);
    let shutdown = builder.graceful_shutdown_signal();
    if let Some(workers) = options.workers {
        builder = builder.workers(workers);
    }
    let builder = builder.listen(format!("relay-{addr}"), listener, move || {
        let fetch = FetchContext { tls: tls.clone(), address_check, dry_run: false };
        let worker = Worker {
            live: live.clone(),
            clients: Clients::new(tls.clone()),
            reloader: reloader.clone(),
            fetch,
            listener: listener_name.clone(),
            log: log.clone(),
        };
        let app = App::new()
            .app_data(web::Data::new(worker))
            .wrap_fn(connection::mark)
            .default_service(web::to(executor::handle));
        let shutdown = shutdown.clone();
        let http = HttpService::build()
            // A client that closes its side must cancel the upstream request at once.
            .h1_allow_half_closed(false)
            // The relay times every head ([`connection`]); actix-http's
            // timer, for the first head only, is a backstop.
            .client_request_timeout(head_timeout + Duration::from_secs(1))
            .on_connect_ext(connection::on_connect)
            .client_disconnect_timeout(Duration::from_secs(1))
            .keep_alive(Duration::from_secs(75))
            .local_addr(addr)
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .expect(executor::expect::service(live.clone(), listener_name.clone(), log.clone()))
            .finish(actix_service::map_config(app, |()| AppConfig::default()));
        connection::accept(head_timeout).and_then(http)
    })?;
    Ok(builder.run())
}
