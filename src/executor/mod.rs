//! The executor of `relay serve`: one handler serves every route of the
//! table by running the request stages ([`crate::stages`]) with a sender
//! that uses the network ([`sender`]), then relaying the answer.
//!
//! Around the stages, in order:
//!
//! 1. The relay's own answers ([`builtin`]: health, `/relay/status`, the
//!    OpenAPI documents and `/manifest`) are served at once.
//! 2. Limits: the request head may total at most [`MAX_REQUEST_HEAD`] bytes.
//! 3. The stages run; a WebSocket route then opens its session
//!    ([`websocket`]).
//! 4. [`response`]: status, headers and body stream back unchanged, except
//!    that a response transform chosen by the stages translates a 2xx
//!    answer ([`translate`]). The stream is guarded by an idle timer
//!    ([`upstream_body`]).
//! 5. A request body left unread keeps the connection from being reused
//!    ([`body`]); the answer carries the request id.
//!
//! Before all of this, a request that sends `Expect: 100-continue` has its
//! head checked by the same stages ([`expect`]): `100 Continue` only for a
//! request that would be admitted.

pub mod body;
pub mod builtin;
pub mod expect;
pub mod response;
pub mod sender;
pub mod translate;
pub mod upstream_body;
pub mod websocket;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use tracing::Instrument;

use crate::error::RelayError;
use crate::live::{Live, SharedLive};
use crate::quota::Meter;
use crate::reload::Reloader;
use crate::stages::client_body::ClientBody;
use crate::stages::headers::REQUEST_ID;
use crate::stages::record::Exchange;
use crate::stages::{self, Inbound, Outcome};
use crate::table::Protocol;
use crate::telemetry::Finished;
use crate::telemetry::access::AccessLog;
use crate::telemetry::finished::Closing;
use crate::telemetry::metrics::WorkerMetrics;
use crate::telemetry::traces;
use crate::traffic_log::{Direction, EventBody, RequestLog, TrafficLog};
use crate::transforms::json_to_multipart::FetchContext;
use crate::upstream::client::Clients;

/// Largest accepted request head (all header names and values).
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// What each worker's handler needs: the live state and its own clients.
pub struct Worker {
    pub live: SharedLive,
    pub clients: Clients,
    /// Present when the table is reloadable; serves `/relay/status`.
    pub reloader: Option<Arc<Reloader>>,
    /// How `json_to_multipart` fetches linked files.
    pub fetch: FetchContext,
    /// The listener this server serves (see [`crate::table::Listener`]).
    pub listener: Rc<str>,
    /// This listener's traffic log, if any.
    pub log: Option<TrafficLog>,
    /// The access log, if on.
    pub access: Option<AccessLog>,
    /// This worker's metric handles.
    pub metrics: WorkerMetrics,
    /// Consumers' counters, shared by every worker and listener.
    pub meter: Arc<Meter>,
}

/// The one handler behind every path.
pub async fn handle(req: HttpRequest, payload: web::Payload, worker: web::Data<Worker>) -> HttpResponse {
    let (started, arrived) = (Instant::now(), SystemTime::now());
    let live = worker.live.load_full();
    let request_id = request_id(req.headers());
    let log = worker.log.as_ref().map(|log| log.request(&request_id, arrived));
    let exchange = Exchange { log: log.as_ref(), ..Exchange::default() };
    let mut body = Some(ClientBody::Payload(payload));
    let mut error_body = None;
    let span = traces::request_span(&request_id, req.method().as_str(), req.path(), &worker.listener, req.headers());
    let served = serve(&req, &mut body, &live, &worker, &request_id, &exchange).instrument(span.clone()).await;
    let mut response = match served {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(request_id, method = %req.method(), path = req.path(), status = error.status.as_u16(), "{}", error.message);
            if log.is_some() {
                error_body = Some(error.body());
            }
            error.response()
        }
    };
    // A chunked body left unread ends the connection (see `body::hold_until_sent`).
    if let Some(unread) = body
        && req.headers().contains_key(header::TRANSFER_ENCODING)
    {
        response = body::hold_until_sent(response, unread);
    }
    let headers = response.headers_mut();
    if !headers.contains_key(REQUEST_ID)
        && let Ok(value) = HeaderValue::from_str(&request_id)
    {
        headers.insert(HeaderName::from_static(REQUEST_ID), value);
    }
    if let Some(log) = &log {
        log_answer(log, &req, &response, error_body);
    }
    let route = exchange.route.get();
    if !span.is_none() {
        span.record("http.response.status_code", response.status().as_u16());
        if let Some(route) = route.and_then(|index| live.table.routes.get(index)) {
            span.record("relay.route", route.id.as_str());
        }
    }
    let closing = Closing {
        started,
        arrived,
        request_id,
        listener: worker.listener.clone(),
        route: route.and_then(|index| live.table.routes.get(index)).map(|route| route.id.clone()),
        method: req.method().clone(),
        path: req.path().to_owned(),
        status: response.status(),
        bytes_in: declared_length(req.headers()),
        upstream_ttfb: exchange.upstream_ttfb.get(),
        retries: exchange.attempts.get().saturating_sub(1),
        handles: route.and_then(|index| worker.metrics.route(&live.table, index)),
        access: worker.access.clone(),
        stream: crate::media::is_event_stream(response.headers()),
        consumer: exchange
            .consumer
            .get()
            .and_then(|index| live.table.consumers.list.get(index))
            .map(|c| c.name.clone()),
        ticket: exchange.ticket.take(),
        usage: exchange.usage.take(),
    };
    response.map_body(|_, body| BoxBody::new(Finished::new(body, closing)))
}

