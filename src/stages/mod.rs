//! The stages of one request, in order: the one path that `relay serve`
//! and `relay explain` (and `relay test`) both run, so they cannot disagree.
//!
//! 1. [`resolve`]: the path is checked, the route matched, the URL built.
//! 2. [`authenticate`]: relay key (401); a missing upstream key (403).
//!    A WebSocket route leaves here ([`Outcome::WebSocket`]); a model-list
//!    route may answer here ([`models`]).
//! 3. [`admit`]: framing, media type (415), declared size (413); then
//!    [`json_fields`]: a consumer's JSON body read once for the next two;
//!    [`permit`]: the consumer's model (403) and limits (429); and
//!    [`stream_usage`]: a consumer's stream asks for its usage.
//! 4. [`guard`]: the route's guards, with probes of the upstream.
//! 5. [`transform`]: the route's transforms (the JSON body read if needed,
//!    files fetched for multipart).
//! 6. [`send`]: the upstream request, retried where allowed, verified.
//! 7. respond: the answer streams back (serve only:
//!    `crate::executor::response`, translated where a transform chose so).
//! 8. [`record`]: the traffic log observes each step.
//!
//! What differs between serving and a dry run is only the [`Sender`]: the
//! executor's sends over the network, `explain`'s records the request it
//! would send and fetches nothing.

pub mod admit;
pub mod authenticate;
pub mod client_body;
pub mod form_model;
pub mod guard;
pub mod headers;
pub mod json_fields;
pub mod models;
pub mod permit;
pub mod record;
pub mod resolve;
pub mod send;
pub mod sender;
pub mod stream_usage;
pub mod transform;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};

use self::admit::BodyShape;
use self::client_body::{ClientBody, SharedPayload, read_limited};
use self::record::Exchange;
use self::send::Sent;
pub use self::sender::{Inbound, Outcome, Outgoing, Probed, Sender, UpstreamRequest};
use self::transform::{Body, Transformed};
use crate::error::RelayError;
use crate::media;
use crate::policy::retry::MAX_REPLAY_BODY;
use crate::table::{Protocol, Route, Table};
use crate::traffic_log::EventBody;

/// Runs the stages for one request. `body` is the client's body; whatever
/// of it is left unread when this returns is left there for the caller.
pub async fn run<S: Sender>(
    table: &Arc<Table>,
    inbound: &Inbound<'_>,
    body: &mut Option<ClientBody>,
    sender: &S,
    exchange: &Exchange<'_>,
) -> Result<Outcome<S::Answer>, RelayError> {
    let resolved = resolve::resolve(table, inbound)?;
    let route_index = resolved.route;
    exchange.route.set(Some(route_index));
    let route = &table.routes[route_index];
    let consumer_index = authenticate::authenticate(table, route_index, route, inbound)?;
    exchange.consumer.set(consumer_index);
    let consumer = consumer_index.map(|index| &table.consumers.list[index]);
    if let (Some(log), Some(consumer)) = (exchange.log, consumer) {
        log.set_consumer(&consumer.name);
    }
    if let Some(consumer) = consumer.filter(|consumer| consumer.needs_model()) {
        permit::check_path_model(consumer, route, &resolved.params)?;
    }
    if let Protocol::WebSocket(_) = route.protocol {
        if let (Some(index), Some(consumer)) = (consumer_index, consumer) {
            permit::check_query_model(consumer, inbound.query)?;
            permit::admit(table, index, route_index, sender, exchange).await?;
        }
        return Ok(Outcome::WebSocket { route: route_index, url: resolved.url });
    }
    if let Some(list) = &route.models
        && let Some(answer) =
            models::answer(route_index, route, list, inbound, &resolved.params, sender, consumer).await?
    {
        return Ok(answer);
    }
    let mut shape = admit::admit(inbound.headers, &route.body)?;
    if let (Some(index), Some(consumer)) = (consumer_index, consumer) {
        let json = json_fields::read(consumer, route, inbound.headers, &mut shape, body).await?;
        permit::check_model(consumer, route, inbound.headers, json.as_ref(), shape, body).await?;
        permit::admit(table, index, route_index, sender, exchange).await?;
        exchange.hide_usage.set(stream_usage::ask(route, json, &mut shape, body));
    }
    let params = &resolved.params;
    let needs_parts = !route.guards.is_empty() || !route.transforms.is_empty();
    let parts = needs_parts.then(|| transform::request_parts(route, params, inbound.query, inbound.headers));
    if let Some(parts) = parts.as_ref().filter(|_| !route.guards.is_empty())
        && let guard::Verdict::ProbeFailed(answer) = guard::guard(route, inbound, params, parts, sender).await?
    {
        return Ok(Outcome::Upstream { route: route_index, answer, translate: None });
    }
    let mut request = UpstreamRequest { method: inbound.method.clone(), url: resolved.url, headers: HeaderMap::new() };
    let mut made = None;
    let mut translate = None;
    let mut client_json = None;
    let mut extra_headers = Vec::new();
    if let Some(parts) = parts.as_ref().filter(|_| !route.transforms.is_empty()) {
        let Transformed { body: output, applied, client_body } =
            transform::transform(route, inbound.headers, parts, shape, body, sender.fetch()).await?;
        if let Some(path) = &applied.path {
            let query = applied.query.clone().unwrap_or_else(|| inbound.query.map(str::to_owned));
            request.url = upstream_url(route, path, query.as_deref());
        }
        if let Some(method) = applied.method.clone() {
            request.method = method;
        }
        (made, translate, client_json, extra_headers) = (output, applied.response, client_body, applied.headers);
    }
    if !route.query_defaults.is_empty() {
        add_query_defaults(&mut request.url, &route.query_defaults);
    }
    let outgoing = outgoing(route, &request.method, inbound.headers, shape, made, body).await?;
    let logged = match (client_json, &outgoing) {
        (Some(bytes), _) => EventBody::Bytes { bytes, total: None },
        (None, Outgoing::Held { json: false, .. } | Outgoing::Streamed(_) | Outgoing::Empty { .. }) => {
            record::logged_body(&outgoing)
        }
        (None, _) => EventBody::Omitted("not read"),
    };
    record::client_request(exchange.log, inbound, logged);
    headers::upstream_headers(inbound.headers, route, inbound.peer, inbound.request_id, &mut request.headers);
    if let Outgoing::Empty { sent_length: false } = outgoing {
        // No body goes up, so the client's body type does not either.
        request.headers.remove(header::CONTENT_TYPE);
    }
    for (name, value) in extra_headers {
        request.headers.insert(name, value);
    }
    headers::ensure_traceparent(&mut request.headers);
    let sent = send::send(route, inbound, params, request, outgoing, shape, sender, exchange, body).await?;
    Ok(match sent {
        Sent::Answer(answer) => Outcome::Upstream { route: route_index, answer, translate },
        Sent::Verified(answer) => Outcome::Local(answer),
    })
}

