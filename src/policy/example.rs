//! A route's examples, checked at compile time: a client request ready to
//! run through the stages, and what must come of it. Only `relay test`
//! reads them; serving never does.

use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::http::{Method, StatusCode};

/// One example of a route.
#[derive(Debug, Clone)]
pub struct Example {
    pub name: String,
    /// Where the example is written: `file:line:column`.
    pub origin: String,
    pub method: Method,
    /// Path and optional query, as a client sends it.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub expect: Expect,
}

/// What must come out of an example; `None` (or empty) is not checked.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub method: Option<Method>,
    /// A full URL, or one relative to the upstream's `base_url` (`/...`).
    pub url: Option<String>,
    /// Header names with their value as shown (secrets redacted); an empty
    /// value: the header is not sent.
    pub headers: Vec<(HeaderName, String)>,
    /// A JSON subset of the body.
    pub body: Option<serde_json::Value>,
    /// The multipart part names, in order.
    pub parts: Option<Vec<String>>,
    /// The relay's own answer instead of an upstream request.
    pub status: Option<StatusCode>,
    pub code: Option<String>,
}

impl Expect {
    /// Whether the relay must answer itself (no upstream request).
    pub fn answers_itself(&self) -> bool {
        self.status.is_some() || self.code.is_some()
    }
}
