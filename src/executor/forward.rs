//! Stage 7: the request goes upstream, its body streamed, and failures are
//! told apart: a body the relay stopped (413, 408), an upstream that could
//! not be reached (502) or did not answer in time (504).

use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::SizedStream;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use awc::error::{ConnectError, SendRequestError};

use super::body::{self, BodyShape, GuardedBody, SharedPayload, VerdictCell};
use super::transform::{self, Transformed};
use super::{Clients, headers, response};
use crate::error::RelayError;
use crate::table::Table;

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
}

/// Sends the request and relays the response.
pub async fn forward(out: Outbound<'_>, clients: &Clients) -> Result<HttpResponse, RelayError> {
    let route = &out.table.routes[out.route_index];
    let mut payload = out.payload;
    let mut url = out.url;
    let mut transformed = None;
    if !route.transforms.is_empty() {
        let result = match transform::run(route, out.req, &out.params, out.shape, &mut payload).await {
            Ok(result) => result,
            Err(error) => {
                body::abandon(out.req, payload);
                return Err(error);
            }
        };
        if let Some(path) = &result.applied.path {
            url = rebuild_url(route, path, out.req.uri().query());
        }
        transformed = Some(result);
    }
    let client = clients.get(route.upstream.connect_timeout);
    // `no_decompress`: awc would otherwise add `Accept-Encoding: identity`.
    let mut request = client.request(out.req.method().clone(), url.as_str()).timeout(route.timeout).no_decompress();
    let sent_length = out.req.headers().contains_key(actix_web::http::header::CONTENT_LENGTH);
    let peer = out.req.peer_addr().map(|addr| addr.ip());
    headers::upstream_headers(out.req.headers(), route, peer, out.request_id, request.headers_mut());

    let verdict = VerdictCell::default();
    let payload = payload.map(SharedPayload::new);
    let slot = payload.clone().unwrap_or_default();
    let sent = match (transformed, payload) {
        (Some(Transformed { body: Some(body), applied }), _) => {
            let json = HeaderValue::from_static("application/json");
            request.headers_mut().insert(actix_web::http::header::CONTENT_TYPE, json);
            set_headers(&mut request, applied.headers);
            request.send_body(body).await
        }
        (Some(Transformed { body: None, applied }), payload) => {
            set_headers(&mut request, applied.headers);
            send_client_body(request, payload, out.shape, sent_length, route, &verdict).await
        }
        (None, payload) => send_client_body(request, payload, out.shape, sent_length, route, &verdict).await,
    };
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
    let body = upstream.take_payload();
    let response =
        response::relay_response(out.table.clone(), out.route_index, upstream.status(), upstream.headers(), body);
    Ok(response.await)
}

/// Streams the client's own body (if any) upstream, guarded. A request
/// without a body keeps its framing: `Content-Length: 0` only if the client
/// sent it (awc would add it to every bodiless request, GET included).
async fn send_client_body(
    request: awc::ClientRequest,
    payload: Option<SharedPayload>,
    shape: BodyShape,
    sent_length: bool,
    route: &crate::table::Route,
    verdict: &VerdictCell,
) -> Result<awc::ClientResponse, SendRequestError> {
    match (shape, payload) {
        (BodyShape::None, _) | (_, None) if sent_length => request.send().await,
        (BodyShape::None, _) | (_, None) => request.send_body(actix_web::body::None::new()).await,
        (BodyShape::Sized(length), Some(payload)) => {
            let body = GuardedBody::new(payload, &route.body, verdict.clone());
            request.send_body(SizedStream::new(length, body)).await
        }
        (BodyShape::Chunked, Some(payload)) => {
            let body = GuardedBody::new(payload, &route.body, verdict.clone());
            request.send_stream(body).await
        }
    }
}

fn set_headers(request: &mut awc::ClientRequest, headers: Vec<(HeaderName, HeaderValue)>) {
    for (name, value) in headers {
        request.headers_mut().insert(name, value);
    }
}

/// The URL for a path rendered by a template.
fn rebuild_url(route: &crate::table::Route, path: &str, query: Option<&str>) -> String {
    let mut url = format!("{}{path}", route.upstream.base_url);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

fn send_error(error: &SendRequestError, upstream: &str, timeout: std::time::Duration) -> RelayError {
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
