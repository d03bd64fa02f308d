//! Stage 7: the request goes upstream, its body streamed, and failures are
//! told apart: a body the relay stopped (413, 408), an upstream that could
//! not be reached (502) or did not answer in time (504).

use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::SizedStream;
use actix_web::{HttpRequest, HttpResponse, web};
use awc::error::{ConnectError, SendRequestError};

use super::body::{self, BodyShape, GuardedBody, VerdictCell};
use super::{Clients, headers, response};
use crate::error::RelayError;
use crate::table::Table;

/// Everything needed to send one request upstream.
pub struct Outbound<'a> {
    pub req: &'a HttpRequest,
    pub payload: web::Payload,
    pub table: Arc<Table>,
    pub route_index: usize,
    pub url: String,
    pub shape: BodyShape,
    pub request_id: &'a str,
}

/// Sends the request and relays the response.
pub async fn forward(out: Outbound<'_>, clients: &Clients) -> Result<HttpResponse, RelayError> {
    let route = &out.table.routes[out.route_index];
    let client = clients.get(route.upstream.connect_timeout);
    let mut request = client.request(out.req.method().clone(), out.url.as_str()).timeout(route.timeout);
    let peer = out.req.peer_addr().map(|addr| addr.ip());
    headers::upstream_headers(out.req.headers(), route, peer, out.request_id, request.headers_mut());

    let verdict = VerdictCell::default();
    let sent = match out.shape {
        BodyShape::None => request.send().await,
        BodyShape::Sized(length) => {
            let body = GuardedBody::new(out.payload, &route.body, verdict.clone());
            request.send_body(SizedStream::new(length, body)).await
        }
        BodyShape::Chunked => {
            let body = GuardedBody::new(out.payload, &route.body, verdict.clone());
            request.send_stream(body).await
        }
    };
    let mut upstream = match sent {
        Ok(upstream) => upstream,
        Err(error) => {
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
