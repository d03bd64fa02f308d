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

/// The W3C Trace Context header (<https://www.w3.org/TR/trace-context/>).
pub const TRACEPARENT: &str = "traceparent";

/// Makes sure the upstream request carries a `traceparent`: with traces
/// exported, the relay's request span (in the client's trace, if any);
/// otherwise the client's, when it sent a valid one (with its `tracestate`,
/// both passed by the header policy), else a new trace sampled in
/// (`00-<trace>-<span>-01`).
pub fn ensure_traceparent(out: &mut HeaderMap) {
    // Exporting traces: the relay's own span is the upstream's parent.
    if crate::telemetry::traces::inject(out) {
        return;
    }
    if out.get(TRACEPARENT).and_then(|v| v.to_str().ok()).is_some_and(valid_traceparent) {
        return;
    }
    out.remove(TRACEPARENT);
    out.remove("tracestate");
    out.insert(HeaderName::from_static(TRACEPARENT), crate::ids::traceparent());
}

/// `version-traceid-parentid-flags`, lowercase hex, ids not all zero.
fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let nonzero = |part: &str| part.bytes().any(|b| b != b'0');
    parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && nonzero(parts[1])
        && hex(parts[2], 16)
        && nonzero(parts[2])
        && hex(parts[3], 2)
        && (parts[0] != "00" || parts.len() == 4)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_kept_when_valid_and_made_when_not() {
        let mut headers = HeaderMap::new();
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert(HeaderName::from_static(TRACEPARENT), HeaderValue::from_static(given));
        ensure_traceparent(&mut headers);
        assert_eq!(headers.get(TRACEPARENT).unwrap(), given);
        for bad in ["", "00-0000-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "xyz"]
        {
            let mut headers = HeaderMap::new();
            headers.insert(HeaderName::from_static(TRACEPARENT), HeaderValue::from_str(bad).unwrap());
            ensure_traceparent(&mut headers);
            let made = headers.get(TRACEPARENT).unwrap().to_str().unwrap().to_owned();
            assert!(valid_traceparent(&made) && made.starts_with("00-") && made.ends_with("-01"), "{made}");
        }
    }
}
