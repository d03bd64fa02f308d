//! Stage 5: which headers cross the relay, in both directions.
//!
//! Hop-by-hop headers (and any header a `Connection` header names) never
//! cross. Credentials the client sent to the relay never reach the upstream
//! unless the upstream is `passthrough`. `Expect` does not cross either: the
//! relay's server answers `100 Continue` itself, while awc, given the header,
//! would wait for the upstream's `100` before sending the body (and fails a
//! bodiless request outright). The route's policy filters and removes client
//! headers; then the upstream's extra headers and the route's `set` headers
//! overwrite, `default` headers fill gaps, and the upstream key is set last.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::auth::RELAY_KEY_HEADER;
use crate::table::{Route, UpstreamAuth};

/// Headers that describe one connection, never the message (RFC 9110 7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The header carrying the relay's request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Whether a header must not be forwarded in either direction.
pub fn is_hop_by_hop(name: &HeaderName, connection_listed: &[String]) -> bool {
    let name = name.as_str();
    HOP_BY_HOP.contains(&name) || connection_listed.iter().any(|listed| listed == name)
}

/// The header names listed in `Connection` headers, lowercase.
pub fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// Builds the upstream request headers into `out`.
pub fn upstream_headers(
    client: &HeaderMap,
    route: &Route,
    peer: Option<IpAddr>,
    request_id: &str,
    out: &mut HeaderMap,
) {
    let listed = connection_listed(client);
    let passthrough = matches!(route.upstream.auth, UpstreamAuth::Passthrough);
    let policy = &route.headers;
    for (name, value) in client {
        let relay_managed = *name == header::HOST
            || *name == header::CONTENT_LENGTH
            || name.as_str() == RELAY_KEY_HEADER
            || name.as_str() == REQUEST_ID
            || *name == header::EXPECT
            || *name == header::FORWARDED
            || name.as_str() == "x-forwarded-for"
            || (*name == header::AUTHORIZATION && !passthrough);
        if relay_managed || is_hop_by_hop(name, &listed) {
            continue;
        }
        if policy.pass.as_ref().is_some_and(|pass| !pass.contains(name)) || policy.remove.contains(name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    // The upstream's own headers (organization, project) are authoritative.
    for (name, value) in route.upstream.headers.iter().chain(&policy.set) {
        out.insert(name.clone(), value.clone());
    }
    for (name, value) in &policy.default {
        if !out.contains_key(name) {
            out.insert(name.clone(), value.clone());
        }
    }
    if let UpstreamAuth::Bearer { header: Some(key), .. } = &route.upstream.auth {
        out.insert(header::AUTHORIZATION, key.clone());
    }
    if let Some(ip) = peer
        && let Ok(value) = HeaderValue::from_str(&ip.to_string())
    {
        out.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        out.insert(HeaderName::from_static(REQUEST_ID), value);
    }
}

/// Copies upstream response headers that may cross back to the client.
/// `Content-Length` is left out: the response body sets its own framing.
pub fn client_headers(upstream: &HeaderMap, route: &Route, out: &mut HeaderMap) {
    let listed = connection_listed(upstream);
    for (name, value) in upstream {
        if *name == header::CONTENT_LENGTH
            || is_hop_by_hop(name, &listed)
            || route.response_headers.remove.contains(name)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    for (name, value) in &route.response_headers.set {
        out.insert(name.clone(), value.clone());
    }
}
