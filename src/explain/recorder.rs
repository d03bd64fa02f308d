//! The sender of a dry run: it records the upstream request the stages
//! built, as awc would put it on the wire (framing headers included), and
//! sends nothing. A streamed body is read through the same guard as when
//! served, so its limits apply; probes are noted, not sent; linked files
//! are not fetched.

use std::cell::RefCell;
use std::fmt::Write;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::error::RelayError;
use crate::secrets;
use crate::stages::admit::BodyShape;
use crate::stages::client_body::{self, GuardedBody, VerdictCell};
use crate::stages::headers::TRACEPARENT;
use crate::stages::sender::{Outgoing, UpstreamRequest};
use crate::stages::sender::{Probed, Sender};
use crate::table::{Route, Table, UpstreamAuth};
use crate::traffic_log::ChunkLog;
use crate::traffic_log::redact::Redactor;
use crate::transforms::json_to_multipart::FetchContext;

/// Bodies up to this size are shown as text.
const SHOWN_BODY: usize = 4096;

/// Records instead of sending.
pub struct Recorder {
    fetch: FetchContext,
    probes: RefCell<Vec<String>>,
    redactor: Redactor,
}

/// The upstream request a dry run would have sent.
pub struct Recorded {
    request: UpstreamRequest,
    body: Shown,
    /// The answer's head, as far as the stages ask (a 200 with no headers).
    status: StatusCode,
    answer_headers: HeaderMap,
    /// The part names of a multipart body.
    parts: Option<Vec<String>>,
}

/// The body as the report shows it.
enum Shown {
    None,
    Text(String),
    Opaque(usize, &'static str),
}

impl Recorder {
    pub fn new(table: &Table) -> Result<Recorder, rustls::Error> {
        let fetch = FetchContext {
            tls: crate::upstream::client::tls_config()?,
            address_check: crate::fetch::address::check_public,
            dry_run: true,
        };
        Ok(Recorder { fetch, probes: RefCell::default(), redactor: redactor(table) })
    }

    /// The probes the stages asked for, in order.
    pub fn probes(&self) -> Vec<String> {
        self.probes.borrow().clone()
    }

    /// A JSON answer of the relay's own, secrets masked.
    pub fn redacted_json(&self, value: &serde_json::Value) -> String {
        self.redactor.body(&value.to_string())
    }
}

/// Masks the secrets this table knows (upstream keys) besides key shapes.
fn redactor(table: &Table) -> Redactor {
    let known = table
        .upstreams
        .iter()
        .filter_map(|u| match &u.auth {
            UpstreamAuth::Bearer { header: Some(value), .. } => value.to_str().ok(),
            _ => None,
        })
        .filter_map(|value| crate::auth::bearer_token(value).map(str::to_owned))
        .collect();
    Redactor::new(known)
}

impl Recorder {
    /// A recorded request as report lines: method and URL, sorted headers
    /// (secrets masked), a blank line and the body (secrets masked).
    pub fn show(&self, recorded: &Recorded, client: &HeaderMap) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "  {} {}", recorded.request.method, recorded.request.url);
        for (name, value) in self.shown_headers(recorded, client) {
            let _ = writeln!(out, "  {name}: {value}");
        }
        if let Some(body) = self.shown_body(recorded) {
            let _ = writeln!(out, "\n{body}");
        }
        out
    }

    /// The headers sent, sorted, each value as shown: secrets masked, and a
    /// trace the relay starts shown as generated, like the request id
    /// (`client` is the client's headers).
    pub fn shown_headers(&self, recorded: &Recorded, client: &HeaderMap) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = recorded
            .request
            .headers
            .iter()
            .map(|(name, value)| match name.as_str() {
                TRACEPARENT if client.get(TRACEPARENT) != Some(value) => {
                    (name.to_string(), "00-<trace generated per request>-01".to_owned())
                }
                _ => (name.to_string(), secrets::shown(name, value)),
            })
            .collect();
        // In the order of the report's `name: value` lines.
        lines.sort_by_cached_key(|(name, value)| format!("{name}: {value}"));
        lines
    }

    /// The body as shown: text with secrets masked, or a summary of a
    /// binary or long one; `None` when there is no body.
    pub fn shown_body(&self, recorded: &Recorded) -> Option<String> {
        match &recorded.body {
            Shown::None => None,
            Shown::Text(text) => Some(self.redactor.body(text).trim_end().to_owned()),
            Shown::Opaque(length, how) => Some(format!("<{length} bytes, {how}>")),
        }
    }
}

