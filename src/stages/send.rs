//! Stage 6, send: the upstream request goes out through the [`Sender`],
//! and again where the route's retry policy allows; after the last failed
//! attempt the policy's verify step may find the operation done anyway.
//!
//! A retry happens only before anything has been sent to the client, and
//! only for a body that can be sent again: none, or bytes the relay holds.
//! The client's stream is sent once. Failures are told apart by the
//! [`RelayError`] the sender returns: `retryable` is set only where the
//! request cannot have reached the upstream (the connection failed).

use std::time::Duration;

use super::admit::BodyShape;
use super::client_body::{ClientBody, SharedPayload, VerdictCell};
use super::sender::{Inbound, Outgoing, Probed, Sender, UpstreamRequest};
use super::{guard, record, transform};
use crate::error::RelayError;
use crate::policy::retry::{self, Failure};
use crate::table::Route;
use crate::traffic_log::RequestLog;

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
    log: Option<&RequestLog>,
    body: &mut Option<ClientBody>,
) -> Result<Sent<S::Answer>, RelayError> {
    let policy = route.retry.as_ref().filter(|p| p.allows(&request.method));
    let (slot, attempts) = match (&outgoing, policy) {
        (Outgoing::Streamed(payload), _) => (payload.clone(), 1),
        (_, None) => (SharedPayload::default(), 1),
        (_, Some(policy)) => (SharedPayload::default(), policy.attempts),
    };
    let verdict = VerdictCell::default();
    let mut attempt = 1;
    let result = loop {
        let headers = if attempt < attempts { request.headers.clone() } else { std::mem::take(&mut request.headers) };
        record::upstream_request(log, &request.method, &request.url, &headers, &outgoing);
        let head = UpstreamRequest { method: request.method.clone(), url: request.url.clone(), headers };
        let result = sender.send(route, head, &outgoing, shape, &verdict, record::request_chunks(log)).await;
        let failure = match &result {
            Ok(answer) => {
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
        let delay = if attempt < attempts { policy.and_then(|p| p.next_delay(attempt, failure)) } else { None };
        let Some(delay) = delay else { break result };
        tracing::info!(request_id = inbound.request_id, attempt, ?failure, "retrying upstream in {delay:?}");
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
        if let Ok(Probed::Json(answer)) = guard::probe(route, inbound, &verify.path, params, sender).await
            && verify.success_when.holds(&parts, Some(&answer))?
        {
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

/// Up to a tenth of the delay, so clients retrying together spread out.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(fastrand::f64() / 10.0)
}