/// The request body's declared length (0 when chunked or absent).
fn declared_length(headers: &HeaderMap) -> u64 {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The client's request (its head, if the stages did not log it with its
/// body) and the head of the answer, with the body of the relay's own errors.
fn log_answer(log: &RequestLog, req: &HttpRequest, response: &HttpResponse, error: Option<serde_json::Value>) {
    let target = req.uri().path_and_query().map_or_else(|| req.path(), |pq| pq.as_str());
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0));
    let body = if has_body { EventBody::Omitted("not read") } else { EventBody::None };
    log.client_request(req.method(), target, req.headers(), body);
    let body = error.map_or(EventBody::None, EventBody::Json);
    log.response(Direction::ClientResponse, response.status(), response.headers(), body);
}

async fn serve(
    req: &HttpRequest,
    body: &mut Option<ClientBody>,
    live: &Arc<Live>,
    worker: &Worker,
    request_id: &str,
    exchange: &Exchange<'_>,
) -> Result<HttpResponse, RelayError> {
    if let Some(response) = builtin::answer(req, live, worker)? {
        return Ok(response);
    }
    check_head_size(req.headers())?;
    let table = &live.table;
    let target = req.uri().path_and_query().map_or_else(|| req.path(), |pq| pq.as_str());
    let inbound = Inbound {
        listener: &worker.listener,
        method: req.method(),
        path: req.path(),
        query: req.uri().query(),
        target,
        headers: req.headers(),
        peer: req.peer_addr().map(|addr| addr.ip()),
        request_id,
    };
    let network = sender::Network { clients: &worker.clients, fetch: &worker.fetch, meter: &worker.meter };
    let log = exchange.log;
    match stages::run(table, &inbound, body, &network, exchange).await? {
        Outcome::WebSocket { route, url } => {
            let route = &table.routes[route];
            let (Protocol::WebSocket(limits), Some(ClientBody::Payload(payload))) = (route.protocol, body.take())
            else {
                return Err(RelayError::internal("payload_taken", "The WebSocket handshake has no connection."));
            };
            let access = worker.access.clone().map(|access| (access, worker.listener.clone()));
            let ticket = exchange.ticket.take();
            let context = websocket::SessionContext { request_id, tls: worker.clients.tls(), access, ticket };
            websocket::serve(req, payload, route, limits, &url, context).await
        }
        Outcome::Local(answer) => Ok(HttpResponse::Ok().content_type("application/json").body(answer.to_string())),
        Outcome::Upstream { route, mut answer, translate } => {
            let checked = crate::upstream::eof::EndChecked::new(answer.take_payload(), answer.headers());
            let upstream_body =
                crate::traffic_log::tap::Tapped::new(checked, log.map(|log| log.chunks(Direction::UpstreamChunk)));
            let (status, headers) = (answer.status(), answer.headers());
            // A consumer's answer: its usage is read as it passes.
            let counted = status.is_success() && exchange.ticket.borrow().is_some();
            let scanner = counted.then(crate::quota::tap::SharedScanner::default);
            let hide = counted && exchange.hide_usage.get() && crate::media::is_event_stream(headers);
            exchange.usage.replace(scanner.clone());
            let upstream_body = crate::quota::tap::UsageTap::new(upstream_body, scanner, hide);
            let log = log.cloned();
            Ok(response::relay_response(table.clone(), route, status, headers, upstream_body, translate, log).await)
        }
    }
}

pub(crate) fn check_head_size(headers: &HeaderMap) -> Result<(), RelayError> {
    let total: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if total > MAX_REQUEST_HEAD {
        return Err(RelayError::headers_too_large(total, MAX_REQUEST_HEAD));
    }
    Ok(())
}

/// The client's `x-request-id` if it is sane, otherwise a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    let valid = |v: &&str| {
        (1..=128).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    match headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).filter(valid) {
        Some(id) => id.to_owned(),
        None => crate::ids::request_id(),
    }
}
