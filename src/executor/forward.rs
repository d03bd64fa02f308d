//! Stage 7: the route's guards may deny the request (after a probe of the
//! upstream); then the request goes upstream, retried where the route allows, and
//! failures are told apart: a body the relay stopped (413, 408), an upstream
//! that could not be reached (502) or did not answer in time (504).
//!
//! The outgoing body is one of three kinds ([`Outgoing`]): none, bytes the
//! relay holds (a transformed body, or a small JSON body read so that it can
//! be replayed), or the client's stream. Only the first two can be retried.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use awc::error::{ConnectError, SendRequestError};
use bytes::Bytes;

use super::body::{self, BodyShape, GuardedBody, SharedPayload, VerdictCell};
use super::probe::{self, Probed};
use super::retry::{self, Failure, MAX_REPLAY_BODY};
use super::transform::{self, Body, Transformed};
use super::{Clients, guard, headers, response};
use crate::error::RelayError;
use crate::table::{Route, Table};
use crate::traffic_log::tap::Tapped;
use crate::traffic_log::{Direction, EventBody, RequestLog};
use crate::transforms::is_json;
use crate::transforms::json_to_multipart::{FetchContext, Multipart};

/// Everything needed to send one request upstream.
pub struct Outbound<'a> {
    pub req: &'a HttpRequest,
    /// The client's body; `None` once the relay has taken it.
    pub payload: Option<web::Payload>,
    pub table: Arc<Table>,
    pub route_index: usize,
    pub url: String,
    pub params: Vec<&'a str>,
    pub shape: BodyShape,
    pub request_id: &'a str,
    /// The request's traffic log, if the listener has one.
    pub log: Option<&'a RequestLog>,
}

/// The body of the upstream request.
enum Outgoing {
    /// No body; `Content-Length: 0` only if the client sent it.
    Empty { sent_length: bool },
    /// Bytes the relay holds; `json` sets the content type.
    Held { bytes: Bytes, json: bool },
    /// A multipart body built from JSON; its pieces are shared, not copied.
    Multipart(Multipart),
    /// The client's body, streamed once.
    Streamed(SharedPayload),
}