/// The body to send: what the transforms made, a small JSON body held so
/// that a retry can send it again, or the client's stream.
async fn outgoing(
    route: &Route,
    method: &Method,
    headers: &HeaderMap,
    shape: BodyShape,
    made: Option<Body>,
    body: &mut Option<ClientBody>,
) -> Result<Outgoing, RelayError> {
    match made {
        Some(Body::Json(bytes)) => return Ok(Outgoing::Held { bytes, json: true }),
        Some(Body::Multipart(multipart)) => return Ok(Outgoing::Multipart(multipart)),
        None => {}
    }
    let replayable = route.retry.as_ref().is_some_and(|policy| policy.allows(method));
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let (true, BodyShape::Sized(length)) = (replayable, shape)
        && length <= MAX_REPLAY_BODY
        && media::is_json(content_type)
        && let Some(mut client) = body.take()
    {
        return match read_limited(&mut client, length, route.body.idle_timeout, route.timeout).await {
            Ok(bytes) => Ok(Outgoing::Held { bytes, json: false }),
            Err(error) => {
                *body = Some(client);
                Err(error)
            }
        };
    }
    Ok(match body.take() {
        Some(client) if shape != BodyShape::None => Outgoing::Streamed(SharedPayload::new(client)),
        // The transforms read the body and made none (an envelope's GET).
        None if shape != BodyShape::None => Outgoing::Empty { sent_length: false },
        unread => {
            *body = unread;
            Outgoing::Empty { sent_length: headers.contains_key(header::CONTENT_LENGTH) }
        }
    })
}

/// The URL for a path a transform rendered, with the query to send.
fn upstream_url(route: &Route, path: &str, query: Option<&str>) -> String {
    let mut url = format!("{}{path}", route.upstream.base_url);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Appends the route's default query parameters the URL's query lacks.
fn add_query_defaults(url: &mut String, defaults: &[(String, String)]) {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let present: Vec<String> = form_urlencoded::parse(query.as_bytes()).map(|(name, _)| name.into_owned()).collect();
    let missing: Vec<&String> =
        defaults.iter().filter(|(name, _)| !present.contains(name)).map(|(_, pair)| pair).collect();
    for pair in missing {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_fill_only_what_is_missing() {
        let defaults = vec![("limit".to_owned(), "limit=20".to_owned()), ("order".to_owned(), "order=desc".to_owned())];
        let mut url = "http://u/v1/files".to_owned();
        add_query_defaults(&mut url, &defaults);
        assert_eq!(url, "http://u/v1/files?limit=20&order=desc");
        let mut url = "http://u/v1/files?limit=5&purpose=batch".to_owned();
        add_query_defaults(&mut url, &defaults);
        assert_eq!(url, "http://u/v1/files?limit=5&purpose=batch&order=desc");
    }
}
