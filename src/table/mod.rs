//! The compiled route table: the immutable snapshot every request runs on.
//!
//! A [`Table`] is built by [`crate::compile`] and published with its
//! documents in the live state ([`crate::live`]). A request keeps its table
//! until its response body has been sent, so a reload never changes the
//! rules under a request that already started. [`path`] checks a raw path
//! before it is matched.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};

pub mod path;

use crate::error::RelayError;

use crate::matcher::{Lookup, Matcher};
use crate::policy::consumer::Consumers;
use crate::policy::guard::Guard;
pub use crate::policy::path_template::{PathPiece, PathTemplate};
use crate::policy::retry::RetryPolicy;
pub use crate::spec::{ResponseMode, WhenKeyMissing};
use crate::transforms::Pipeline;

/// Everything a request needs, compiled and checked.
#[derive(Debug)]
pub struct Table {
    /// Counts the tables published by this process (1 at startup).
    pub version: u64,
    pub routes: Vec<Route>,
    pub upstreams: Vec<Arc<Upstream>>,
    /// `default` first, then the declared listeners by name.
    pub listeners: Vec<Listener>,
    /// The callers the relay knows by their keys (see [`crate::auth`]).
    pub consumers: Consumers,
    pub loaded_at: SystemTime,
    /// The listeners' and routes' CORS settings (see [`crate::cors`]).
    pub cors: crate::cors::CorsTable,
    /// What compiled but is likely a mistake (an unused path parameter).
    pub warnings: Vec<crate::diagnostics::SpecWarning>,
}

/// The listener of `relay serve --listen`, serving every route that names none.
pub const DEFAULT_LISTENER: &str = "default";

/// An address the relay serves and the routes it serves there.
#[derive(Debug)]
pub struct Listener {
    pub name: String,
    /// The declared address; `None` for an undeclared `default`.
    pub listen: Option<std::net::SocketAddr>,
    pub origin: Option<Origin>,
    pub matcher: Matcher,
    /// `log`: this listener's own traffic log file (read at startup only).
    pub log: Option<std::path::PathBuf>,
    /// `log_body_max`: where this listener's logged bodies are cut.
    pub log_body_max: Option<u64>,
    /// `tls`: served over TLS with these files (read at startup, then polled).
    pub tls: Option<crate::tls::CertFiles>,
}

/// A request matched to a route, with the upstream URL it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'p> {
    /// Index into [`Table::routes`].
    pub route: usize,
    /// `base_url` + upstream path + `?` + the client's query, byte for byte.
    pub url: String,
    /// The path parameters' raw values, in the route's `params` order.
    pub params: Vec<&'p str>,
}

impl Table {
    /// The listener named `name`, if this table has it.
    pub fn listener(&self, name: &str) -> Option<&Listener> {
        self.listeners.iter().find(|listener| listener.name == name)
    }

    /// Checks the path, matches the route on `listener` and builds the
    /// upstream URL: what the executor does before anything is sent, and what
    /// `explain` shows. Errors are 400 (unsafe path), 404, 405 and 426 (see
    /// [`Table::resolve_handshake`]).
    pub fn resolve<'p>(
        &self,
        listener: &str,
        method: &Method,
        path: &'p str,
        query: Option<&str>,
    ) -> Result<Resolved<'p>, RelayError> {
        self.resolve_handshake(listener, method, path, query, false)
    }

    /// Like [`Table::resolve`]; `handshake` tells whether the request asks
    /// for a WebSocket upgrade, which only then can match a WebSocket route.
    pub fn resolve_handshake<'p>(
        &self,
        listener: &str,
        method: &Method,
        path: &'p str,
        query: Option<&str>,
        handshake: bool,
    ) -> Result<Resolved<'p>, RelayError> {
        let path = path::check_path(path)?;
        let lookup = match self.listener(listener) {
            Some(listener) => listener.matcher.lookup(method, path, handshake),
            None => Lookup::NotFound,
        };
        let (route, params) = match lookup {
            Lookup::Found { route, params } => (route, params),
            Lookup::MethodNotAllowed { allowed } => {
                let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                return Err(RelayError::method_not_allowed(method.as_str(), path, &list.join(", ")));
            }
            Lookup::UpgradeRequired => return Err(RelayError::upgrade_required(path)),
            Lookup::NotFound => return Err(RelayError::not_found(method.as_str(), path)),
        };
        let target = &self.routes[route];
        let base = &target.upstream.base_url;
        let mut url = String::with_capacity(base.len() + path.len() + query.map_or(0, |q| q.len() + 1));
        url.push_str(base);
        target.upstream_path.render_into(&mut url, &params);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        Ok(Resolved { route, url, params })
    }
}

