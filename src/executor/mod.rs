//! The generic executor: one handler serves every route of the table.
//!
//! A request passes these stages, in order:
//!
//! 1. The relay's own answers (health, `/relay/status`, the OpenAPI documents
//!    and `/manifest`) are served at once.
//! 2. Limits: the request head may total at most [`MAX_REQUEST_HEAD`] bytes.
//! 3. Resolve ([`Table::resolve_handshake`]): the raw path is checked
//!    ([`path`]: dot segments, encoded slashes; 400), the route matched among
//!    this listener's routes (404, 405) and the upstream URL built. WebSocket
//!    handshakes (`GET` with `Upgrade: websocket`) match only WebSocket
//!    routes, and plain requests only HTTP routes (see [`crate::matcher`]).
//! 4. Authenticate: relay keys for non-public routes (401); an upstream whose
//!    key is required but missing refuses (403). A WebSocket route then
//!    leaves this list: [`websocket`] opens the upstream session and relays
//!    frames. A route with `[route.models]` may answer here ([`models`]).
//! 5. [`body`]: framing, media type (415) and size (413) are checked; the
//!    body is then streamed with a byte limit and an idle timer (408).
//! 6. [`transform`]: the route's transforms run (JSON body read if needed);
//!    [`headers`] builds the upstream request head by the header policy.
//! 7. [`forward`]: the request is sent, and sent again where the route's
//!    [`retry`] policy allows; connect failures are 502, timeouts 504.
//! 8. [`response`]: status, headers and body stream back unchanged, except
//!    that a response transform chosen in stage 6 translates a 2xx answer
//!    ([`translate`]).

pub mod body;
pub mod client;
mod connect;
mod forward;
pub mod guard;
pub mod headers;
mod models;
pub mod path;
pub mod probe;
pub mod response;
pub mod retry;
pub mod transform;
pub mod translate;
pub mod websocket;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use crate::error::RelayError;
use crate::reload::Reloader;
use crate::table::{Protocol, SharedTable, Table, UpstreamAuth, WhenKeyMissing};
use crate::traffic_log::{Direction, EventBody, RequestLog, TrafficLog};
use crate::transforms::json_to_multipart::FetchContext;

pub use client::Clients;

/// Largest accepted request head (all header names and values).
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// What each worker's handler needs: the shared table and its own clients.
pub struct Worker {
    pub table: SharedTable,
    pub clients: Clients,
    /// Present when the table is reloadable; serves `/relay/status`.
    pub reloader: Option<Arc<Reloader>>,
    /// How `json_to_multipart` fetches linked files.
    pub fetch: FetchContext,
    /// The listener this server serves (see [`crate::table::Listener`]).
    pub listener: String,
    /// This listener's traffic log, if any.
    pub log: Option<TrafficLog>,
}

/// The one handler behind every path.
pub async fn handle(req: HttpRequest, payload: web::Payload, worker: web::Data<Worker>) -> HttpResponse {
    let table = worker.table.load_full();
    let request_id = request_id(req.headers());
    let log = worker.log.as_ref().map(|log| log.request(&request_id, std::time::SystemTime::now()));
    let mut payload = Some(payload);
    let mut error_body = None;
    let mut response = match serve(&req, &mut payload, table, &worker, &request_id, log.as_ref()).await {
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
    let unread = payload.or_else(|| req.extensions_mut().remove::<body::Unread>().map(|unread| unread.0));
    if let Some(unread) = unread
        && req.headers().contains_key(actix_web::http::header::TRANSFER_ENCODING)
    {
        response = body::hold_until_sent(response, unread);
    }
    let headers = response.headers_mut();
    if !headers.contains_key(headers::REQUEST_ID)
        && let Ok(value) = HeaderValue::from_str(&request_id)
    {
        headers.insert(HeaderName::from_static(headers::REQUEST_ID), value);
    }
    if let Some(log) = &log {
        log_answer(log, &req, &response, error_body);
    }
    response
}

/// The client's request (its head, if the executor did not log it with its
/// body) and the head of the answer, with the body of the relay's own errors.
fn log_answer(log: &RequestLog, req: &HttpRequest, response: &HttpResponse, error: Option<serde_json::Value>) {
    let target = req.uri().path_and_query().map_or_else(|| req.path(), |pq| pq.as_str());
    let has_body = req.headers().contains_key(actix_web::http::header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0));
    let body = if has_body { EventBody::Omitted("not read") } else { EventBody::None };
    log.client_request(req.method(), target, req.headers(), body);
    let body = error.map_or(EventBody::None, EventBody::Json);
    log.response(Direction::ClientResponse, response.status(), response.headers(), body);
}

