//! The sender of `relay serve`: the stages' upstream requests and probes go
//! out over this worker's awc clients.

use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use awc::error::{ConnectError, SendRequestError};

use crate::error::RelayError;
use crate::quota::Meter;
use crate::stages::admit::BodyShape;
use crate::stages::client_body::{self, GuardedBody, VerdictCell};
use crate::stages::sender::{Outgoing, UpstreamRequest};
use crate::stages::sender::{Probed, Sender};
use crate::table::Route;
use crate::traffic_log::ChunkLog;
use crate::traffic_log::tap::Tapped;
use crate::transforms::json_to_multipart::FetchContext;
use crate::upstream::client::Clients;

/// The most a probe's JSON answer may hold.
const MAX_PROBE_ANSWER: usize = 1 << 20;

/// Sends over the network.
pub struct Network<'a> {
    pub clients: &'a Clients,
    pub fetch: &'a FetchContext,
    pub meter: &'a Arc<Meter>,
}

impl Sender for Network<'_> {
    type Answer = awc::ClientResponse;

    fn head(answer: &awc::ClientResponse) -> (StatusCode, &HeaderMap) {
        (answer.status(), answer.headers())
    }

    fn fetch(&self) -> &FetchContext {
        self.fetch
    }

    fn meter(&self) -> Option<&Arc<Meter>> {
        Some(self.meter)
    }

    async fn send(
        &self,
        route: &Route,
        upstream: UpstreamRequest,
        body: &Outgoing,
        shape: BodyShape,
        verdict: &VerdictCell,
        chunks: Option<ChunkLog>,
    ) -> Result<awc::ClientResponse, RelayError> {
        let client = self.clients.get(route.upstream.connect_timeout);
        let mut request = client.request(upstream.method, upstream.url.as_str()).timeout(route.timeout).no_decompress();
        *request.headers_mut() = upstream.headers;
        let sent = match body {
            Outgoing::Empty { sent_length: true } => request.send().await,
            Outgoing::Empty { sent_length: false } => request.send_body(actix_web::body::None::new()).await,
            Outgoing::Multipart(multipart) => {
                let content_type = HeaderValue::from_str(&multipart.content_type)
                    .map_err(|_| RelayError::internal("multipart_type", "The multipart content type is invalid."))?;
                request.headers_mut().insert(header::CONTENT_TYPE, content_type);
                let pieces =
                    futures_util::stream::iter(multipart.pieces.clone().into_iter().map(Ok::<_, std::io::Error>));
                request.send_body(SizedStream::new(multipart.len(), pieces)).await
            }
            Outgoing::Held { bytes, json } => {
                if *json {
                    request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                request.send_body(bytes.clone()).await
            }
            Outgoing::Streamed(payload) => {
                let body = GuardedBody::new(Tapped::new(payload.clone(), chunks), &route.body, verdict.clone());
                match shape {
                    BodyShape::Sized(length) => request.send_body(SizedStream::new(length, body)).await,
                    _ => request.send_stream(body).await,
                }
            }
        };
        sent.map_err(|error| match verdict.get() {
            Some(verdict) => client_body::verdict_error(verdict, &route.body),
            None => send_error(&error, route),
        })
    }

    async fn probe(
        &self,
        route: &Route,
        url: String,
        headers: HeaderMap,
    ) -> Result<Probed<awc::ClientResponse>, RelayError> {
        let client = self.clients.get(route.upstream.connect_timeout);
        let mut request = client.get(url).timeout(route.timeout).no_decompress();
        *request.headers_mut() = headers;
        let mut response = request.send_body(actix_web::body::None::new()).await.map_err(|e| {
            RelayError::bad_gateway(format!("A probe of upstream `{}` failed: {e}.", route.upstream.name))
        })?;
        if !response.status().is_success() {
            return Ok(Probed::Failed(response));
        }
        let answer = response
            .json::<serde_json::Value>()
            .limit(MAX_PROBE_ANSWER)
            .await
            .map_err(|e| RelayError::bad_gateway(format!("A probe got an answer that is not JSON: {e}.")))?;
        Ok(Probed::Json(answer))
    }
}

/// A failed send: retryable only where the request cannot have reached the
/// upstream (the connection was never made).
fn send_error(error: &SendRequestError, route: &Route) -> RelayError {
    let upstream = &route.upstream.name;
    match error {
        SendRequestError::Timeout => RelayError::gateway_timeout(format!(
            "Upstream `{upstream}` did not answer within {}.",
            humantime::format_duration(route.timeout)
        ))
        .retryable(false),
        SendRequestError::Connect(ConnectError::Timeout) => {
            RelayError::gateway_timeout(format!("Connecting to upstream `{upstream}` timed out."))
        }
        SendRequestError::Connect(e) => {
            RelayError::bad_gateway(format!("Cannot connect to upstream `{upstream}`: {e}."))
        }
        other => RelayError::bad_gateway(format!("Upstream `{upstream}` failed: {other}.")).retryable(false),
    }
}