/// Sends the request (with retries) and relays the response.
pub async fn forward(out: Outbound<'_>, clients: &Clients, fetch: &FetchContext) -> Result<HttpResponse, RelayError> {
    let route = &out.table.routes[out.route_index];
    let mut payload = out.payload;
    let mut url = out.url;
    let mut extra_headers = Vec::new();
    let mut method = out.req.method().clone();
    let mut held = None;
    let mut response_transform = None;
    // The client's JSON body, when the transforms read it.
    let mut client_json = None;
    // Whether `held` JSON came from the transforms (and so sets the type).
    let mut transformed_json = false;
    if !route.transforms.is_empty() {
        let Transformed { body, applied, client_body } =
            match transform::run(route, out.req, &out.params, out.shape, &mut payload, fetch).await {
                Ok(result) => result,
                Err(error) => {
                    body::abandon(out.req, payload);
                    return Err(error);
                }
            };
        if let Some(path) = &applied.path {
            let query = applied.query.clone().unwrap_or_else(|| out.req.uri().query().map(str::to_owned));
            url = rebuild_url(route, path, query.as_deref());
        }
        if let Some(inner) = applied.method.clone() {
            method = inner;
        }
        client_json = client_body;
        extra_headers = applied.headers;
        response_transform = applied.response;
        transformed_json = matches!(body, Some(Body::Json(_)));
        held = body;
    }
    let client = clients.get(route.upstream.connect_timeout);
    if !route.guards.is_empty() {
        let parts = transform::request_parts(route, &out.params, out.req.uri().query(), out.req.headers());
        match guard::check(route, out.req, &out.params, &parts, &client, out.request_id).await {
            Ok(None) => {}
            Ok(Some(mut failed_probe)) => {
                body::abandon(out.req, payload);
                let body = failed_probe.take_payload();
                let (status, headers) = (failed_probe.status(), failed_probe.headers());
                let relayed =
                    response::relay_response(out.table.clone(), out.route_index, status, headers, body, None, None);
                return Ok(relayed.await);
            }
            Err(refusal) => {
                body::abandon(out.req, payload);
                return Err(refusal);
            }
        }
    }
    let policy = route.retry.as_ref().filter(|p| p.allows(&method));
    // A small JSON body is held to be replayed, or to be logged.
    let hold = policy.is_some() || out.log.is_some();
    if let (true, None, BodyShape::Sized(length)) = (hold, &held, out.shape)
        && length <= MAX_REPLAY_BODY
        && is_json(out.req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))
        && let Some(mut client_body) = payload.take()
    {
        match transform::read_limited(&mut client_body, length, route.body.idle_timeout).await {
            Ok(bytes) => held = Some(Body::Json(bytes)),
            Err(error) => {
                body::abandon(out.req, Some(client_body));
                return Err(error);
            }
        }
    }
    let outgoing = match (held, payload) {
        (Some(Body::Json(bytes)), _) => Outgoing::Held { bytes, json: transformed_json },
        (Some(Body::Multipart(multipart)), _) => Outgoing::Multipart(multipart),
        (None, Some(payload)) if out.shape != BodyShape::None => Outgoing::Streamed(SharedPayload::new(payload)),
        (None, _) => Outgoing::Empty { sent_length: out.req.headers().contains_key(header::CONTENT_LENGTH) },
    };
    if let Some(log) = out.log {
        let body = match (client_json, &outgoing) {
            (Some(bytes), _) => EventBody::Bytes { bytes, total: None },
            (None, Outgoing::Held { bytes, .. }) if !transformed_json => {
                EventBody::Bytes { bytes: bytes.clone(), total: None }
            }
            (None, Outgoing::Streamed(_)) => EventBody::Streamed,
            (None, Outgoing::Empty { .. }) => EventBody::None,
            (None, _) => EventBody::Omitted("not read"),
        };
        let target = out.req.uri().path_and_query().map_or_else(|| out.req.path(), |pq| pq.as_str());
        log.client_request(out.req.method(), target, out.req.headers(), body);
    }
    let attempts = match (&outgoing, policy) {
        (Outgoing::Streamed(_), _) | (_, None) => 1,
        (_, Some(policy)) => policy.attempts,
    };
    let slot = match &outgoing {
        Outgoing::Streamed(payload) => payload.clone(),
        _ => SharedPayload::default(),
    };
    let verdict = VerdictCell::default();
    let mut attempt = 1;
    let sent = loop {
        let mut request = client.request(method.clone(), url.as_str()).timeout(route.timeout).no_decompress();
        let peer = out.req.peer_addr().map(|addr| addr.ip());
        headers::upstream_headers(out.req.headers(), route, peer, out.request_id, request.headers_mut());
        for (name, value) in &extra_headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        if let Some(log) = out.log {
            log.upstream_request(&method, &url, request.headers(), logged_body(&outgoing));
        }
        let result = send(request, &outgoing, out.shape, route, &verdict).await;
        if let (Some(log), Ok(response)) = (out.log, &result) {
            log.response(Direction::UpstreamResponse, response.status(), response.headers(), EventBody::None);
        }
        let failure = match &result {
            Ok(response) if response.status().is_client_error() || response.status().is_server_error() => {
                Failure::Status(response.status(), retry::retry_after(response.headers()))
            }
            Ok(_) => break result,
            Err(SendRequestError::Connect(_)) => Failure::Connect,
            Err(_) => Failure::Other,
        };
        let delay = if attempt < attempts { policy.and_then(|p| p.next_delay(attempt, failure)) } else { None };
        let Some(delay) = delay else { break result };
        tracing::info!(request_id = out.request_id, attempt, ?failure, "retrying upstream in {delay:?}");
        drop(result);
        tokio::time::sleep(delay + jitter(delay)).await;
        attempt += 1;
    };
    let failed = sent.as_ref().map_or(true, |r| r.status().is_client_error() || r.status().is_server_error());
    if let (true, Some(verify)) = (failed, policy.and_then(|p| p.verify.as_ref())) {
        let parts = transform::request_parts(route, &out.params, out.req.uri().query(), out.req.headers());
        if let Ok(Probed::Json(answer)) =
            probe::send(route, out.req, &verify.path, &out.params, &client, out.request_id).await
            && verify.success_when.holds(&parts, Some(&answer))?
        {
            tracing::info!(request_id = out.request_id, "the verify step found the operation done");
            body::abandon(out.req, slot.take());
            return Ok(HttpResponse::Ok().json(answer));
        }
    }
    let mut upstream = match sent {
        Ok(upstream) => upstream,
        Err(error) => {
            body::abandon(out.req, slot.take());
            if let Some(verdict) = verdict.get() {
                return Err(body::verdict_error(verdict, &route.body));
            }
            return Err(send_error(&error, &route.upstream.name, route.timeout));
        }
    };
    let body = Tapped::new(upstream.take_payload(), out.log.map(|log| log.chunks(Direction::UpstreamChunk)));
    let (status, headers) = (upstream.status(), upstream.headers());
    let log = out.log.cloned();
    let response =
        response::relay_response(out.table.clone(), out.route_index, status, headers, body, response_transform, log);
    Ok(response.await)
}

