//! `relay explain`: a dry run of one request, with no network call.
//!
//! It shows which route would match (or why none does, with the nearest
//! candidates), what the relay would check, and the exact upstream request:
//! method, URL, headers after the header policy and the route's transforms
//! (secrets redacted) and the body after transforms.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::executor::{body, headers};
use crate::table::{Route, Table, UpstreamAuth, WhenKeyMissing};

/// The request to explain.
#[derive(Debug, Default)]
pub struct Request {
    pub method: Method,
    /// Path and optional query, as a client would send it.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    /// The listener the request arrives on (default: `default`).
    pub listener: Option<String>,
}

impl Request {
    /// Parses `--header 'Name: value'` arguments.
    pub fn add_header(&mut self, line: &str) -> Result<(), String> {
        let (name, value) =
            line.split_once(':').ok_or_else(|| format!("header {line:?} needs the form 'Name: value'"))?;
        let name =
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| format!("{name:?} is not a header name"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| format!("the value of {name} is not valid"))?;
        self.headers.append(name, value);
        Ok(())
    }
}

/// The dry-run report as text, and whether a route matched.
pub fn explain(table: &Table, request: &Request) -> (String, bool) {
    let mut out = String::new();
    let (path, query) = match request.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request.target.as_str(), None),
    };
    let _ = writeln!(out, "request: {} {}", request.method, request.target);
    let listener = request.listener.as_deref().unwrap_or(crate::table::DEFAULT_LISTENER);
    if table.listener(listener).is_none() {
        let names: Vec<&str> = table.listeners.iter().map(|l| l.name.as_str()).collect();
        let _ = writeln!(out, "no listener named {listener:?}; the listeners are: {}", names.join(", "));
        return (out, false);
    }
    let handshake = crate::executor::websocket::is_handshake(&request.method, &request.headers);
    let resolved = match table.resolve_handshake(listener, &request.method, path, query, handshake) {
        Ok(resolved) => resolved,
        Err(error) => {
            let _ = writeln!(out, "no route: {} ({})", error.message, error.status.as_u16());
            if error.status.as_u16() == 404 {
                nearest_routes(table, path, &mut out);
            }
            return (out, false);
        }
    };
    let route = &table.routes[resolved.route];
    let _ = writeln!(out, "route: {} ({})", route.id, route.origin);
    if let crate::table::Protocol::WebSocket(limits) = route.protocol {
        let _ = writeln!(
            out,
            "protocol: websocket (max_message {} bytes, idle_timeout {}, max_duration {})",
            limits.max_message,
            humantime::format_duration(limits.idle_timeout),
            humantime::format_duration(limits.max_duration)
        );
    }
    let _ = writeln!(out, "checks:");
    checks(table, route, request, &mut out);
    let transformed = match apply_transforms(route, &resolved.params, query, request) {
        Ok(transformed) => transformed,
        Err(error) => {
            let _ = writeln!(out, "  transforms: REJECTED with {}: {}", error.status.as_u16(), error.message);
            return (out, true);
        }
    };
    let url = match &transformed.path {
        Some(path) => {
            format!("{}{path}{}", route.upstream.base_url, query.map(|q| format!("?{q}")).unwrap_or_default())
        }
        None => resolved.url,
    };
    let _ = writeln!(out, "upstream request ({}):", route.upstream.name);
    let _ = writeln!(out, "  {} {}", request.method, url);
    let mut client = request.headers.clone();
    if let Some(body) = &request.body {
        client.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut upstream = HeaderMap::new();
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    headers::upstream_headers(&client, route, Some(peer), "relay-<generated per request>", &mut upstream);
    for (name, value) in transformed.headers {
        upstream.insert(name, value);
    }
    let body = transformed.body.or_else(|| request.body.clone());
    if transformed.json {
        upstream.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(body) = &body {
        upstream.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut lines: Vec<String> =
        upstream.iter().map(|(name, value)| format!("  {name}: {}", shown(name, value))).collect();
    lines.sort();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    match &body {
        None => {}
        Some(body) => match std::str::from_utf8(body) {
            Ok(text) if body.len() <= 4096 => {
                let _ = writeln!(out, "\n{}", text.trim_end());
            }
            _ => {
                let _ = writeln!(out, "\n<{} bytes, streamed unchanged>", body.len());
            }
        },
    }
    (out, true)
}

/// What the route's transforms make of the request (nothing without any).
#[derive(Default)]
struct Transformed {
    path: Option<String>,
    headers: Vec<(actix_web::http::header::HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
    json: bool,
}

fn apply_transforms(
    route: &Route,
    params: &[&str],
    query: Option<&str>,
    request: &Request,
) -> Result<Transformed, crate::error::RelayError> {
    if route.transforms.is_empty() {
        return Ok(Transformed::default());
    }
    let content_type = request.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let json_body = match &request.body {
        Some(bytes) if route.transforms.needs_json_body() && crate::transforms::is_json(content_type) => {
            Some(serde_json::from_slice(bytes).map_err(|e| {
                crate::error::RelayError::bad_request(
                    "invalid_json",
                    format!("The request body is not valid JSON: {e}."),
                )
            })?)
        }
        _ => None,
    };
    let parts = crate::executor::transform::request_parts(route, params, query, &request.headers);
    let applied = route.transforms.apply(&parts, json_body)?;
    let json = applied.body.is_some();
    Ok(Transformed {
        path: applied.path,
        headers: applied.headers,
        body: applied.body.map(|v| v.to_string().into_bytes()),
        json,
    })
}

fn checks(table: &Table, route: &Route, request: &Request, out: &mut String) {
    let key = match (route.public, table.client_keys.is_enabled()) {
        (true, _) => "not needed (public route)",
        (false, false) => "not needed (RELAY_KEYS is not set)",
        (false, true) if table.client_keys.admits(&request.headers) => "present and valid",
        (false, true) => "MISSING or wrong: the relay would answer 401",
    };
    let _ = writeln!(out, "  relay key: {key}");
    let upstream_key = match &route.upstream.auth {
        UpstreamAuth::Bearer { env, header: Some(_), .. } => format!("{env} (set)"),
        UpstreamAuth::Bearer { env, header: None, when_missing: WhenKeyMissing::Forbid } => {
            format!("{env} is NOT set: the relay would answer 403")
        }
        UpstreamAuth::Bearer { env, header: None, .. } => format!("{env} is not set: sent without a key"),
        UpstreamAuth::Passthrough => "the client's own Authorization".to_owned(),
        UpstreamAuth::None => "none".to_owned(),
    };
    let _ = writeln!(out, "  upstream key: {upstream_key}");
    let mut framing = request.headers.clone();
    if let Some(body) = &request.body {
        framing.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let verdict = match body::inspect(&framing, &route.body) {
        Ok(body::BodyShape::None) => "none".to_owned(),
        Ok(body::BodyShape::Sized(n)) => format!("{n} bytes, accepted (limit {})", bytesize::ByteSize(route.body.max)),
        Ok(body::BodyShape::Chunked) => "chunked, accepted".to_owned(),
        Err(error) => format!("REJECTED with {}: {}", error.status.as_u16(), error.message),
    };
    let _ = writeln!(out, "  body: {verdict}");
    if !route.guards.is_empty() {
        let probes = route.guards.iter().filter(|g| g.probe.is_some()).count();
        let _ = writeln!(
            out,
            "  guards: {} ({probes} with a probe of the upstream), evaluated when the request is served",
            route.guards.len()
        );
    }
    if let Some(retry) = &route.retry {
        let post = if retry.allows(&request.method) { "" } else { " (not for this method)" };
        let verify = if retry.verify.is_some() { ", then a verify step" } else { "" };
        let _ = writeln!(out, "  retry: up to {} attempts{verify}{post}", retry.attempts);
    }
}

/// Secrets never appear in the report.
fn shown(name: &HeaderName, value: &HeaderValue) -> String {
    let name = name.as_str();
    let secret = ["authorization", "key", "token", "secret", "cookie"].iter().any(|s| name.contains(s));
    match (secret, value.to_str()) {
        (true, Ok(v)) if v.to_ascii_lowercase().starts_with("bearer ") => "Bearer [redacted]".to_owned(),
        (true, _) => "[redacted]".to_owned(),
        (false, Ok(v)) => v.to_owned(),
        (false, Err(_)) => format!("<{} bytes, not text>", value.len()),
    }
}

fn nearest_routes(table: &Table, path: &str, out: &mut String) {
    let mut scored: Vec<(f64, &Route)> =
        table.routes.iter().map(|r| (strsim::normalized_levenshtein(path, &r.path), r)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    if scored.is_empty() {
        return;
    }
    let _ = writeln!(out, "nearest routes:");
    for (_, route) in scored.iter().take(3) {
        let methods: Vec<&str> = route.methods.iter().map(Method::as_str).collect();
        let _ = writeln!(out, "  {} {}  ({}, {})", methods.join(","), route.path, route.id, route.origin);
    }
}