/// Where a route or upstream was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: std::path::PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A compiled `[upstream.NAME]`.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    /// Base URL without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub auth: UpstreamAuth,
    /// Extra headers sent on every request (empty values already dropped).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub origin: Origin,
}

/// How the relay authenticates to an upstream.
#[derive(Debug)]
pub enum UpstreamAuth {
    /// `Authorization: Bearer <key>`; `None` when the variable was unset.
    Bearer { env: String, header: Option<HeaderValue>, when_missing: WhenKeyMissing },
    /// The client's `Authorization` header is forwarded.
    Passthrough,
    /// No credentials.
    None,
}

/// A compiled `[[route]]`.
#[derive(Debug)]
pub struct Route {
    pub id: String,
    pub methods: Vec<Method>,
    /// The inbound pattern as written, e.g. `/v1/files/{file_id}`.
    pub path: String,
    /// Parameter names of `path`, in order of appearance.
    pub params: Vec<String>,
    pub upstream: Arc<Upstream>,
    pub upstream_path: PathTemplate,
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub response_mode: ResponseMode,
    pub public: bool,
    pub headers: HeaderPolicy,
    /// `query.default`: each name with its encoded `name=value` pair, added
    /// to an upstream query that lacks the name.
    pub query_defaults: Vec<(String, String)>,
    pub response_headers: ResponseHeaderPolicy,
    pub body: BodyRules,
    pub transforms: Pipeline,
    pub retry: Option<RetryPolicy>,
    pub guards: Vec<Guard>,
    /// `[route.models]`: a model list this route serves or filters.
    pub models: Option<crate::model_list::ModelList>,
    /// Names of the listeners serving this route.
    pub listeners: Vec<String>,
    /// HTTP, or WebSocket sessions with their limits.
    pub protocol: Protocol,
    /// `stream_usage`: consumers' streamed chat completions ask for their
    /// usage, which the client does not see unless it asked.
    pub stream_usage: bool,
    /// Whether a multipart form sent here may name a `model`: unless the
    /// route's form schema lists its fields without one (file uploads), so
    /// a consumer's model rule need not read the form.
    pub form_may_name_model: bool,
    pub docs: RouteDocs,
    pub origin: Origin,
    /// The keys whose value a default supplies (dotted, e.g. `body.max`),
    /// with the file holding it: the route's own, or its `_defaults.toml`.
    pub defaulted: Vec<(String, std::path::PathBuf)>,
    /// `[[route.examples]]`, for `relay test`; serving never reads them.
    pub examples: Vec<crate::policy::example::Example>,
}

impl Route {
    /// [`Route::defaulted`] grouped by file, in order of first appearance.
    pub fn defaulted_by_file(&self) -> Vec<(&std::path::Path, Vec<&str>)> {
        let mut out: Vec<(&std::path::Path, Vec<&str>)> = Vec::new();
        for (key, file) in &self.defaulted {
            match out.iter_mut().find(|(seen, _)| *seen == file.as_path()) {
                Some((_, keys)) => keys.push(key),
                None => out.push((file, vec![key])),
            }
        }
        out
    }
}

/// What a compiled route relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    WebSocket(WebSocketLimits),
}

/// The limits of one WebSocket session (see `[route.websocket]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// Largest message in either direction, in bytes.
    pub max_message: usize,
    /// Longest time without a frame in either direction.
    pub idle_timeout: Duration,
    /// Longest session.
    pub max_duration: Duration,
}

/// Which client headers reach the upstream and what the route adds.
#[derive(Debug, Default)]
pub struct HeaderPolicy {
    /// When set, only these client headers pass.
    pub pass: Option<Vec<HeaderName>>,
    pub remove: Vec<HeaderName>,
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub default: Vec<(HeaderName, HeaderValue)>,
}

/// Response headers the route drops or sets.
#[derive(Debug, Default)]
pub struct ResponseHeaderPolicy {
    pub remove: Vec<HeaderName>,
    pub set: Vec<(HeaderName, HeaderValue)>,
}

/// What request bodies a route accepts.
#[derive(Debug)]
pub struct BodyRules {
    /// Accepted media types, lowercase (`type/subtype`, `type/*` or `*/*`);
    /// empty accepts anything.
    pub accept: Vec<String>,
    pub max: u64,
    pub idle_timeout: Duration,
    pub max_response: u64,
}

/// Documentation carried into the generated API documents.
#[derive(Debug, Default)]
pub struct RouteDocs {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub operation_id: String,
    pub actions: Vec<String>,
    pub consequential: Option<bool>,
    pub deprecated: bool,
    pub response: crate::spec::ResponseKind,
    pub hidden: bool,
    /// Where `openapi = {...}` was written, for located Actions checks.
    pub openapi_origin: Option<Origin>,
    /// The schemas `openapi = {...}` names, shared between routes.
    pub schemas: crate::openapi::schemas::RouteSchemas,
}
