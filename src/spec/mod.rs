//! Route spec files as written by users: plain serde types, nothing checked yet.
//!
//! Every file in `routes.d/` is one [`SpecFile`]. Unknown keys are errors
//! (`deny_unknown_fields`) so a typo never silently changes behaviour. Values
//! that `compile` has to point back at are wrapped in [`Spanned`] so an error
//! can name the line and column. Turning these types into the runtime table is
//! the job of [`crate::compile`].
//!
//! The full format is documented in `docs/spec-format.md`.

mod compact;
pub mod consumer;
mod edge;
pub mod example;
pub mod guard;
mod load;
pub mod merge;
pub mod provenance;
pub mod retry;
mod route;
pub mod schema;
mod syntax;
pub mod units;

pub use edge::{CorsSpec, RouteCorsSpec, TlsSpec};
pub use load::{DIR_DEFAULTS_FILE, SourceFile, is_spec_file_name, load_dir, parse_file, read_spec, spec_paths};
pub use route::{InlineRouteSpec, RouteSpec};

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One file of `routes.d/`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Upstreams this file defines, by name. Names are global across files.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, UpstreamSpec>")]
    pub upstream: BTreeMap<String, Spanned<UpstreamSpec>>,
    /// Values every `[[route]]` of this file inherits unless it sets its own.
    #[serde(default)]
    pub defaults: RouteDefaults,
    /// The routes of this file, in order; after parsing this includes the
    /// entries of `[routes]`, expanded.
    #[serde(default)]
    #[schemars(with = "Vec<RouteSpec>")]
    pub route: Vec<Spanned<RouteSpec>>,
    /// `[routes]`: plain passthrough routes, one line each (see [`compact`]).
    /// Empty once the file is parsed.
    #[serde(default)]
    pub routes: compact::CompactRoutes,
    /// Extra listeners this file declares, by name. Names are global across
    /// files; `default` is the listener of `relay serve --listen`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ListenerSpec>")]
    pub listener: BTreeMap<String, Spanned<ListenerSpec>>,
    /// Callers and their keys, permissions and limits, by name. Names are
    /// global across files.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, consumer::ConsumerSpec>")]
    pub consumer: BTreeMap<String, Spanned<consumer::ConsumerSpec>>,
    /// Prices per million tokens, by model (glob), for budgets in dollars.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, consumer::PriceSpec>")]
    pub price: BTreeMap<String, Spanned<consumer::PriceSpec>>,
    /// Where limit counters live (at most one file sets it).
    #[schemars(with = "Option<consumer::StateSpec>")]
    pub state: Option<Spanned<consumer::StateSpec>>,
}

/// `[listener.NAME]`: another address the relay serves, with its own routes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerSpec {
    /// `host:port`; `${VAR}` and `${VAR:-default}` expand.
    #[schemars(with = "String")]
    pub listen: Spanned<String>,
    /// A traffic log file for this listener's requests (truncated when
    /// `relay serve` starts; a relative path is relative to the working
    /// directory). `${VAR}` expands.
    #[schemars(with = "Option<String>")]
    pub log: Option<Spanned<String>>,
    /// Bodies longer than this are cut in the traffic log (default: `relay
    /// serve --log-body-max`, else `64KiB`).
    #[schemars(with = "Option<String>")]
    pub log_body_max: Option<Spanned<String>>,
    /// Also serve the routes of this listener, where none of this
    /// listener's own routes has the same path and method.
    #[schemars(with = "Option<String>")]
    pub inherit: Option<Spanned<String>>,
    /// Serve this listener over TLS (see [`TlsSpec`]).
    #[schemars(with = "Option<TlsSpec>")]
    pub tls: Option<Spanned<TlsSpec>>,
    /// Browser origins allowed on this listener's routes (see [`CorsSpec`]).
    #[schemars(with = "Option<CorsSpec>")]
    pub cors: Option<Spanned<CorsSpec>>,
}

/// `[upstream.NAME]`: where requests go and how the relay authenticates there.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Base URL including the version prefix, OpenAI SDK style
    /// (`https://api.openai.com/v1`). `${VAR}` and `${VAR:-default}` expand.
    #[schemars(with = "String")]
    pub base_url: Spanned<String>,
    /// How the relay authenticates to this upstream.
    #[serde(default)]
    #[schemars(with = "Option<UpstreamAuthSpec>")]
    pub auth: Option<Spanned<UpstreamAuthSpec>>,
    /// Extra headers sent on every request; values expand `${VAR}`, and a
    /// header whose value expands to an empty string is not sent.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Time allowed to open a connection (default `10s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Spanned<String>>,
    /// Time allowed until response headers arrive (default `600s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Longest silence inside a streamed response body (default `300s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub idle_timeout: Option<Spanned<String>>,
    /// Replaces the upstream of the same name defined in another file.
    #[serde(default, rename = "override")]
    pub replaces: bool,
}

/// `auth = { ... }` of an upstream.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, tag = "mode", rename_all = "snake_case")]
pub enum UpstreamAuthSpec {
    /// Send `Authorization: Bearer <key>` with the key read from `env`.
    Bearer {
        /// Environment variable holding the key.
        env: String,
        /// What to do when the variable is unset or empty.
        #[serde(default)]
        when_missing: WhenKeyMissing,
    },
    /// Forward the client's own `Authorization` header unchanged.
    Passthrough,
    /// Send no credentials.
    None,
}

/// What a `bearer` upstream does when its key is not configured.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenKeyMissing {
    /// Forward without credentials (the upstream will answer 401 itself).
    #[default]
    Omit,
    /// Answer 403 without contacting the upstream.
    Forbid,
}