/// The upstream request's body as the log shows it.
fn logged_body(outgoing: &Outgoing) -> EventBody {
    match outgoing {
        Outgoing::Empty { .. } => EventBody::None,
        Outgoing::Held { bytes, .. } => EventBody::Bytes { bytes: bytes.clone(), total: None },
        Outgoing::Multipart(_) => EventBody::Omitted("multipart"),
        Outgoing::Streamed(_) => EventBody::Streamed,
    }
}

/// Up to a tenth of the delay, so clients retrying together spread out.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(fastrand::f64() / 10.0)
}

/// Sends one attempt. The client's stream is guarded: a body over the limit
/// or a client gone quiet stops it and leaves a verdict.
async fn send(
    mut request: awc::ClientRequest,
    outgoing: &Outgoing,
    shape: BodyShape,
    route: &Route,
    verdict: &VerdictCell,
) -> Result<awc::ClientResponse, SendRequestError> {
    match outgoing {
        Outgoing::Empty { sent_length: true } => request.send().await,
        Outgoing::Empty { sent_length: false } => request.send_body(actix_web::body::None::new()).await,
        Outgoing::Multipart(multipart) => {
            let content_type =
                HeaderValue::from_str(&multipart.content_type).map_err(|e| SendRequestError::Http(e.into()))?;
            request.headers_mut().insert(header::CONTENT_TYPE, content_type);
            let pieces = futures_util::stream::iter(multipart.pieces.clone().into_iter().map(Ok::<_, std::io::Error>));
            request.send_body(SizedStream::new(multipart.len(), pieces)).await
        }
        Outgoing::Held { bytes, json } => {
            if *json {
                request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            request.send_body(bytes.clone()).await
        }
        Outgoing::Streamed(payload) => {
            let body = GuardedBody::new(payload.clone(), &route.body, verdict.clone());
            match shape {
                BodyShape::Sized(length) => request.send_body(SizedStream::new(length, body)).await,
                _ => request.send_stream(body).await,
            }
        }
    }
}

/// The URL for a path rendered by a template.
fn rebuild_url(route: &Route, path: &str, query: Option<&str>) -> String {
    let mut url = format!("{}{path}", route.upstream.base_url);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

fn send_error(error: &SendRequestError, upstream: &str, timeout: Duration) -> RelayError {
    match error {
        SendRequestError::Timeout => RelayError::gateway_timeout(format!(
            "Upstream `{upstream}` did not answer within {}.",
            humantime::format_duration(timeout)
        )),
        SendRequestError::Connect(ConnectError::Timeout) => {
            RelayError::gateway_timeout(format!("Connecting to upstream `{upstream}` timed out."))
        }
        SendRequestError::Connect(e) => {
            RelayError::bad_gateway(format!("Cannot connect to upstream `{upstream}`: {e}."))
        }
        other => RelayError::bad_gateway(format!("Upstream `{upstream}` failed: {other}.")),
    }
}
