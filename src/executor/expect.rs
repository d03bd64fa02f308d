//! `Expect: 100-continue`: the client waits for `100 Continue` before it
//! sends its body, so the relay says it only for a request it would admit.
//!
//! actix-http writes `100 Continue` as soon as its expect service returns
//! the request, before the handler runs. This service runs the checks that
//! need only the head, the same stage functions `serve` runs, against the
//! live table: the head size (431), [`resolve`] (400, 404, 405, 426),
//! [`authenticate`] (401, 403) and [`admit`] (413, 415). A refused request
//! gets its error in the OpenAI shape and no `100 Continue` (and is in the
//! traffic log like any other); actix then closes the connection, since the
//! body was never read.
//!
//! The relay's own answers (health, status, documents) are not routes:
//! they are let through ([`super::builtin::is_own`]).

use actix_http::Request;
use actix_http::body::BoxBody;
use actix_http::header::{HeaderName, HeaderValue};
use actix_service::{ServiceFactory, fn_service};

use crate::error::RelayError;
use crate::live::SharedLive;
use crate::stages::headers::REQUEST_ID;
use crate::stages::{Inbound, admit::admit, authenticate::authenticate, resolve::resolve};
use crate::table::Protocol;
use crate::traffic_log::{Direction, EventBody, TrafficLog};

/// The expect service of one listener: the request if it may send its
/// body, else the error response.
pub fn service(
    live: SharedLive,
    listener: String,
    log: Option<TrafficLog>,
) -> impl ServiceFactory<Request, Config = (), Response = Request, Error = actix_http::Response<BoxBody>, InitError = ()>
{
    fn_service(move |request: Request| {
        let outcome = check(&live, &listener, &request).map_err(|error| refusal(&request, &error, log.as_ref()));
        std::future::ready(outcome.map(|()| request))
    })
}

/// Whether the head admits the body.
fn check(live: &SharedLive, listener: &str, request: &Request) -> Result<(), RelayError> {
    let head = request.head();
    super::check_head_size(&head.headers)?;
    let live = live.load();
    let table = &live.table;
    let target = head.uri.path_and_query().map_or_else(|| head.uri.path(), |pq| pq.as_str());
    let inbound = Inbound {
        listener,
        method: &head.method,
        path: head.uri.path(),
        query: head.uri.query(),
        target,
        headers: &head.headers,
        peer: head.peer_addr.map(|addr| addr.ip()),
        request_id: "",
    };
    if super::builtin::is_own(&head.method, head.uri.path()) {
        return Ok(());
    }
    let resolved = resolve(table, &inbound)?;
    let route = &table.routes[resolved.route];
    authenticate(table, resolved.route, route, &inbound)?;
    if let Protocol::WebSocket(_) = route.protocol {
        return Ok(());
    }
    admit(&head.headers, &route.body).map(drop)
}

/// The error response, with the request id the handler would have given
/// it; logged like the handler's errors.
fn refusal(request: &Request, error: &RelayError, log: Option<&TrafficLog>) -> actix_http::Response<BoxBody> {
    let head = request.head();
    let request_id = super::request_id(&head.headers);
    let (method, path, status) = (&head.method, head.uri.path(), error.status.as_u16());
    tracing::info!(request_id, %method, path, status, "{} (before 100 Continue)", error.message);
    let mut response: actix_http::Response<BoxBody> = error.response().into();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID), value);
    }
    if let Some(log) = log {
        let request_log = log.request(&request_id, std::time::SystemTime::now());
        let target = head.uri.path_and_query().map_or(path, |pq| pq.as_str());
        request_log.client_request(method, target, &head.headers, EventBody::Omitted("not read"));
        let body = EventBody::Json(error.body());
        request_log.response(Direction::ClientResponse, error.status, response.headers(), body);
    }
    response
}