/// `[defaults]`: the route keys a file (or a directory's `_defaults.toml`)
/// sets once for all its routes; see [`merge`] for how they combine.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteDefaults {
    #[schemars(with = "Option<String>")]
    pub upstream: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub idle_timeout: Option<Spanned<String>>,
    pub public: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub headers: Option<HeaderPolicySpec>,
    pub response_headers: Option<ResponseHeaderSpec>,
    pub body: Option<BodySpec>,
    #[schemars(with = "Option<retry::RetrySpec>")]
    pub retry: Option<Spanned<retry::RetrySpec>>,
    #[schemars(with = "Option<Vec<String>>")]
    pub listeners: Option<Spanned<Vec<String>>>,
}

/// What a route relays: HTTP requests, or WebSocket sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Http,
    /// The route accepts `GET` with `Upgrade: websocket` and relays frames.
    Websocket,
}

/// `[route.websocket]`: the limits of one WebSocket session.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSpec {
    /// Largest message (text or binary, after reassembling fragments) in
    /// either direction (default `16MiB`); a bigger one ends the session: 1009.
    #[schemars(with = "Option<String>")]
    pub max_message: Option<Spanned<String>>,
    /// Longest time without any frame in either direction (default `5m`): 1001.
    #[schemars(with = "Option<String>")]
    pub idle_timeout: Option<Spanned<String>>,
    /// Longest session (default `60m`): 1008.
    #[schemars(with = "Option<String>")]
    pub max_duration: Option<Spanned<String>>,
}

/// `openapi = { ... }` of a route.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSpec {
    /// Defaults to the route id with `.` and `-` turned into `_`.
    pub operation_id: Option<String>,
    /// The ChatGPT Actions sets this route is published in.
    #[serde(default)]
    pub actions: Vec<String>,
    /// `x-openai-isConsequential`; defaults to false for GET, true otherwise.
    pub consequential: Option<bool>,
    #[serde(default)]
    pub deprecated: bool,
    /// What the route answers, for the document (default `json`).
    pub response: Option<ResponseKind>,
    /// Hide the route from the generated documents.
    #[serde(default)]
    pub hidden: bool,
    /// JSON Schema of the JSON request body, a file in `schemas/`
    /// (documents only; the `validate` transform enforces a schema).
    #[schemars(with = "Option<String>")]
    pub request_schema: Option<Spanned<String>>,
    /// JSON Schema of the `multipart/form-data` parts, a file in `schemas/`.
    #[schemars(with = "Option<String>")]
    pub multipart_schema: Option<Spanned<String>>,
    /// Object schema whose properties are the query parameters.
    #[schemars(with = "Option<String>")]
    pub query_schema: Option<Spanned<String>>,
    /// JSON Schema of the 2xx JSON answer, a file in `schemas/`.
    #[schemars(with = "Option<String>")]
    pub response_schema: Option<Spanned<String>>,
}

/// What a route answers with, as documented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    #[default]
    Json,
    /// JSON, or SSE when the request asks to stream.
    JsonOrSse,
    Sse,
    Binary,
    Empty,
    Sdp,
}

/// `method = "GET"` or `method = ["GET", "POST"]`, kept as written.
#[derive(Debug)]
pub struct Methods(pub Vec<String>);

impl<'de> Deserialize<'de> for Methods {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Methods;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a method such as \"GET\" or a list such as [\"GET\", \"POST\"]")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Methods, E> {
                Ok(Methods(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Methods, A::Error> {
                let mut methods = Vec::new();
                while let Some(m) = seq.next_element::<String>()? {
                    methods.push(m);
                }
                Ok(Methods(methods))
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// How the response body travels back to the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Bytes are relayed as they arrive (SSE, downloads, JSON alike).
    #[default]
    Stream,
    /// The whole body is read first (bounded by `body.max_response`), then sent.
    Buffer,
}

/// `headers = { ... }`: the request header policy of a route.
///
/// Hop-by-hop headers, `Host`, `Content-Length`, `Expect`, the client's
/// `Authorization` and `X-Relay-Key` never pass, whatever this says (except
/// `Authorization` on a `passthrough` upstream).
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderPolicySpec {
    /// If set, only these client headers pass (case-insensitive).
    pub pass: Option<Vec<String>>,
    /// Client headers that never pass.
    pub remove: Option<Vec<String>>,
    /// Headers set upstream, replacing the client's.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub set: BTreeMap<String, Spanned<String>>,
    /// Headers set upstream only when the client did not send them.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub default: BTreeMap<String, Spanned<String>>,
}

/// `query = { default = { limit = "20" } }`: parameters added to the
/// upstream query when the client's query does not have them (e.g. a small
/// page size for ChatGPT Actions, whose answers must stay short).
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    #[serde(default)]
    pub default: BTreeMap<String, String>,
}

/// `response_headers = { ... }`.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseHeaderSpec {
    pub remove: Option<Vec<String>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub set: BTreeMap<String, Spanned<String>>,
}

/// `body = { ... }`: what request bodies a route takes.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// Accepted media types (`application/json`, `multipart/form-data`, `*/*`).
    /// A request with a body of another type gets 415. Empty means any.
    pub accept: Option<Vec<String>>,
    /// Largest request body, e.g. `"512MiB"` (default `512MiB`).
    #[schemars(with = "Option<String>")]
    pub max: Option<Spanned<String>>,
    /// Longest pause while the client sends its body (default `60s`): 408.
    #[schemars(with = "Option<String>")]
    pub idle_timeout: Option<Spanned<String>>,
    /// Largest response body a `buffer` route reads (default `16MiB`).
    #[schemars(with = "Option<String>")]
    pub max_response: Option<Spanned<String>>,
}
