//! The writer thread: owns one log file, turns events into redacted JSON
//! lines and writes them in batches.
//!
//! Lines collect in a buffer that is written out when the queue runs empty
//! (or the buffer passes [`BATCH`]), so a quiet relay's log is complete on
//! disk. A failed write (a full disk) loses that batch: its lines count as
//! dropped, and writing goes on with the next batch. Drops, here or on the
//! request path (a full queue), are reported with a warning at most every
//! [`WARN_EVERY`].

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use super::redact::Redactor;
use super::{Event, EventBody, Stats};
use crate::telemetry::metrics::TRAFFIC_LOG_EVENTS;

/// Buffered bytes that are written out even while events keep coming.
const BATCH: usize = 64 * 1024;

/// Shortest time between two warnings about dropped events.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// How often an idle writer looks at the drop counter.
const TICK: Duration = Duration::from_secs(1);

/// Opens (truncates) `path` and starts the thread; returns its queue.
pub fn start(path: &Path, redactor: Redactor, stats: Arc<Stats>, queue: usize) -> std::io::Result<SyncSender<Event>> {
    let file = File::create(path)?;
    let (sender, receiver) = std::sync::mpsc::sync_channel(queue);
    let writer = Writer {
        file,
        path: path.display().to_string(),
        redactor,
        stats,
        buffer: Vec::with_capacity(BATCH),
        pending: 0,
        reported: 0,
        warned_at: None,
    };
    std::thread::Builder::new().name("traffic-log".to_owned()).spawn(move || writer.run(&receiver))?;
    Ok(sender)
}

struct Writer {
    file: File,
    path: String,
    redactor: Redactor,
    stats: Arc<Stats>,
    buffer: Vec<u8>,
    /// Lines in `buffer`.
    pending: u64,
    /// The drop count at the last warning.
    reported: u64,
    warned_at: Option<Instant>,
}

impl Writer {
    fn run(mut self, receiver: &Receiver<Event>) {
        loop {
            match receiver.recv_timeout(TICK) {
                Ok(event) => {
                    self.line(&event);
                    while let Ok(event) = receiver.try_recv() {
                        self.line(&event);
                        if self.buffer.len() >= BATCH {
                            self.flush();
                        }
                    }
                    self.flush();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    return;
                }
            }
            self.warn_about_drops(None);
        }
    }

    fn line(&mut self, event: &Event) {
        let line = format_line(&self.redactor, event);
        self.buffer.extend_from_slice(line.as_bytes());
        self.buffer.push(b'\n');
        self.pending += 1;
    }

    fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let result = self.file.write_all(&self.buffer).and_then(|()| self.file.flush());
        match result {
            Ok(()) => {
                self.stats.written.fetch_add(self.pending, Ordering::Relaxed);
                metrics::counter!(TRAFFIC_LOG_EVENTS, "outcome" => "written").increment(self.pending);
            }
            Err(error) => {
                self.stats.dropped.fetch_add(self.pending, Ordering::Relaxed);
                metrics::counter!(TRAFFIC_LOG_EVENTS, "outcome" => "dropped").increment(self.pending);
                self.warn_about_drops(Some(&error));
            }
        }
        self.buffer.clear();
        self.pending = 0;
    }

    /// Warns if events were dropped since the last warning, at most every
    /// [`WARN_EVERY`].
    fn warn_about_drops(&mut self, error: Option<&std::io::Error>) {
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        if dropped == self.reported || self.warned_at.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        let new = dropped - self.reported;
        match error {
            Some(error) => tracing::warn!(
                file = self.path,
                dropped,
                "traffic log: writing failed ({error}); {new} events dropped, requests go on unlogged"
            ),
            None => tracing::warn!(
                file = self.path,
                dropped,
                "traffic log: {new} events dropped (the log falls behind); requests go on unlogged"
            ),
        }
        self.reported = dropped;
        self.warned_at = Some(Instant::now());
    }
}

/// One line as written. Keys appear in this order; absent ones are left out.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    listener: &'a str,
    request_id: &'a str,
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(flatten)]
    body: BodyFields,
}

/// The body of a line: `body` with its markers.
#[derive(Default, Serialize)]
struct BodyFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    streamed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_omitted: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
    /// The body's size in bytes before it was cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<usize>,
}

/// The redacted JSON line of an event (without the newline).
pub fn format_line(redactor: &Redactor, event: &Event) -> String {
    let line = Line {
        time: humantime::format_rfc3339_millis(event.time).to_string(),
        listener: &event.listener,
        request_id: &event.request_id,
        direction: event.direction.as_str(),
        method: event.method.as_ref().map(|m| m.as_str()),
        url: event.url.as_deref(),
        path: event.path.as_deref(),
        status: event.status.map(|s| s.as_u16()),
        consumer: event.consumer.as_deref(),
        headers: event.headers.as_ref().map(|h| redactor.headers(h)),
        body: body_fields(redactor, &event.body, event.body_max),
    };
    let text = serde_json::to_string(&line).unwrap_or_else(|e| format!("{{\"error\":\"unloggable event: {e}\"}}"));
    // The last pass: nothing key-shaped leaves, whatever field it hid in.
    redactor.text(&text)
}

