//! relay: a config-driven HTTP relay for the OpenAI API.
//!
//! Route specs are data: TOML files in `routes.d/` say what each route
//! matches and how it is forwarded. They are compiled into one immutable
//! [`table::Table`], published behind an `ArcSwap`, and one generic executor
//! serves every request from it.
//!
//! # Layout
//!
//! The modules follow a request from configuration to the wire; each only
//! imports modules above it or leaves below it:
//!
//! - [`spec`]: the route files as written (serde types, unknown keys
//!   rejected), and the one parser of durations and sizes.
//! - [`policy`]: compiled policy data a route holds (guards, retries,
//!   conditions, path templates) and the consumers a table admits; a leaf.
//! - [`compile`]: checks the specs and builds the table; all errors at once.
//!   [`diagnostics`]: located spec errors with hints. [`env`]: the
//!   environment snapshot and `${VAR}` expansion.
//! - [`table`]: the compiled snapshot, one matcher per listener ([`matcher`]
//!   the radix-tree lookup); [`openapi`]: the documents generated from it;
//!   [`live`]: both, behind one `ArcSwap`.
//! - [`reload`]: rebuilds and swaps the live state; [`watcher`] tells it when.
//! - [`stages`]: the stages of one request, in order, shared by `serve` and
//!   `explain`: resolve, authenticate ([`auth`]), admit and permit
//!   ([`quota`]: consumers' limits, budgets and usage), guard, transform
//!   ([`transforms`], one file each; [`fetch`] downloads linked files,
//!   refusing SSRF), send, record ([`traffic_log`]).
//! - [`upstream`]: the one TCP connector and the awc clients on it.
//! - [`executor`]: `serve`'s handler: the relay's own answers, the stages
//!   with a network sender, the response streamed back (translated where
//!   asked), WebSocket sessions. [`server`]: the HTTP server;
//!   `server::run` takes a bound listener; [`connection`] times every
//!   request head of a connection.
//! - [`telemetry`]: metrics and the access log, recorded when an answer is
//!   finished, and traces exported over OTLP.
//! - [`explain`]: the same stages with a recording sender; `relay test`
//!   runs the routes' examples through it ([`explain::examples`]).
//! - [`model_list`]: model lists a route serves itself, filtered.
//! - Leaves used throughout: [`error`] (errors in the OpenAI shape, with the
//!   side at fault and whether a retry can help), [`media`] (media types),
//!   [`secrets`] (what is a credential), [`ids`] (request ids and traces).
//! - Around the server: [`tls`] serves a listener over TLS, [`cors`]
//!   answers browsers' CORS checks, [`drain`] ends requests in order on
//!   SIGTERM, and [`admin`] is the operator's address (`/ready`,
//!   `/relay/status`, `/metrics`).
//! - [`cli`]: the `relay` command line; [`demo`] is `relay demo`'s mock
//!   OpenAI upstream and suggested requests.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod compile;
pub mod connection;
pub mod cors;
pub mod demo;
pub mod diagnostics;
pub mod drain;
pub mod env;
pub mod error;
pub mod executor;
pub mod explain;
pub mod fetch;
pub mod ids;
pub mod live;
pub mod matcher;
pub mod media;
pub mod model_list;
pub mod openapi;
pub mod policy;
pub mod quota;
pub mod reload;
pub mod secrets;
pub mod server;
pub mod spec;
pub mod stages;
pub mod table;
pub mod telemetry;
pub mod tls;
pub mod traffic_log;
pub mod transforms;
pub mod upstream;
pub mod watcher;
