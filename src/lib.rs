//! relay: a config-driven HTTP relay for the OpenAI API.
//!
//! Route specs are data: TOML files in `routes.d/` say what each route
//! matches and how it is forwarded. They are compiled into one immutable
//! [`table::Table`], published behind an `ArcSwap`, and one generic executor
//! serves every request from it.
//!
//! # Layout
//!
//! The modules follow a request from configuration to the wire:
//!
//! - [`spec`]: the route files as written (serde types, unknown keys rejected).
//! - [`compile`]: checks the specs and builds the table; all errors at once.
//! - [`diagnostics`]: located spec errors with hints.
//! - [`env`]: the environment snapshot and `${VAR}` expansion.
//! - [`table`]: the compiled snapshot, one matcher per listener; [`matcher`]
//!   the radix-tree lookup.
//! - [`reload`]: rebuilds and swaps the table; [`watcher`] tells it when.
//! - [`transforms`]: request transforms, one file each, in a fixed order;
//!   `chat_to_responses` also picks the translation of the answer.
//! - [`auth`]: relay keys for clients.
//! - [`model_list`]: model lists a route serves itself, filtered.
//! - [`executor`]: the stages of one request, in order.
//! - [`fetch`]: downloads files from client-given URLs, refusing SSRF.
//! - [`error`]: errors the relay itself answers, in the OpenAI shape.
//! - [`traffic_log`]: the JSON-lines log of exchanges, redacted, written
//!   off the request path.
//! - [`server`]: the HTTP server; `server::run` takes a bound listener.
//!   [`tls`] serves a listener over TLS, [`cors`] answers browsers' CORS
//!   checks, [`drain`] ends requests in order on SIGTERM, and [`admin`] is
//!   the operator's address (`/ready`, `/relay/status`).
//! - [`explain`]: the dry run behind `relay explain`.
//! - [`openapi`]: OpenAPI and ChatGPT Actions documents, built with the table.
//! - [`cli`]: the `relay` command line.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod compile;
pub mod cors;
pub mod diagnostics;
pub mod drain;
pub mod env;
pub mod error;
pub mod executor;
pub mod explain;
pub mod fetch;
pub mod matcher;
pub mod model_list;
pub mod openapi;
pub mod reload;
pub mod server;
pub mod spec;
pub mod table;
pub mod tls;
pub mod traffic_log;
pub mod transforms;
pub mod watcher;