fn body_fields(redactor: &Redactor, body: &EventBody, max: usize) -> BodyFields {
    match body {
        EventBody::None => BodyFields::default(),
        EventBody::Streamed => BodyFields { body: Some(Value::Null), streamed: Some(true), ..Default::default() },
        EventBody::Omitted(reason) => {
            BodyFields { body: Some(Value::Null), body_omitted: Some(reason), ..Default::default() }
        }
        EventBody::Json(value) => {
            let mut value = value.clone();
            super::redact::redact_fields(&mut value);
            let text = value.to_string();
            cut_text(&redactor.text(&text), text.len(), false, max)
        }
        EventBody::Bytes { bytes, total } => {
            let size = total.unwrap_or(bytes.len());
            let text = match std::str::from_utf8(bytes) {
                Ok(text) => Some(text.to_owned()),
                // Cut inside a character: the whole ones are text.
                Err(e) if e.error_len().is_none() => {
                    Some(String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned())
                }
                Err(_) => None,
            };
            match text {
                Some(text) => cut_text(&redactor.body(&text), size, total.is_some(), max),
                None => {
                    let end = bytes.len().min(max);
                    let cut = total.is_some() || end < bytes.len();
                    BodyFields {
                        body: Some(Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes[..end]))),
                        body_encoding: Some("base64"),
                        truncated: cut.then_some(true),
                        size: cut.then_some(size),
                        ..Default::default()
                    }
                }
            }
        }
    }
}

/// `text` (already redacted), cut to `max` bytes on a character boundary.
fn cut_text(text: &str, size: usize, already_cut: bool, max: usize) -> BodyFields {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = already_cut || end < text.len();
    BodyFields {
        body: Some(Value::String(text[..end].to_owned())),
        truncated: cut.then_some(true),
        size: cut.then_some(size),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic_log::Direction;
    use actix_web::http::header::{HeaderMap, HeaderValue};
    use bytes::Bytes;

    fn event(body: EventBody, max: usize) -> Event {
        let mut headers = HeaderMap::new();
        headers.insert(actix_web::http::header::AUTHORIZATION, HeaderValue::from_static("Bearer sk-abcdefghijkl"));
        Event {
            time: std::time::SystemTime::UNIX_EPOCH,
            listener: Arc::from("default"),
            request_id: Arc::from("req-1"),
            direction: Direction::UpstreamRequest,
            method: Some(actix_web::http::Method::POST),
            url: Some("http://up/v1/chat/completions".to_owned()),
            path: None,
            status: None,
            headers: Some(headers),
            body,
            body_max: max,
            consumer: None,
        }
    }

    fn line(body: EventBody, max: usize) -> Value {
        serde_json::from_str(&format_line(&Redactor::new(vec![]), &event(body, max))).unwrap()
    }

    #[test]
    fn a_line_has_the_head_and_the_redacted_body() {
        let body = Bytes::from_static(br#"{"model":"m","api_key":"plain-secret"}"#);
        let text = format_line(&Redactor::new(vec![]), &event(EventBody::Bytes { bytes: body, total: None }, 1000));
        assert!(text.starts_with(r#"{"time":"1970-01-01T00:00:00.000Z","listener":"default","request_id":"req-1","direction":"upstream-request","method":"POST""#), "{text}");
        assert!(!text.contains("plain-secret") && !text.contains("sk-abcdefghijkl"), "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["headers"]["authorization"], "[redacted]");
        assert_eq!(value["body"], r#"{"api_key":"[redacted]","model":"m"}"#);
        assert!(value.get("truncated").is_none());
    }

    #[test]
    fn long_bodies_are_cut_after_redaction() {
        let body = Bytes::from(format!(r#"{{"api_key":"plain-secret","text":"{}"}}"#, "é".repeat(50)));
        let value = line(EventBody::Bytes { bytes: body.clone(), total: None }, 30);
        assert_eq!(value["body"], r#"{"api_key":"[redacted]","text""#);
        assert_eq!((value["truncated"].as_bool(), value["size"].as_u64()), (Some(true), Some(body.len() as u64)));
        // A chunk cut on the request path (inside a character) keeps its mark.
        let cut = Bytes::copy_from_slice(&"aé".as_bytes()[..2]);
        let value = line(EventBody::Bytes { bytes: cut, total: Some(40) }, 30);
        assert_eq!((value["body"].as_str(), value["size"].as_u64()), (Some("a"), Some(40)));
    }

    #[test]
    fn binary_bodies_are_base64_and_markers_are_explicit() {
        let value = line(EventBody::Bytes { bytes: Bytes::from_static(&[0xff, 0, 1, 2]), total: None }, 3);
        assert_eq!((value["body"].as_str(), value["body_encoding"].as_str()), (Some("/wAB"), Some("base64")));
        assert_eq!(value["truncated"], true);
        let value = line(EventBody::Streamed, 3);
        assert_eq!((value["body"].clone(), value["streamed"].as_bool()), (Value::Null, Some(true)));
        assert!(line(EventBody::None, 3).get("body").is_none());
    }
}
