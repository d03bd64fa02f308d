//! `relay explain`: a dry run of one request, with no network call.
//!
//! It runs the same stages as `relay serve` ([`crate::stages::run`]) with a
//! sender that records the upstream request instead of sending it
//! ([`Recorder`]): which route matches (or why none does, with the nearest
//! candidates), what the relay checks, and the exact upstream request:
//! method, URL, headers after the header policy and the transforms, and the
//! body (multipart parts shown with placeholders for files that would be
//! fetched). Secrets are redacted in headers and bodies.
//!
//! `relay test` ([`examples`]) runs each route's examples through the same
//! [`dry_run`] and compares what it records with what they expect.

pub mod examples;
mod recorder;

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

pub use recorder::{Recorded, Recorder};

use crate::error::RelayError;
use crate::live::Live;
use crate::policy::consumer::Identified;
use crate::stages::client_body::ClientBody;
use crate::stages::record::Exchange;
use crate::stages::{self, Inbound, Outcome, admit, resolve};
use crate::table::{Route, Table, UpstreamAuth, WhenKeyMissing};

/// The request id shown in place of a generated one.
const SHOWN_REQUEST_ID: &str = "relay-<generated per request>";

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
    /// Also report the values the route takes from defaults, by file.
    pub sources: bool,
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

impl Request {
    /// Adds the `Content-Length` of the body, as a client sends it.
    pub fn set_length(&mut self) {
        if let Some(body) = &self.body {
            self.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
    }

    /// The request as the stages read it, arriving on `listener`.
    pub fn inbound<'a>(&'a self, listener: &'a str) -> Inbound<'a> {
        let (path, query) = match self.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (self.target.as_str(), None),
        };
        Inbound {
            listener,
            method: &self.method,
            path,
            query,
            target: &self.target,
            headers: &self.headers,
            peer: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            request_id: SHOWN_REQUEST_ID,
        }
    }
}

/// Where a dry run ends: the recorder (probes asked for, redaction) and
/// what the stages returned.
pub struct DryRun {
    pub recorder: Recorder,
    pub outcome: Result<Outcome<Recorded>, RelayError>,
}

/// Runs the stages of `serve` on one request with the recording sender.
pub async fn dry_run(table: &Arc<Table>, inbound: &Inbound<'_>, body: Option<&[u8]>) -> Result<DryRun, String> {
    let recorder = Recorder::new(table).map_err(|e| format!("no TLS settings for the dry run: {e}"))?;
    let mut body = body.map(|bytes| ClientBody::Bytes(Some(Bytes::copy_from_slice(bytes))));
    let outcome = stages::run(table, inbound, &mut body, &recorder, &Exchange::default()).await;
    Ok(DryRun { recorder, outcome })
}

/// A runtime for dry runs, on this thread.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the dry run: {e}"))
}

/// The dry-run report as text, and whether a route matched.
pub fn explain(live: &Live, mut request: Request) -> (String, bool) {
    request.set_length();
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => return (format!("error: {e}\n"), false),
    };
    runtime.block_on(report(live, &request))
}

async fn report(live: &Live, request: &Request) -> (String, bool) {
    let table = &live.table;
    let mut out = String::new();
    let _ = writeln!(out, "request: {} {}", request.method, request.target);
    let listener = request.listener.as_deref().unwrap_or(crate::table::DEFAULT_LISTENER);
    if table.listener(listener).is_none() {
        let names: Vec<&str> = table.listeners.iter().map(|l| l.name.as_str()).collect();
        let _ = writeln!(out, "no listener named {listener:?}; the listeners are: {}", names.join(", "));
        return (out, false);
    }
    let inbound = request.inbound(listener);
    let path = inbound.path;
    let resolved = match resolve::resolve(table, &inbound) {
        Ok(resolved) => resolved,
        Err(error) => {
            let _ = writeln!(out, "no route: {} ({})", error.message, error.status.as_u16());
            if error.status.as_u16() == 404 {
                match elsewhere(table, &inbound) {
                    Some(other) => drop(writeln!(out, "the path exists on listener {other}; use --listener {other}")),
                    None => nearest_routes(table, path, listener, &mut out),
                }
            }
            return (out, false);
        }
    };
    let route = &table.routes[resolved.route];
    let _ = writeln!(out, "route: {} ({})", route.id, route.origin);
    if request.sources {
        for (file, keys) in route.defaulted_by_file() {
            let _ = writeln!(out, "  from {}: {}", file.display(), keys.join(", "));
        }
    }
    checks(table, route, &inbound, &mut out);
    let DryRun { recorder, outcome } = match dry_run(table, &inbound, request.body.as_deref()).await {
        Ok(run) => run,
        Err(e) => return (format!("{out}error: {e}\n"), true),
    };
    for probe in recorder.probes() {
        let _ = writeln!(out, "  probe: GET {probe} (not sent in a dry run; its guard is not evaluated)");
    }
    match outcome {
        Err(error) => {
            let _ = writeln!(out, "answer: {} {}: {}", error.status.as_u16(), error.code, error.message);
        }
        Ok(Outcome::WebSocket { url, .. }) => websocket(route, &url, &mut out),
        Ok(Outcome::Local(answer)) => {
            let _ = writeln!(out, "answer: 200 from the relay itself:\n{}", recorder.redacted_json(&answer));
        }
        Ok(Outcome::Upstream { answer, translate, .. }) => {
            let _ = writeln!(out, "upstream request ({}):", route.upstream.name);
            out.push_str(&recorder.show(&answer, &request.headers));
            if translate.is_some() {
                let _ = writeln!(out, "\nthe 2xx answer is translated back for the client (chat completions)");
            }
        }
    }
    (out, true)
}