async fn serve(
    req: &HttpRequest,
    payload: &mut Option<web::Payload>,
    table: Arc<Table>,
    worker: &Worker,
    request_id: &str,
    log: Option<&RequestLog>,
) -> Result<HttpResponse, RelayError> {
    if let Some(response) = builtin(req, &table, worker)? {
        return Ok(response);
    }
    check_head_size(req.headers())?;
    let handshake = websocket::is_handshake(req.method(), req.headers());
    let resolved = table.resolve_handshake(&worker.listener, req.method(), req.path(), req.uri().query(), handshake)?;
    let route = &table.routes[resolved.route];
    let keyed = |headers| {
        let websocket = matches!(route.protocol, Protocol::WebSocket(_));
        table.client_keys.admits(headers) || (websocket && websocket::admits(&table.client_keys, headers))
    };
    if !route.public && !keyed(req.headers()) {
        return Err(RelayError::unauthorized());
    }
    if let UpstreamAuth::Bearer { header: None, when_missing: WhenKeyMissing::Forbid, env } = &route.upstream.auth {
        return Err(RelayError::forbidden(
            "upstream_key_missing",
            format!("This route needs the {env} key, which the relay operator has not configured."),
        ));
    }
    if let Protocol::WebSocket(limits) = route.protocol {
        let payload = payload.take().ok_or_else(|| RelayError::internal("payload_taken", "The body was taken."))?;
        let tls = worker.clients.tls();
        return websocket::serve(req, payload, route, limits, &resolved.url, request_id, tls).await;
    }
    if let Some(list) = &route.models {
        let client = worker.clients.get(route.upstream.connect_timeout);
        let answer = models::answer(&table, resolved.route, list, req, &resolved.params, &client, request_id).await?;
        if let Some(response) = answer {
            return Ok(response);
        }
    }
    let shape = body::inspect(req.headers(), &route.body)?;
    let (route_index, url, params) = (resolved.route, resolved.url, resolved.params);
    forward::forward(
        forward::Outbound {
            req,
            payload: payload.take(),
            table: table.clone(),
            route_index,
            url,
            params,
            shape,
            request_id,
            log,
        },
        &worker.clients,
        &worker.fetch,
    )
    .await
}

/// Answers the relay serves itself, before any route: health (public),
/// the Actions health check `/v1/actions/ping` (also `/v1/actions/health`;
/// it needs a relay key like a route, so it proves the Action's key works),
/// `/relay/status` (public on loopback, otherwise it needs a relay key) and
/// the generated documents (public, see [`documents`]).
fn builtin(req: &HttpRequest, table: &Table, worker: &Worker) -> Result<Option<HttpResponse>, RelayError> {
    if *req.method() != Method::GET {
        return Ok(None);
    }
    if let Some(document) = documents(req.path(), &table.documents)? {
        return Ok(Some(HttpResponse::Ok().content_type("application/json").body(document)));
    }
    let body = match req.path() {
        "/" | "/health" | "/v1/health" => serde_json::json!({"status": "ok", "routes": table.routes.len()}),
        "/v1/actions/ping" | "/v1/actions/health" if table.client_keys.admits(req.headers()) => {
            serde_json::json!({"status": "ok"})
        }
        "/v1/actions/ping" | "/v1/actions/health" => return Err(RelayError::unauthorized()),
        "/relay/status" => {
            let loopback = req.peer_addr().is_some_and(|peer| peer.ip().is_loopback());
            let keyed = table.client_keys.is_enabled() && table.client_keys.admits(req.headers());
            if !(loopback || keyed) {
                return Err(RelayError::unauthorized());
            }
            let mut status = match worker.reloader.as_deref() {
                Some(reloader) => reloader.state().to_json(table.routes.len()),
                None => serde_json::json!({"version": table.version, "routes": table.routes.len(), "reload": "off"}),
            };
            if let (Some(log), Some(fields)) = (&worker.log, status.as_object_mut()) {
                fields.insert("traffic_log".to_owned(), log.status());
            }
            status
        }
        _ => return Ok(None),
    };
    Ok(Some(HttpResponse::Ok().content_type("application/json").body(body.to_string())))
}

/// `/openapi.json`, `/openapi.actions.json`, `/openapi.actions/{set}.json`
/// (404 for an unknown set) and `/manifest` (also `/v1/manifest`).
fn documents(path: &str, docs: &crate::openapi::Documents) -> Result<Option<bytes::Bytes>, RelayError> {
    let unknown = |set: &str| RelayError {
        status: actix_web::http::StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: "unknown_actions_set",
        message: format!("No Actions set named {set:?}; /manifest lists them."),
        param: None,
        retryable: false,
        allow: None,
    };
    Ok(Some(match path {
        "/openapi.json" => docs.full.clone(),
        "/manifest" | "/v1/manifest" => docs.manifest.clone(),
        "/openapi.actions.json" => docs.default_actions.clone().ok_or_else(|| unknown(crate::openapi::DEFAULT_SET))?,
        _ => match path.strip_prefix("/openapi.actions/").and_then(|rest| rest.strip_suffix(".json")) {
            Some(set) => docs.actions_set(set).cloned().ok_or_else(|| unknown(set))?,
            None => return Ok(None),
        },
    }))
}

fn check_head_size(headers: &HeaderMap) -> Result<(), RelayError> {
    let total: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if total > MAX_REQUEST_HEAD {
        return Err(RelayError::headers_too_large(total, MAX_REQUEST_HEAD));
    }
    Ok(())
}

/// The client's `x-request-id` if it is sane, otherwise a new one.
fn request_id(headers: &HeaderMap) -> String {
    let valid = |v: &&str| {
        (1..=128).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    match headers.get(headers::REQUEST_ID).and_then(|v| v.to_str().ok()).filter(valid) {
        Some(id) => id.to_owned(),
        None => format!("relay-{:032x}", fastrand::u128(..)),
    }
}