impl Recorded {
    pub fn method(&self) -> &actix_web::http::Method {
        &self.request.method
    }

    pub fn url(&self) -> &str {
        &self.request.url
    }

    /// The names of the multipart parts, in order; `None` for another body.
    pub fn part_names(&self) -> Option<&[String]> {
        self.parts.as_deref()
    }
}

fn shown(bytes: &[u8], how: &'static str) -> Shown {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.len() <= SHOWN_BODY => Shown::Text(text.to_owned()),
        _ => Shown::Opaque(bytes.len(), how),
    }
}

/// The names in the parts' `Content-Disposition: form-data; name="..."`.
fn part_names(pieces: &[Bytes]) -> Vec<String> {
    let text = multipart_text(pieces);
    text.lines()
        .filter_map(|line| {
            let (head, rest) = line.split_once(':')?;
            let rest = rest.trim_start().strip_prefix("form-data;")?;
            let name = rest.split(';').find_map(|p| p.trim().strip_prefix("name=\""))?;
            head.eq_ignore_ascii_case("content-disposition").then(|| name.split('"').next().unwrap_or(name).to_owned())
        })
        .collect()
}

/// A multipart body with every part's head and its content where it is
/// short text; binary or long contents are summarised.
fn multipart_text(pieces: &[Bytes]) -> String {
    pieces
        .iter()
        .map(|piece| match std::str::from_utf8(piece) {
            Ok(text) if piece.len() <= SHOWN_BODY => text.to_owned(),
            _ => format!("<{} bytes>\r\n", piece.len()),
        })
        .collect()
}

impl Sender for Recorder {
    type Answer = Recorded;

    fn head(answer: &Recorded) -> (StatusCode, &HeaderMap) {
        (answer.status, &answer.answer_headers)
    }

    fn fetch(&self) -> &FetchContext {
        &self.fetch
    }

    fn meter(&self) -> Option<&std::sync::Arc<crate::quota::Meter>> {
        None
    }

    async fn send(
        &self,
        route: &Route,
        mut request: UpstreamRequest,
        body: &Outgoing,
        shape: BodyShape,
        verdict: &VerdictCell,
        _chunks: Option<ChunkLog>,
    ) -> Result<Recorded, RelayError> {
        let headers = &mut request.headers;
        let mut parts = None;
        let body = match body {
            Outgoing::Empty { sent_length } => {
                if *sent_length {
                    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
                }
                Shown::None
            }
            Outgoing::Held { bytes, json } => {
                if *json {
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                shown(bytes, "sent as held")
            }
            Outgoing::Multipart(multipart) => {
                if let Ok(value) = HeaderValue::from_str(&multipart.content_type) {
                    headers.insert(header::CONTENT_TYPE, value);
                }
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(multipart.len()));
                parts = Some(part_names(&multipart.pieces));
                Shown::Text(multipart_text(&multipart.pieces))
            }
            Outgoing::Streamed(payload) => {
                let mut guarded = GuardedBody::new(payload.clone(), &route.body, verdict.clone());
                let mut read = BytesMut::new();
                while let Some(chunk) = guarded.next().await {
                    match chunk {
                        Ok(chunk) => read.extend_from_slice(&chunk),
                        Err(_) => {
                            let verdict = verdict.get().unwrap_or(client_body::BodyVerdict::ClientFailed);
                            return Err(client_body::verdict_error(verdict, &route.body));
                        }
                    }
                }
                match shape {
                    BodyShape::Sized(length) => drop(headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length))),
                    _ => drop(headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"))),
                }
                shown(&read, "streamed unchanged")
            }
        };
        Ok(Recorded { request, body, status: StatusCode::OK, answer_headers: HeaderMap::new(), parts })
    }

    async fn probe(&self, _route: &Route, url: String, _headers: HeaderMap) -> Result<Probed<Recorded>, RelayError> {
        self.probes.borrow_mut().push(url);
        Ok(Probed::NotSent)
    }
}