fn websocket(route: &Route, url: &str, out: &mut String) {
    if let crate::table::Protocol::WebSocket(limits) = route.protocol {
        let _ = writeln!(
            out,
            "protocol: websocket (max_message {} bytes, idle_timeout {}, max_duration {})",
            limits.max_message,
            humantime::format_duration(limits.idle_timeout),
            humantime::format_duration(limits.max_duration)
        );
    }
    let _ = writeln!(out, "upstream session ({}):\n  GET {url} (Upgrade: websocket)", route.upstream.name);
}

fn checks(table: &Table, route: &Route, inbound: &Inbound<'_>, out: &mut String) {
    let _ = writeln!(out, "checks:");
    let handshake = resolve::is_handshake(inbound.method, inbound.headers);
    let identified = crate::auth::identify(&table.consumers, inbound.headers, handshake);
    let key = match (route.public, table.consumers.is_enabled(), identified) {
        (_, true, Identified::Consumer(index)) => format!("valid, consumer `{}`", table.consumers.list[index].name),
        (true, _, _) => "not needed (public route)".to_owned(),
        (false, false, _) => "not needed (no relay keys are configured)".to_owned(),
        (false, true, Identified::Expired) => "EXPIRED: the relay would answer 401".to_owned(),
        (false, true, _) => "MISSING or wrong: the relay would answer 401".to_owned(),
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
    let verdict = match admit::admit(inbound.headers, &route.body) {
        Ok(admit::BodyShape::None) => "none".to_owned(),
        Ok(admit::BodyShape::Sized(n)) => format!("{n} bytes, accepted (limit {})", bytesize::ByteSize(route.body.max)),
        Ok(admit::BodyShape::Chunked) => "chunked, accepted".to_owned(),
        Err(error) => format!("REJECTED with {}: {}", error.status.as_u16(), error.message),
    };
    let _ = writeln!(out, "  body: {verdict}");
    if !route.guards.is_empty() {
        let probes = route.guards.iter().filter(|g| g.probe.is_some()).count();
        let _ = writeln!(out, "  guards: {} ({probes} with a probe of the upstream)", route.guards.len());
    }
    if let Some(retry) = &route.retry {
        let post = if retry.allows(inbound.method) { "" } else { " (not for this method)" };
        let verify = if retry.verify.is_some() { ", then a verify step" } else { "" };
        let _ = writeln!(out, "  retry: up to {} attempts{verify}{post}", retry.attempts);
    }
}

/// Another listener on which the path matches a route (with any method).
fn elsewhere<'t>(table: &'t Table, inbound: &Inbound<'_>) -> Option<&'t str> {
    let others = table.listeners.iter().filter(|l| l.name != inbound.listener);
    others.map(|l| l.name.as_str()).find(|&listener| {
        let found = resolve::resolve(table, &Inbound { listener, ..*inbound });
        found.map_or_else(|error| error.status.as_u16() != 404, |_| true)
    })
}

/// The routes of `listener` whose paths are closest to `path`.
fn nearest_routes(table: &Table, path: &str, listener: &str, out: &mut String) {
    let served = table.routes.iter().filter(|r| r.listeners.iter().any(|name| name == listener));
    let mut scored: Vec<(f64, &Route)> = served.map(|r| (strsim::normalized_levenshtein(path, &r.path), r)).collect();
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
