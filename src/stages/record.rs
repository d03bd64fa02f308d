//! Stage 8, record: what the request did is written down. The stages note
//! what they learn in the request's [`Exchange`] (the route, the attempts,
//! the upstream's time to first byte) and write the traffic log as they go;
//! the executor turns the exchange into metrics and an access-log line when
//! the answer is finished ([`crate::telemetry`]). Recording only observes:
//! it never holds, reads or changes what is sent. A streamed request body is
//! logged as its chunks pass through to the upstream (`request-chunk`
//! events), not read ahead of time.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};

use super::sender::{Inbound, Outgoing};
use crate::traffic_log::{ChunkLog, Direction, EventBody, RequestLog};

/// What the stages learn of one request, for the record.
#[derive(Default)]
pub struct Exchange<'a> {
    /// The request's traffic log, if its listener has one.
    pub log: Option<&'a RequestLog>,
    /// The matched route (index into the table's routes).
    pub route: Cell<Option<usize>>,
    /// Upstream attempts sent.
    pub attempts: Cell<u32>,
    /// From sending the last attempt to its answer's head.
    pub upstream_ttfb: Cell<Option<Duration>>,
    /// The consumer whose key the request carried (index into the table's
    /// consumers).
    pub consumer: Cell<Option<usize>>,
    /// The request's count against its consumer's limits, settled when the
    /// answer is finished.
    pub ticket: RefCell<Option<crate::quota::Ticket>>,
    /// The relay asked for a stream's usage chunk the client did not ask
    /// for (`stream_usage`): the chunk is kept from the client.
    pub hide_usage: Cell<bool>,
    /// Where the answer's usage is read, for the ticket's settlement.
    pub usage: RefCell<Option<crate::quota::tap::SharedScanner>>,
}

/// The client's request, with its body as the relay holds it.
pub fn client_request(log: Option<&RequestLog>, inbound: &Inbound<'_>, body: EventBody) {
    if let Some(log) = log {
        log.client_request(inbound.method, inbound.target, inbound.headers, body);
    }
}

/// How a body is shown in the log, as far as the relay holds it.
pub fn logged_body(outgoing: &Outgoing) -> EventBody {
    match outgoing {
        Outgoing::Empty { .. } => EventBody::None,
        Outgoing::Held { bytes, .. } => EventBody::Bytes { bytes: bytes.clone(), total: None },
        Outgoing::Multipart(_) => EventBody::Omitted("multipart"),
        Outgoing::Streamed(_) => EventBody::Streamed,
    }
}

/// One attempt's upstream request.
pub fn upstream_request(log: Option<&RequestLog>, method: &Method, url: &str, headers: &HeaderMap, body: &Outgoing) {
    if let Some(log) = log {
        log.upstream_request(method, url, headers, logged_body(body));
    }
}

/// The head of the upstream's answer to one attempt.
pub fn upstream_response(log: Option<&RequestLog>, status: StatusCode, headers: &HeaderMap) {
    if let Some(log) = log {
        log.response(Direction::UpstreamResponse, status, headers, EventBody::None);
    }
}

/// The log of a streamed request body's chunks, if there is a log.
pub fn request_chunks(log: Option<&RequestLog>) -> Option<ChunkLog> {
    log.map(|log| log.chunks(Direction::RequestChunk))
}
