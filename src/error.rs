//! Errors the relay answers itself, always in the OpenAI error shape:
//! `{"error": {"message", "type", "param", "code"}}`.
//!
//! Upstream errors are never wrapped: they pass through unchanged. A
//! [`RelayError`] is only for what the relay decides (no route, bad key,
//! unreachable upstream, ...). Which side is at fault and whether a retry
//! could help are carried as data: the retry stage reads `retryable`, never
//! the message.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde_json::json;

/// The OpenAI `type` field: a closed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    Authentication,
    Permission,
    RateLimit,
    /// A budget is spent (OpenAI's type and code for an exhausted quota).
    InsufficientQuota,
    Server,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Permission => "permission_error",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::InsufficientQuota => "insufficient_quota",
            ErrorType::Server => "server_error",
        }
    }
}

/// Who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request (or its sender) is wrong.
    Client,
    /// The relay or its configuration.
    Relay,
    /// The upstream could not be reached or failed.
    Upstream,
}

/// An error produced by the relay.
#[derive(Debug, Clone)]
pub struct RelayError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub side: Side,
    /// A stable machine-readable code.
    pub code: &'static str,
    pub message: String,
    /// The offending parameter or header, if any.
    pub param: Option<String>,
    /// Whether the same request could succeed if sent again.
    pub retryable: bool,
    /// Headers the answer carries besides its content type: `Allow` for a
    /// 405, `Retry-After` and `x-ratelimit-*` for a 429.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl RelayError {
    /// An error of `kind`; the side at fault follows from the status (4xx:
    /// the client, 502 to 504: the upstream, otherwise the relay).
    pub fn new(status: StatusCode, kind: ErrorType, code: &'static str, message: impl Into<String>) -> Self {
        let side = match status.as_u16() {
            400..=499 => Side::Client,
            502..=504 => Side::Upstream,
            _ => Side::Relay,
        };
        RelayError {
            status,
            kind,
            side,
            code,
            message: message.into(),
            param: None,
            retryable: false,
            headers: Vec::new(),
        }
    }

    /// Says whether sending the same request again could succeed.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Adds a header to the answer (dropped if `value` cannot be one).
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// 429: a consumer's limit (`rate_limit_exceeded`) or budget
    /// (`insufficient_quota`) is reached; `retry_after` in whole seconds.
    pub fn rate_limited(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, ErrorType::RateLimit, code, message)
            .with_header(header::RETRY_AFTER, &retry_after.to_string())
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequest, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::Authentication,
            "invalid_relay_key",
            "Missing or invalid relay key. Send it in the X-Relay-Key header or as Authorization: Bearer.",
        )
    }

    /// 401: the key was valid once; its `expires` has passed.
    pub fn key_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::Authentication,
            "relay_key_expired",
            "This relay key has expired. Ask the relay operator for a new one.",
        )
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorType::Permission, code, message)
    }

    pub fn not_found(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest,
            "unknown_route",
            format!("No route for {method} {path}."),
        )
    }

    /// A model this route's `[route.models]` rules hide, worded like OpenAI's.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest,
            "model_not_found",
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_param("model")
    }

    pub fn method_not_allowed(method: &str, path: &str, allowed: &str) -> Self {
        let message = format!("{method} is not allowed on {path}; allowed: {allowed}.");
        Self::new(StatusCode::METHOD_NOT_ALLOWED, ErrorType::InvalidRequest, "method_not_allowed", message)
            .with_header(header::ALLOW, allowed)
    }

    /// 426: a plain request on a path only a WebSocket route serves. The
    /// message names the upgrade; an `Upgrade` header is not sent, since
    /// actix would then mark the response `Connection: upgrade` and clients
    /// such as awc stop reading its body.
    pub fn upgrade_required(path: &str) -> Self {
        Self::new(
            StatusCode::UPGRADE_REQUIRED,
            ErrorType::InvalidRequest,
            "websocket_upgrade_required",
            format!("{path} is a WebSocket endpoint; connect with a WebSocket handshake (Upgrade: websocket)."),
        )
    }

    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, ErrorType::InvalidRequest, "body_timeout", message)
    }

    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::InvalidRequest,
            "body_too_large",
            format!("The request body is larger than this route allows ({limit} bytes)."),
        )
    }

    pub fn unsupported_media_type(got: &str, accepted: &[String]) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::InvalidRequest,
            "unsupported_media_type",
            format!("Content type {got:?} is not accepted here; send one of: {}.", accepted.join(", ")),
        )
        .with_param("content-type")
    }

    pub fn headers_too_large(total: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorType::InvalidRequest,
            "headers_too_large",
            format!("The request headers total {total} bytes; at most {limit} are accepted."),
        )
    }

    /// A request refused by one of the route's guards.
    pub fn denied(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = if status == StatusCode::FORBIDDEN { ErrorType::Permission } else { ErrorType::InvalidRequest };
        Self::new(status, kind, "denied_by_guard", message)
    }

    /// A fault of the relay or its configuration, not of the client.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorType::Server, code, message)
    }

    pub fn bad_gateway(message: impl Into<String>) -> Self {
        RelayError {
            retryable: true,
            ..Self::new(StatusCode::BAD_GATEWAY, ErrorType::Server, "upstream_unreachable", message)
        }
    }

    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        RelayError {
            retryable: true,
            ..Self::new(StatusCode::GATEWAY_TIMEOUT, ErrorType::Server, "upstream_timeout", message)
        }
    }

    /// The JSON body in the OpenAI error shape.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind.as_str(), "param": self.param, "code": self.code}})
    }

    /// The error as one SSE event, for streams that fail after they started.
    pub fn sse_event(&self) -> String {
        format!("event: error\ndata: {}\n\n", self.body())
    }

    /// The complete HTTP response.
    pub fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")));
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(self.body().to_string())
    }
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for RelayError {}

impl actix_web::ResponseError for RelayError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_openai_shape() {
        let e = RelayError::unsupported_media_type("text/plain", &["application/json".into()]);
        let body = e.body();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(e.side, Side::Client);
        assert_eq!(RelayError::bad_gateway("x").side, Side::Upstream);
        assert_eq!(body["error"]["code"], "unsupported_media_type");
        assert_eq!(body["error"]["param"], "content-type");
        assert!(body["error"]["message"].as_str().unwrap().contains("application/json"));
        let e = RelayError::not_found("GET", "/v1/x");
        assert_eq!(e.body()["error"]["param"], serde_json::Value::Null);
        assert!(e.sse_event().starts_with("event: error\ndata: {\"error\""));
    }
}
