//! What the stages share with their callers and senders: the request as
//! the stages read it ([`Inbound`]), the [`Sender`] contract, the request
//! the stages build ([`UpstreamRequest`], [`Outgoing`]) and where they end
//! ([`Outcome`]). A leaf of [`crate::stages`]: the stage modules import it,
//! it imports none of them but the body types.

use std::future::Future;
use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use bytes::Bytes;

use super::admit::BodyShape;
use super::client_body::{SharedPayload, VerdictCell};
use crate::error::RelayError;
use crate::table::Route;
use crate::traffic_log::ChunkLog;
use crate::transforms::ResponseTransform;
use crate::transforms::json_to_multipart::{FetchContext, Multipart};

/// The client's request as the stages read it.
pub struct Inbound<'a> {
    /// The listener it arrived on.
    pub listener: &'a str,
    pub method: &'a Method,
    /// The raw path, still percent-encoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Path and query as the client sent them (for logs).
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub peer: Option<IpAddr>,
    pub request_id: &'a str,
}

/// Sends what the stages built: over the network, or into a record.
pub trait Sender {
    /// An upstream answer (head and body).
    type Answer;

    /// The status and headers of an answer.
    fn head(answer: &Self::Answer) -> (StatusCode, &HeaderMap);

    /// How `json_to_multipart` gets linked files.
    fn fetch(&self) -> &FetchContext;

    /// Where consumers' requests are counted; `None` in a dry run.
    fn meter(&self) -> Option<&std::sync::Arc<crate::quota::Meter>>;

    /// Sends one attempt. A streamed body must go through a
    /// [`super::client_body::GuardedBody`] with `verdict`, and its chunks to
    /// `chunks` when there is a log.
    fn send(
        &self,
        route: &Route,
        request: UpstreamRequest,
        body: &Outgoing,
        shape: BodyShape,
        verdict: &VerdictCell,
        chunks: Option<ChunkLog>,
    ) -> impl Future<Output = Result<Self::Answer, RelayError>>;

    /// Sends a probe (a GET, see [`guard::probe`]).
    fn probe(
        &self,
        route: &Route,
        url: String,
        headers: HeaderMap,
    ) -> impl Future<Output = Result<Probed<Self::Answer>, RelayError>>;
}

/// The outcome of a probe.
pub enum Probed<A> {
    /// A 2xx JSON answer.
    Json(serde_json::Value),
    /// Any other answer, to relay as it is.
    Failed(A),
    /// Not sent: a dry run.
    NotSent,
}

/// Where the stages ended.
pub enum Outcome<A> {
    /// A WebSocket route, matched and authenticated: the caller opens the
    /// session to `url`.
    WebSocket { route: usize, url: String },
    /// The relay answers itself with this JSON (a model list, a verified
    /// operation).
    Local(serde_json::Value),
    /// The upstream's answer to relay; `translate` where a transform chose a
    /// translation of a 2xx answer.
    Upstream { route: usize, answer: A, translate: Option<ResponseTransform> },
}

/// The body of the upstream request.
pub enum Outgoing {
    /// No body; `Content-Length: 0` only if the client sent it.
    Empty { sent_length: bool },
    /// Bytes the relay holds; `json` sets the content type.
    Held { bytes: Bytes, json: bool },
    /// A multipart body built from JSON; its pieces are shared, not copied.
    Multipart(Multipart),
    /// The client's body, streamed once.
    Streamed(SharedPayload),
}

/// The head of the upstream request; the body is an [`Outgoing`].
pub struct UpstreamRequest {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
}
