//! `[[route.examples]]` as written: a client request and what must come of
//! it, checked offline by `relay test`. Examples are data about a route,
//! never part of its behaviour, and defaults do not carry them (a route's
//! examples are its own).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One example of a route: a client request and what must come out.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExampleSpec {
    /// What the example shows, unique within the route (`relay test` prints
    /// it after the route id).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The client's request.
    #[schemars(with = "ExampleRequestSpec")]
    pub request: Spanned<ExampleRequestSpec>,
    /// What must come out: the upstream request, or the relay's own answer.
    #[schemars(with = "ExpectSpec")]
    pub expect: Spanned<ExpectSpec>,
}

/// `request = { ... }` of an example.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExampleRequestSpec {
    /// The method (default: the route's first method); one of the route's.
    pub method: Option<String>,
    /// Path and optional query, e.g. `/v1/files/file-1?limit=2`; the path
    /// must match the route's own pattern.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// Client headers, by name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, written as a TOML value; `content-type:
    /// application/json` is sent with it unless `headers` names a type.
    pub body: Option<serde_json::Value>,
    /// A body sent as this text, unchanged (instead of `body`).
    pub body_text: Option<String>,
}

/// `expect = { ... }` of an example. Only the keys given are checked.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// The upstream request's method.
    pub method: Option<String>,
    /// The upstream URL; one starting with `/` is relative to the
    /// upstream's `base_url` (e.g. `/images/edits?x=1`), so it holds
    /// wherever `base_url` points.
    pub url: Option<String>,
    /// Upstream headers, by name, as `relay explain` shows them: secrets
    /// redacted (`Bearer [redacted]`). An empty value means the header is
    /// not sent.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The upstream JSON body (or the relay's own answer), as a subset:
    /// every key given must be there with that value; arrays match element
    /// by element.
    pub body: Option<serde_json::Value>,
    /// The names of the multipart parts sent, in order.
    pub parts: Option<Vec<String>>,
    /// The status the relay answers itself with instead of sending (e.g.
    /// 403 for an envelope outside its allowlist; 200 for a model list the
    /// route serves).
    pub status: Option<u16>,
    /// The `code` of the relay's own error answer.
    pub code: Option<String>,
}
