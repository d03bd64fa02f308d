//! The answers the relay writes on the socket itself: a head timeout, and
//! the OpenAI-shaped stand-ins for actix-http's own bodiless refusals.

use std::time::Duration;

use actix_web::http::StatusCode;
use bytes::Bytes;

use crate::error::{ErrorType, RelayError};
use crate::stages::headers::REQUEST_ID;

/// An error as a whole response on the wire, closing the connection.
pub(super) fn wire(error: &RelayError) -> Bytes {
    let body = error.body().to_string();
    let status = error.status;
    Bytes::from(format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_str(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    ))
}

/// The answer to a head that took too long.
pub(super) fn head_timeout(timeout: Duration) -> RelayError {
    let message = format!("The request head did not arrive within {}.", humantime::format_duration(timeout));
    RelayError::new(StatusCode::REQUEST_TIMEOUT, ErrorType::InvalidRequest, "head_timeout", message)
}

/// If `written` is exactly one of actix-http's own bodiless refusals, the
/// relay's answer in its place.
pub fn own_refusal(written: &[u8]) -> Option<RelayError> {
    let head = written.strip_suffix(b"\r\n\r\n")?;
    let head = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("http/1.1 ")?.get(..3)?;
    let headers: Vec<&str> = lines.collect();
    let has = |name: &str| headers.iter().any(|line| line.split(':').next() == Some(name));
    let bare = headers.iter().any(|line| line.replace(' ', "") == "content-length:0") && !has(REQUEST_ID);
    if !bare || head.contains("\r\n\r\n") {
        return None;
    }
    let (status, code, message) = match status {
        "400" => (
            StatusCode::BAD_REQUEST,
            "invalid_http",
            "The request is not valid HTTP/1.1: its request line or a header does not parse.",
        ),
        "431" => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "The request head is too large: at most 96 headers and 128 KiB.",
        ),
        "408" => (StatusCode::REQUEST_TIMEOUT, "head_timeout", "The request head did not arrive in time."),
        _ => return None,
    };
    Some(RelayError::new(status, ErrorType::InvalidRequest, code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_actix_https_own_bare_refusals_are_replaced() {
        let own = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: Tue, 01 Dec 2026 23:00:00 GMT\r\n\r\n";
        assert_eq!(own_refusal(own).map(|e| e.code), Some("headers_too_large"));
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        assert_eq!(own_refusal(own).map(|e| (e.status.as_u16(), e.code)), Some((400, "invalid_http")));
        // The relay's answers (and an upstream's, passed through) carry a request id.
        let relayed = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: r-1\r\n\r\n";
        assert!(own_refusal(relayed).is_none());
        // A body, a second message or another status: not actix-http's own.
        assert!(own_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").is_none());
        assert!(own_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 X\r\n\r\n").is_none());
        assert!(own_refusal(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(own_refusal(b"tail of a body").is_none());
        let wire = wire(&own_refusal(own).unwrap());
        let text = String::from_utf8_lossy(&wire);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"), "{text}");
        let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_http");
    }
}
