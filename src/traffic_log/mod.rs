//! The traffic log: one JSON line per event of an exchange, written to a file
//! (`relay serve --log FILE`, or `log = "FILE"` of a `[listener.NAME]`).
//!
//! The request path never waits for the log. It builds an [`Event`] out of
//! what it already holds (a header map clone, `Bytes` shared by refcount) and
//! hands it to a bounded channel with `try_send`; [`writer`] owns the file on
//! its own OS thread, where the line is redacted ([`redact`]), cut to the body
//! limit and written. A full channel (a slow disk) or a failing file (a full
//! disk) drops the event and counts it ([`Stats`]); the writer warns about
//! drops at most every ten seconds. Without a log configured the executor
//! holds `None` and builds nothing.
//!
//! Events of one request share its request id, in this order:
//! `client-request`, then per upstream attempt `upstream-request` and
//! `upstream-response` (the head), then `client-response` (the head the
//! client gets) and the body: `upstream-chunk` for each piece the upstream
//! sent, and `client-chunk` for what the client got only where the relay
//! changed it (the `chat_to_responses` bridge). Chunk bodies are logged up to
//! the body limit per request and direction; the chunk that crosses it is
//! cut and marked `truncated`, later ones are not logged.

pub mod redact;
pub mod tap;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::SystemTime;

use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use bytes::Bytes;

/// Bodies longer than this are cut unless configured otherwise.
pub const DEFAULT_BODY_MAX: u64 = 64 * 1024;

/// Events waiting for the writer; more are dropped.
pub const QUEUE: usize = 4096;

/// What an event describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientRequest,
    UpstreamRequest,
    /// A piece of the client's body as it streams to the upstream.
    RequestChunk,
    UpstreamResponse,
    UpstreamChunk,
    ClientResponse,
    ClientChunk,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientRequest => "client-request",
            Direction::UpstreamRequest => "upstream-request",
            Direction::RequestChunk => "request-chunk",
            Direction::UpstreamResponse => "upstream-response",
            Direction::UpstreamChunk => "upstream-chunk",
            Direction::ClientResponse => "client-response",
            Direction::ClientChunk => "client-chunk",
        }
    }
}

/// The body of an event, as the request path holds it.
#[derive(Debug, Clone)]
pub enum EventBody {
    /// The message has no body.
    None,
    /// The body streams through the relay unread, so it is not logged.
    Streamed,
    /// The body is not logged, for the reason given (e.g. `multipart`).
    Omitted(&'static str),
    /// The bytes; `total` is the size before a chunk was cut on the request
    /// path (the writer cuts everything else).
    Bytes { bytes: Bytes, total: Option<usize> },
    /// A JSON value the relay made (its own error answers).
    Json(serde_json::Value),
}

/// One line of the log, before redaction.
#[derive(Debug)]
pub struct Event {
    pub time: SystemTime,
    pub listener: Arc<str>,
    pub request_id: Arc<str>,
    pub direction: Direction,
    pub method: Option<Method>,
    /// `url` for upstream requests, `path` (with query) for client requests.
    pub url: Option<String>,
    pub path: Option<String>,
    pub status: Option<StatusCode>,
    pub headers: Option<HeaderMap>,
    pub body: EventBody,
    pub body_max: usize,
    /// The consumer whose key the request carried (client requests only).
    pub consumer: Option<Arc<str>>,
}

/// Counters shared by the request path and the writer.
#[derive(Debug, Default)]
pub struct Stats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
}

/// One open log file: the writer's queue and its counters.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    sender: SyncSender<Event>,
    stats: Arc<Stats>,
}

impl LogFile {
    /// Opens (truncates) `path` and starts its writer thread. `secrets` are
    /// masked wherever they appear in a line.
    pub fn open(path: &Path, secrets: Vec<String>) -> std::io::Result<Arc<LogFile>> {
        let stats = Arc::new(Stats::default());
        let sender = writer::start(path, redact::Redactor::new(secrets), stats.clone(), QUEUE)?;
        Ok(Arc::new(LogFile { path: path.to_path_buf(), sender, stats }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Queues an event, or drops and counts it. Never blocks.
    fn send(&self, event: Event) {
        match self.sender.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(crate::telemetry::metrics::TRAFFIC_LOG_EVENTS, "outcome" => "dropped").increment(1);
            }
        }
    }
}

/// A listener's handle on its log file.
#[derive(Debug, Clone)]
pub struct TrafficLog {
    file: Arc<LogFile>,
    listener: Arc<str>,
    body_max: usize,
}

impl TrafficLog {
    pub fn new(file: Arc<LogFile>, listener: &str, body_max: u64) -> TrafficLog {
        let body_max = usize::try_from(body_max).unwrap_or(usize::MAX);
        TrafficLog { file, listener: Arc::from(listener), body_max }
    }

