//! The admin address (`relay serve --admin-listen`): the operator's view,
//! apart from the traffic listeners.
//!
//! It serves `/health` (liveness), `/ready` (readiness: the table is loaded
//! and the relay is not draining), `/relay/status` (the reload state, as
//! on loopback on a traffic listener), `/relay/usage` (consumers' usage
//! since the start and their current windows, see [`crate::quota`]) and
//! `/metrics` (Prometheus' text
//! format, see [`crate::telemetry::metrics`]). It takes no relay key: bind it to
//! loopback (the default when only a port is given) or to an address only
//! probes and scrapers reach. Unlike the traffic listeners it keeps serving
//! while the relay drains, so probes see the 503. More routes go in
//! [`routes`].

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::drain::Drain;
use crate::quota::Meter;
use crate::reload::Reloader;
use crate::traffic_log::TrafficLog;

/// What the admin handlers read.
pub struct Admin {
    pub reloader: Arc<Reloader>,
    pub drain: Drain,
    /// The traffic log of each listener that has one.
    pub traffic_logs: BTreeMap<String, TrafficLog>,
    /// The consumers' counters the listeners share.
    pub meter: Arc<Meter>,
}

/// `--admin-listen`: `HOST:PORT`, or a bare `PORT` on loopback.
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is not PORT or HOST:PORT with a numeric host, e.g. 9090 or 0.0.0.0:9090"))
}

/// The admin routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/relay/status", web::get().to(status))
        .route("/relay/usage", web::get().to(usage))
        .route("/metrics", web::get().to(metrics));
}

/// Starts the admin server on `listener` (one worker).
pub fn run(listener: TcpListener, admin: Admin) -> std::io::Result<Server> {
    let admin = web::Data::new(admin);
    let server = HttpServer::new(move || App::new().app_data(admin.clone()).configure(routes))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?;
    Ok(server.run())
}

async fn metrics(admin: web::Data<Admin>) -> HttpResponse {
    let mut text = crate::telemetry::metrics::render();
    text.push_str(&admin.meter.counters.totals.prometheus(crate::telemetry::metrics::CONSUMER_TOKENS));
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text)
}

async fn health(admin: web::Data<Admin>) -> HttpResponse {
    let routes = admin.reloader.live().load().table.routes.len();
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "routes": routes}))
}

async fn ready(admin: web::Data<Admin>) -> HttpResponse {
    admin.drain.ready_response()
}

async fn status(admin: web::Data<Admin>) -> HttpResponse {
    let routes = admin.reloader.live().load().table.routes.len();
    let mut status = admin.reloader.state().to_json(routes);
    if let Some(fields) = status.as_object_mut() {
        fields.insert("draining".to_owned(), admin.drain.is_draining().into());
        let logs: serde_json::Map<_, _> =
            admin.traffic_logs.iter().map(|(name, log)| (name.clone(), log.status())).collect();
        if !logs.is_empty() {
            fields.insert("traffic_logs".to_owned(), logs.into());
        }
    }
    HttpResponse::Ok().json(status)
}

async fn usage(admin: web::Data<Admin>) -> HttpResponse {
    let live = admin.reloader.live().load_full();
    let mut usage = admin.meter.counters.totals.to_json();
    let mut windows = serde_json::Map::new();
    for consumer in &live.table.consumers.list {
        let used: serde_json::Map<String, serde_json::Value> = admin
            .meter
            .windows(consumer)
            .await
            .into_iter()
            .map(|(name, used, limit)| (name.to_owned(), serde_json::json!({"used": used, "limit": limit.amount})))
            .collect();
        windows.insert(consumer.name.clone(), used.into());
    }
    if let Some(fields) = usage.as_object_mut() {
        fields.insert("windows".to_owned(), windows.into());
    }
    HttpResponse::Ok().json(usage)
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn a_bare_port_is_on_loopback() {
        assert_eq!(parse_address("9090").unwrap().to_string(), "127.0.0.1:9090");
        assert_eq!(parse_address("0.0.0.0:9090").unwrap().to_string(), "0.0.0.0:9090");
        assert!(parse_address("localhost:9090").is_err());
    }
}
