//! The access log: one line per finished request (and per closed stream or
//! WebSocket session), as text or JSON, written by a thread of its own.
//!
//! The request path formats the line and hands it to a bounded queue with a
//! `try_send`: a slow or full output drops lines (counted in
//! `relay_access_log_dropped_total`), never a request. A line holds no
//! secret: no headers, no query values, no bodies.
//!
//! The writer wakes for the first line after a quiet spell, then gathers
//! lines for [`GATHER`] and writes them at once. Waking it and writing for
//! every line cost the relay more CPU than the rest of a small request's
//! handling (a context switch and a `write` each); gathered, a busy relay
//! pays a few wake-ups a second. A line shows at most [`GATHER`] late, and
//! the lines in hand are written before the relay exits ([`Writer::finish`]).

use std::fmt::Write as _;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

use actix_web::http::{Method, StatusCode};

/// Lines queued for the writer before new ones are dropped: what a relay
/// answering 300,000 requests a second writes in one [`GATHER`].
const QUEUE: usize = 16_384;

/// How long the writer gathers lines before it writes them.
const GATHER: Duration = Duration::from_millis(50);

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!("{other:?} is not a log format; write text or json")),
        }
    }
}

/// One finished request, as the access log shows it.
pub struct Entry<'a> {
    pub time: SystemTime,
    pub request_id: &'a str,
    pub listener: &'a str,
    /// `-` when no route matched.
    pub route: &'a str,
    pub method: &'a Method,
    /// Without the query.
    pub path: &'a str,
    pub status: StatusCode,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
    pub upstream_ttfb: Option<Duration>,
    pub retries: u32,
    /// Whether the client got the whole answer (false: it went away).
    pub completed: bool,
    /// The consumer whose key the request carried.
    pub consumer: Option<&'a str>,
    /// The tokens the upstream reported for a consumer's request.
    pub usage: Option<&'a crate::quota::usage::Usage>,
}

/// The writer's end of the access log; cheap to clone.
#[derive(Clone)]
pub struct AccessLog {
    lines: SyncSender<String>,
    format: Format,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").field("format", &self.format).finish_non_exhaustive()
    }
}

/// The writer thread, to be waited for when the relay stops.
pub struct Writer {
    /// Closed by the thread once it has written its last line.
    done: Receiver<()>,
}

impl Writer {
    /// Waits, at most `deadline`, for the writer to write what it holds and
    /// end: it ends once every [`AccessLog`] is dropped.
    pub fn finish(self, deadline: Duration) {
        let _ = self.done.recv_timeout(deadline);
    }
}

impl AccessLog {
    /// Starts the writer thread for `output`.
    pub fn start(output: Box<dyn Write + Send>, format: Format) -> std::io::Result<(AccessLog, Writer)> {
        let (lines, queue) = sync_channel(QUEUE);
        let (finished, done) = sync_channel(0);
        std::thread::Builder::new().name("relay-access-log".into()).spawn(move || {
            write_lines(queue, output);
            drop(finished);
        })?;
        Ok((AccessLog { lines, format }, Writer { done }))
    }

