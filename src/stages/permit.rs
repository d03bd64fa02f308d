//! Stage 3b, permit: what the consumer may do with this request. A
//! consumer limited to some models has the request's model checked (403
//! `model_not_allowed`, nothing sent): the `model` field of a JSON body
//! ([`super::json_fields`]); the `model`
//! field of a multipart form, read only as far as that field
//! ([`super::form_model`]; not at all where the route's form schema has no
//! `model`, as for file uploads); or the `model` query parameter of a WebSocket
//! handshake. Then the request is counted
//! against the consumer's limits ([`crate::quota::Meter::admit`]; 429 when
//! one is reached), unless this is a dry run.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::admit::BodyShape;
use super::client_body::ClientBody;
use super::form_model::{self, Scan};
use super::json_fields::JsonBody;
use super::record::Exchange;
use super::sender::Sender;
use crate::error::RelayError;
use crate::media;
use crate::policy::consumer::Consumer;
use crate::table::{Route, Table};

/// Checks the model of a request body, if the consumer is limited to some:
/// from the JSON body's fields ([`super::json_fields`]), or from a form
/// read as far as its `model` field (what was read is put back).
pub async fn check_model(
    consumer: &Consumer,
    route: &Route,
    headers: &HeaderMap,
    json: Option<&JsonBody>,
    shape: BodyShape,
    body: &mut Option<ClientBody>,
) -> Result<(), RelayError> {
    if !consumer.needs_model() || shape == BodyShape::None {
        return Ok(());
    }
    if let Some(json) = json {
        return json.fields.model.as_deref().map_or(Ok(()), |model| allow_model(consumer, model));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    match content_type.and_then(media::form_boundary) {
        Some(boundary) if route.form_may_name_model => check_form_model(consumer, route, &boundary, body).await,
        _ => Ok(()),
    }
}

/// Reads a form up to its `model` field and checks it; what was read goes
/// back in front of the rest.
async fn check_form_model(
    consumer: &Consumer,
    route: &Route,
    boundary: &str,
    body: &mut Option<ClientBody>,
) -> Result<(), RelayError> {
    let Some(mut client) = body.take() else { return Ok(()) };
    let mut ahead = BytesMut::new();
    let mut scanner = form_model::FormScanner::new(boundary);
    let deadline = tokio::time::Instant::now() + route.timeout;
    let found = loop {
        let wait = (tokio::time::Instant::now() + route.body.idle_timeout).min(deadline);
        let chunk = match tokio::time::timeout_at(wait, client.next()).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(None) => break None,
            Ok(Some(Err(_))) | Err(_) => {
                *body = Some(ClientBody::ReadAhead(Some(ahead.freeze()), Box::new(client)));
                return Err(RelayError::request_timeout("The client stopped sending its request body."));
            }
        };
        ahead.extend_from_slice(&chunk);
        if ahead.len() as u64 > route.body.max {
            return Err(RelayError::payload_too_large(route.body.max));
        }
        match scanner.scan(&ahead) {
            Scan::Found(model) => break Some(model),
            Scan::Absent => break None,
            Scan::NeedMore => {}
            Scan::Malformed => {
                let message = format!("A part of the form has a head over {} bytes.", form_model::MAX_PART_HEAD);
                return Err(RelayError::bad_request("invalid_multipart", message));
            }
        }
    };
    *body = Some(ClientBody::ReadAhead(Some(ahead.freeze()), Box::new(client)));
    found.map_or(Ok(()), |model| allow_model(consumer, &model))
}

/// A `{model}` path parameter the consumer may not use is answered as
/// OpenAI answers an unknown model (404), so a model list and a model's
/// page agree.
pub fn check_path_model(consumer: &Consumer, route: &Route, params: &[&str]) -> Result<(), RelayError> {
    let Some(at) = route.params.iter().position(|name| name == "model") else { return Ok(()) };
    let Some(raw) = params.get(at) else { return Ok(()) };
    let model = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    if consumer.may_use(&model) { Ok(()) } else { Err(RelayError::model_not_found(&model)) }
}

/// Checks the `model` query parameter of a WebSocket handshake.
pub fn check_query_model(consumer: &Consumer, query: Option<&str>) -> Result<(), RelayError> {
    let model = query.and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(name, _)| name == "model"));
    model.map_or(Ok(()), |(_, model)| allow_model(consumer, &model))
}

fn allow_model(consumer: &Consumer, model: &str) -> Result<(), RelayError> {
    if consumer.may_use(model) {
        return Ok(());
    }
    let allowed = consumer.models.as_ref().map(|rule| rule.written.join(", ")).unwrap_or_default();
    Err(RelayError::forbidden(
        "model_not_allowed",
        format!("Your relay key may not use the model `{model}`; it may use: {allowed}."),
    )
    .with_param("model"))
}

/// Counts the request against the consumer's limits; the ticket goes to
/// the exchange, to be settled when the answer is finished.
pub async fn admit<S: Sender>(
    table: &Arc<Table>,
    consumer: usize,
    route: usize,
    sender: &S,
    exchange: &Exchange<'_>,
) -> Result<(), RelayError> {
    if let Some(meter) = sender.meter() {
        let ticket = meter.admit(table, consumer, route).await?;
        exchange.ticket.replace(Some(ticket));
    }
    Ok(())
}
