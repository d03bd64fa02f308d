//! Prometheus metrics, labelled by listener and route id (never by raw
//! path), rendered at `/metrics` on the admin address.
//!
//! The request path uses handles cached per worker thread and route
//! ([`WorkerMetrics`]), so counting a request costs no label formatting or
//! registry lookup; rare events (refusals, failures, reloads) use the
//! `metrics` macros directly.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use actix_web::http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::table::Table;

pub const REQUESTS: &str = "relay_requests_total";
pub const REQUEST_DURATION: &str = "relay_request_duration_seconds";
pub const UPSTREAM_TTFB: &str = "relay_upstream_ttfb_seconds";
pub const REQUEST_BYTES: &str = "relay_request_bytes_total";
pub const RESPONSE_BYTES: &str = "relay_response_bytes_total";
pub const OPEN_STREAMS: &str = "relay_open_sse_streams";
pub const OPEN_WEBSOCKETS: &str = "relay_open_websocket_sessions";
pub const UPSTREAM_FAILURES: &str = "relay_upstream_failures_total";
pub const RETRIES: &str = "relay_upstream_retries_total";
pub const VERIFY_PROBES: &str = "relay_verify_probes_total";
pub const RELOADS: &str = "relay_reloads_total";
pub const TABLE_VERSION: &str = "relay_table_version";
pub const SINCE_GOOD_RELOAD: &str = "relay_seconds_since_last_good_reload";
pub const FILES_IN_ERROR: &str = "relay_spec_files_in_error";
pub const TRAFFIC_LOG_EVENTS: &str = "relay_traffic_log_events_total";
pub const ACCESS_LOG_DROPPED: &str = "relay_access_log_dropped_total";
pub const FETCH_REFUSALS: &str = "relay_fetch_refusals_total";
pub const GUARD_DENIALS: &str = "relay_guard_denials_total";
pub const KEY_REFUSALS: &str = "relay_key_refusals_total";
pub const CONSUMER_TOKENS: &str = "relay_consumer_tokens_total";

/// Buckets of request and first-byte times: from a cached answer to a long
/// model stream.
const SECONDS_BUCKETS: [f64; 14] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// When the last good reload published a table (seconds since the epoch).
static GOOD_RELOAD_AT: AtomicU64 = AtomicU64::new(0);

/// Installs the process's recorder (once); later calls return the same.
/// Without it every metric is a no-op.
pub fn install() -> Option<&'static PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Some(handle);
    }
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS)
        .ok()?;
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).ok()?;
    let handle = HANDLE.get_or_init(|| handle);
    std::thread::Builder::new()
        .name("relay-metrics-upkeep".into())
        .spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                if let Some(handle) = HANDLE.get() {
                    handle.run_upkeep();
                }
            }
        })
        .ok()?;
    Some(handle)
}

/// The metrics in Prometheus' text format (empty before [`install`]).
pub fn render() -> String {
    let Some(handle) = HANDLE.get() else { return String::new() };
    let at = GOOD_RELOAD_AT.load(Ordering::Relaxed);
    if at > 0 {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
        metrics::gauge!(SINCE_GOOD_RELOAD).set(now.saturating_sub(at) as f64);
    }
    handle.render()
}

/// A reload's outcome: counted, and the table's version and the files in
/// error kept as gauges.
pub fn reloaded(outcome: &'static str, version: u64, files_in_error: usize, good_at: Option<SystemTime>) {
    metrics::counter!(RELOADS, "outcome" => outcome).increment(1);
    metrics::gauge!(TABLE_VERSION).set(version as f64);
    metrics::gauge!(FILES_IN_ERROR).set(files_in_error as f64);
    if let Some(at) = good_at.and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok()) {
        GOOD_RELOAD_AT.store(at.as_secs(), Ordering::Relaxed);
    }
}

/// The handles of one route on one listener.
pub struct RouteHandles {
    /// Per method, per status class (1xx to 5xx).
    requests: Vec<(Method, [Counter; 5])>,
    duration: Histogram,
    upstream_ttfb: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
}

impl RouteHandles {
    fn new(listener: &str, route: &crate::table::Route) -> RouteHandles {
        let (listener, id) = (listener.to_owned(), route.id.clone());
        let requests = route
            .methods
            .iter()
            .map(|method| {
                let class = |class: &'static str| {
                    metrics::counter!(REQUESTS, "listener" => listener.clone(), "route" => id.clone(),
                        "method" => method.as_str().to_owned(), "status" => class)
                };
                (method.clone(), [class("1xx"), class("2xx"), class("3xx"), class("4xx"), class("5xx")])
            })
            .collect();
        RouteHandles {
            requests,
            duration: metrics::histogram!(REQUEST_DURATION, "listener" => listener.clone(), "route" => id.clone()),
            upstream_ttfb: metrics::histogram!(UPSTREAM_TTFB, "listener" => listener.clone(), "route" => id.clone()),
            bytes_in: metrics::counter!(REQUEST_BYTES, "listener" => listener.clone(), "route" => id.clone()),
            bytes_out: metrics::counter!(RESPONSE_BYTES, "listener" => listener, "route" => id),
        }
    }

    /// Counts one finished request.
    pub fn finished(&self, done: &Done) {
        let class = usize::from(done.status.as_u16() / 100).clamp(1, 5) - 1;
        if let Some((_, counters)) = self.requests.iter().find(|(method, _)| *method == done.method) {
            counters[class].increment(1);
        }
        self.duration.record(done.duration.as_secs_f64());
        if let Some(ttfb) = done.upstream_ttfb {
            self.upstream_ttfb.record(ttfb.as_secs_f64());
        }
        self.bytes_in.increment(done.bytes_in);
        self.bytes_out.increment(done.bytes_out);
    }
}

/// What is known of a request when its answer is finished.
pub struct Done {
    pub method: Method,
    pub status: StatusCode,
    pub duration: Duration,
    pub upstream_ttfb: Option<Duration>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Handles cached by one worker thread for its listener, per route of the
/// table version in force (rebuilt when a reload publishes another).
pub struct WorkerMetrics {
    listener: String,
    cache: RefCell<(u64, Vec<Option<Rc<RouteHandles>>>)>,
}

impl WorkerMetrics {
    pub fn new(listener: &str) -> WorkerMetrics {
        WorkerMetrics { listener: listener.to_owned(), cache: RefCell::new((0, Vec::new())) }
    }

    /// The handles of route `index` of `table`.
    pub fn route(&self, table: &Table, index: usize) -> Option<Rc<RouteHandles>> {
        let route = table.routes.get(index)?;
        let mut cache = self.cache.borrow_mut();
        if cache.0 != table.version || cache.1.len() != table.routes.len() {
            *cache = (table.version, vec![None; table.routes.len()]);
        }
        let slot = cache.1.get_mut(index)?;
        Some(slot.get_or_insert_with(|| Rc::new(RouteHandles::new(&self.listener, route))).clone())
    }
}