    /// Queues the line of `entry`.
    pub fn record(&self, entry: &Entry<'_>) {
        let line = match self.format {
            Format::Text => text(entry),
            Format::Json => json(entry),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.lines.try_send(line) {
            metrics::counter!(super::metrics::ACCESS_LOG_DROPPED).increment(1);
        }
    }
}

/// Writes lines until every sender is gone: blocks while the relay is
/// quiet, and gathers for [`GATHER`] once a line comes.
fn write_lines(queue: Receiver<String>, output: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, output);
    while let Ok(line) = queue.recv() {
        let _ = out.write_all(line.as_bytes());
        // Asleep here, the writer is not woken by the lines that come in.
        std::thread::sleep(GATHER);
        let open = loop {
            match queue.try_recv() {
                Ok(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Err(TryRecvError::Empty) => break true,
                Err(TryRecvError::Disconnected) => break false,
            }
        };
        let _ = out.flush();
        if !open {
            return;
        }
    }
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Milliseconds with three decimals, e.g. `12.345`, written from integers
/// (this runs for every request; float formatting costs more).
fn write_millis(line: &mut String, duration: Duration) {
    let micros = duration.as_micros();
    push_number(line, micros / 1000);
    line.push('.');
    push_thousandths(line, (micros % 1000) as u16);
    // `2.500` reads as the JSON form does: `2.5`.
    while line.ends_with('0') {
        line.pop();
    }
    if line.ends_with('.') {
        line.pop();
    }
}

fn push_number(line: &mut String, number: impl itoa::Integer) {
    line.push_str(itoa::Buffer::new().format(number));
}

/// `thousandths` (below 1000) as three digits: `7` is `007`.
fn push_thousandths(line: &mut String, thousandths: u16) {
    for digit in [thousandths / 100 % 10, thousandths / 10 % 10, thousandths % 10] {
        line.push(char::from(b'0' + digit as u8));
    }
}

thread_local! {
    /// The second last formatted on this thread and its text up to the
    /// seconds (`2026-12-02T06:39:12`): a busy relay formats a date once a
    /// second, not once a line.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// `2026-12-02T06:39:12.345Z`, in UTC.
fn write_time(line: &mut String, time: SystemTime) {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != since.as_secs() {
            *second = since.as_secs();
            text.clear();
            let _ = write!(text, "{}", humantime::format_rfc3339_seconds(time));
            text.pop(); // the `Z`
        }
        line.push_str(text);
    });
    line.push('.');
    push_thousandths(line, since.subsec_millis() as u16);
    line.push('Z');
}

/// `time id listener route "METHOD path" status in out ms ttfb_ms retries`,
/// then `consumer=NAME` and `tokens=IN+OUT` when known. Written piece by
/// piece: `write!` costs the relay thousands of instructions a line.
fn text(e: &Entry<'_>) -> String {
    let mut line = String::with_capacity(192);
    write_time(&mut line, e.time);
    for field in [" ", e.request_id, " ", e.listener, " ", e.route, " \"", e.method.as_str(), " ", e.path, "\" "] {
        line.push_str(field);
    }
    push_number(&mut line, e.status.as_u16());
    line.push(' ');
    push_number(&mut line, e.bytes_in);
    line.push(' ');
    push_number(&mut line, e.bytes_out);
    line.push(' ');
    write_millis(&mut line, e.duration);
    line.push(' ');
    match e.upstream_ttfb {
        Some(ttfb) => write_millis(&mut line, ttfb),
        None => line.push('-'),
    }
    line.push(' ');
    push_number(&mut line, e.retries);
    if !e.completed {
        line.push_str(" client-gone");
    }
    if let Some(consumer) = e.consumer {
        line.push_str(" consumer=");
        line.push_str(consumer);
    }
    if let Some(usage) = e.usage {
        line.push_str(" tokens=");
        push_number(&mut line, usage.input);
        line.push('+');
        push_number(&mut line, usage.output);
    }
    line.push('\n');
    line
}

fn json(e: &Entry<'_>) -> String {
    let mut line = serde_json::json!({
        "time": humantime::format_rfc3339_millis(e.time).to_string(),
        "kind": "access",
        "request_id": e.request_id,
        "listener": e.listener,
        "route": e.route,
        "method": e.method.as_str(),
        "path": e.path,
        "status": e.status.as_u16(),
        "bytes_in": e.bytes_in,
        "bytes_out": e.bytes_out,
        "duration_ms": millis(e.duration),
        "upstream_ttfb_ms": e.upstream_ttfb.map(millis),
        "retries": e.retries,
        "completed": e.completed,
        "consumer": e.consumer,
        "input_tokens": e.usage.map(|u| u.input),
        "output_tokens": e.usage.map(|u| u.output),
    })
    .to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: &Method) -> Entry<'_> {
        Entry {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            request_id: "req-1",
            listener: "default",
            route: "chat.completions.create",
            method,
            path: "/v1/chat/completions",
            status: StatusCode::OK,
            bytes_in: 120,
            bytes_out: 3400,
            duration: Duration::from_micros(12_345),
            upstream_ttfb: Some(Duration::from_micros(2_500)),
            retries: 0,
            completed: true,
            consumer: None,
            usage: None,
        }
    }

    #[test]
    fn text_and_json_lines() {
        let post = Method::POST;
        assert_eq!(
            text(&entry(&post)),
            "2027-01-15T08:00:00.000Z req-1 default chat.completions.create \"POST /v1/chat/completions\" 200 120 3400 12.345 2.5 0\n"
        );
        let value: serde_json::Value = serde_json::from_str(&json(&entry(&post))).unwrap();
        assert_eq!(value["route"], "chat.completions.create");
        assert_eq!(value["duration_ms"], 12.345);
        assert_eq!(value["upstream_ttfb_ms"], 2.5);
        let mut gone = entry(&post);
        (gone.completed, gone.upstream_ttfb, gone.duration) = (false, None, Duration::from_micros(7_000));
        gone.time += Duration::from_millis(61_007);
        let usage = crate::quota::usage::Usage { input: 12, output: 5, ..Default::default() };
        (gone.consumer, gone.usage) = (Some("alice"), Some(&usage));
        assert_eq!(
            text(&gone),
            "2027-01-15T08:01:01.007Z req-1 default chat.completions.create \"POST /v1/chat/completions\" 200 120 3400 7 - 0 client-gone consumer=alice tokens=12+5\n"
        );
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert!("xml".parse::<Format>().is_err());
    }
}
