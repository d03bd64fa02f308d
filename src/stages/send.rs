//! Stage 6, send: the upstream request goes out through the [`Sender`],
//! and again where the route's retry policy allows; after the last failed
//! attempt the policy's verify step may find the operation done anyway.
//!
//! A retry happens only before anything has been sent to the client, and
//! only for a body that can be sent again: none, or bytes the relay holds.
//! The client's stream is sent once. Failures are told apart by the
//! [`RelayError`] the sender returns: `retryable` is set only where the
//! request cannot have reached the upstream (the connection failed).

use std::time::{Duration, Instant};

use super::admit::BodyShape;
use super::client_body::{ClientBody, SharedPayload, VerdictCell};
use super::sender::{Inbound, Outgoing, Probed, Sender, UpstreamRequest};
use super::{guard, record, transform};
use actix_web::http::StatusCode;

use super::record::Exchange;
use crate::error::{RelayError, Side};
use crate::policy::retry::{self, Failure};
use crate::table::Route;
use crate::telemetry::metrics::{RETRIES, UPSTREAM_FAILURES, VERIFY_PROBES};

/// What sending came to.
pub enum Sent<A> {
    /// The upstream's answer (an error status included), to relay.
    Answer(A),
    /// Every attempt failed, but the verify step's probe shows the
    /// operation done: its JSON answer, relayed with 200.
    Verified(serde_json::Value),
}

/// Sends with retries; on an error the unread client body is put back.
#[expect(clippy::too_many_arguments, reason = "the stage's inputs, each used once")]
pub async fn send<S: Sender>(
    route: &Route,
    inbound: &Inbound<'_>,
    params: &[&str],
    mut request: UpstreamRequest,
    outgoing: Outgoing,
    shape: BodyShape,
    sender: &S,
    exchange: &Exchange<'_>,
    body: &mut Option<ClientBody>,
) -> Result<Sent<S::Answer>, RelayError> {
    let policy = route.retry.as_ref().filter(|p| p.allows(&request.method));
    let (slot, attempts) = match (&outgoing, policy) {
        (Outgoing::Streamed(payload), _) => (payload.clone(), 1),
        (_, None) => (SharedPayload::default(), 1),
        (_, Some(policy)) => (SharedPayload::default(), policy.attempts),
    };
    let log = exchange.log;
    let verdict = VerdictCell::default();
    let mut attempt = 1;
    let result = loop {
        let headers = if attempt < attempts { request.headers.clone() } else { std::mem::take(&mut request.headers) };
        record::upstream_request(log, &request.method, &request.url, &headers, &outgoing);
        let head = UpstreamRequest { method: request.method.clone(), url: request.url.clone(), headers };
        let sending = Instant::now();
        let result = sender.send(route, head, &outgoing, shape, &verdict, record::request_chunks(log)).await;
        exchange.attempts.set(attempt);
        let failure = match &result {
            Ok(answer) => {
                exchange.upstream_ttfb.set(Some(sending.elapsed()));
                let (status, headers) = S::head(answer);
                record::upstream_response(log, status, headers);
                if !(status.is_client_error() || status.is_server_error()) {
                    break result;
                }
                Failure::Status(status, retry::retry_after(headers))
            }
            Err(error) if error.retryable => Failure::Connect,
            Err(_) => Failure::Other,
        };
        count_failure::<S>(route, &result);
        let delay = if attempt < attempts { policy.and_then(|p| p.next_delay(attempt, failure)) } else { None };
        let Some(delay) = delay else { break result };
        tracing::info!(request_id = inbound.request_id, attempt, ?failure, "retrying upstream in {delay:?}");
        metrics::counter!(RETRIES, "route" => route.id.clone()).increment(1);
        drop(result);
        tokio::time::sleep(delay + jitter(delay)).await;
        attempt += 1;
    };
    let failed = result.as_ref().map_or(true, |answer| {
        let status = S::head(answer).0;
        status.is_client_error() || status.is_server_error()
    });
    if let (true, Some(verify)) = (failed, policy.and_then(|p| p.verify.as_ref())) {
        let parts = transform::request_parts(route, params, inbound.query, inbound.headers);
        let probed = guard::probe(route, inbound, &verify.path, params, sender).await;
        let done = match &probed {
            Ok(Probed::Json(answer)) => verify.success_when.holds(&parts, Some(answer))?,
            _ => false,
        };
        let outcome = if done { "done" } else { "not_done" };
        metrics::counter!(VERIFY_PROBES, "route" => route.id.clone(), "outcome" => outcome).increment(1);
        if let (true, Ok(Probed::Json(answer))) = (done, probed) {
            tracing::info!(request_id = inbound.request_id, "the verify step found the operation done");
            *body = slot.take();
            return Ok(Sent::Verified(answer));
        }
    }
    match result {
        Ok(answer) => Ok(Sent::Answer(answer)),
        Err(error) => {
            *body = slot.take();
            Err(error)
        }
    }
}

/// Counts an attempt that failed on the upstream's side, by kind.
fn count_failure<S: Sender>(route: &Route, result: &Result<S::Answer, RelayError>) {
    let kind = match result {
        Ok(answer) if S::head(answer).0.is_server_error() => "status_5xx",
        Ok(_) => return,
        Err(error) if error.side != Side::Upstream => return,
        Err(error) if error.retryable => "connect",
        Err(error) if error.status == StatusCode::GATEWAY_TIMEOUT => "timeout",
        Err(_) => "broken",
    };
    metrics::counter!(UPSTREAM_FAILURES, "route" => route.id.clone(), "kind" => kind).increment(1);
}

/// Up to a tenth of the delay, so clients retrying together spread out.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(fastrand::f64() / 10.0)
}