    /// The events of one request, which arrived at `arrived`.
    pub fn request(&self, request_id: &str, arrived: SystemTime) -> RequestLog {
        let client = Arc::new(ClientRequest { arrived, logged: AtomicBool::new(false), consumer: Default::default() });
        RequestLog { log: self.clone(), request_id: Arc::from(request_id), client }
    }

    /// `{"file", "written", "dropped"}` for `/relay/status`.
    pub fn status(&self) -> serde_json::Value {
        let stats = self.file.stats();
        serde_json::json!({
            "file": self.file.path().display().to_string(),
            "written": stats.written.load(Ordering::Relaxed),
            "dropped": stats.dropped.load(Ordering::Relaxed),
        })
    }
}

/// The log of one request: every event it sends carries its id.
#[derive(Debug, Clone)]
pub struct RequestLog {
    log: TrafficLog,
    request_id: Arc<str>,
    client: Arc<ClientRequest>,
}

/// The `client-request` event is sent once, with the arrival time.
#[derive(Debug)]
struct ClientRequest {
    arrived: SystemTime,
    logged: AtomicBool,
    consumer: std::sync::OnceLock<Arc<str>>,
}

impl RequestLog {
    /// An event of this request with only its direction set.
    pub fn event(&self, direction: Direction) -> Event {
        Event {
            time: SystemTime::now(),
            listener: self.log.listener.clone(),
            request_id: self.request_id.clone(),
            direction,
            method: None,
            url: None,
            path: None,
            status: None,
            headers: None,
            body: EventBody::None,
            body_max: self.log.body_max,
            consumer: None,
        }
    }

    pub fn send(&self, event: Event) {
        self.log.file.send(event);
    }

    /// Sends `client-request`, unless it was sent already: the executor
    /// sends it with the body once it knows it; the handler sends the head
    /// alone for a request answered earlier.
    pub fn client_request(&self, method: &Method, target: &str, headers: &HeaderMap, body: EventBody) {
        if self.client.logged.swap(true, Ordering::Relaxed) {
            return;
        }
        let head = self.head(Direction::ClientRequest, headers, body);
        self.send(Event {
            time: self.client.arrived,
            method: Some(method.clone()),
            path: Some(target.to_owned()),
            consumer: self.client.consumer.get().cloned(),
            ..head
        });
    }

    /// Names the consumer in the `client-request` event (before it is sent).
    pub fn set_consumer(&self, name: &str) {
        let _ = self.client.consumer.set(Arc::from(name));
    }

    /// Sends `upstream-request` for one attempt.
    pub fn upstream_request(&self, method: &Method, url: &str, headers: &HeaderMap, body: EventBody) {
        let head = self.head(Direction::UpstreamRequest, headers, body);
        self.send(Event { method: Some(method.clone()), url: Some(url.to_owned()), ..head });
    }

    /// Sends a response head (`upstream-response` or `client-response`).
    pub fn response(&self, direction: Direction, status: StatusCode, headers: &HeaderMap, body: EventBody) {
        self.send(Event { status: Some(status), ..self.head(direction, headers, body) });
    }

    /// A head: request (`method` and a `url` or `path`) or response (`status`).
    pub fn head(&self, direction: Direction, headers: &HeaderMap, body: EventBody) -> Event {
        Event { headers: Some(headers.clone()), body, ..self.event(direction) }
    }

    /// The start of a body budget for one direction's chunks.
    pub fn chunks(&self, direction: Direction) -> ChunkLog {
        ChunkLog { log: self.clone(), direction, left: self.log.body_max, done: false }
    }
}

/// Logs the chunks of one body until its budget is spent.
#[derive(Debug)]
pub struct ChunkLog {
    log: RequestLog,
    direction: Direction,
    left: usize,
    done: bool,
}

impl ChunkLog {
    /// Logs `chunk` (cut, and marked, where it crosses the budget).
    pub fn chunk(&mut self, chunk: &Bytes) {
        if self.done {
            return;
        }
        let body = if chunk.len() <= self.left {
            self.left -= chunk.len();
            EventBody::Bytes { bytes: chunk.clone(), total: None }
        } else {
            self.done = true;
            // A copy, so the queue does not keep the whole chunk alive.
            let cut = Bytes::copy_from_slice(&chunk[..self.left]);
            EventBody::Bytes { bytes: cut, total: Some(chunk.len()) }
        };
        self.log.send(Event { body, ..self.log.event(self.direction) });
    }
}
