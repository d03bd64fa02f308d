//! Why a fetch failed, and what the client is told.
//!
//! [`FetchError`]'s `Display` is for logs and may name resolved addresses;
//! [`FetchError::to_relay_error`] is what the client sees: it names the JSON
//! field that held the URL and never the addresses, the file host's answer
//! or I/O details.

use std::net::IpAddr;

use actix_web::http::StatusCode;

use super::address::Forbidden;
use crate::error::RelayError;

/// A failed fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("bad file URL: {reason}")]
    BadUrl { reason: &'static str },
    #[error("scheme {scheme:?} is not allowed")]
    SchemeNotAllowed { scheme: String },
    #[error("host {host:?} is not on the allowlist")]
    HostNotAllowed { host: String },
    #[error("host {host:?} did not resolve")]
    Unresolvable { host: String },
    #[error("{addr} is a {reason}")]
    Blocked { addr: IpAddr, reason: Forbidden },
    /// The file host redirected more than `max` times (0: redirects are off).
    #[error("redirect refused (at most {max} followed)")]
    RedirectRefused { max: u8 },
    #[error("file larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The total or connect timeout expired.
    #[error("timed out")]
    Timeout,
    /// The file host answered with a status other than 2xx.
    #[error("file host answered {status}")]
    Status { status: u16 },
    /// No connection (TCP or TLS) could be established.
    #[error("connect failed: {detail}")]
    Connect { detail: String },
    /// The connection failed after it was established.
    #[error("transfer failed: {detail}")]
    Transfer { detail: String },
}

impl FetchError {
    /// Whether the client's URL is at fault (400) rather than the file host
    /// (502/504).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            FetchError::Timeout | FetchError::Status { .. } | FetchError::Connect { .. } | FetchError::Transfer { .. }
        )
    }

    /// The error the relay answers; `param` is the JSON field that held the
    /// URL, e.g. `openaiFileIdRefs[0].download_link`.
    pub fn to_relay_error(&self, param: &str) -> RelayError {
        let e = match self {
            FetchError::BadUrl { reason } => {
                RelayError::bad_request("invalid_file_url", format!("The file URL is not valid: {reason}."))
            }
            FetchError::SchemeNotAllowed { scheme } => RelayError::bad_request(
                "invalid_file_url",
                format!("The file URL scheme {scheme:?} is not allowed here."),
            ),
            FetchError::HostNotAllowed { host } => {
                RelayError::bad_request("file_host_not_allowed", format!("Files are not fetched from host {host:?}."))
            }
            FetchError::Unresolvable { host } => RelayError::bad_request(
                "file_host_unresolvable",
                format!("The file host {host:?} could not be resolved."),
            ),
            FetchError::Blocked { .. } => RelayError::bad_request(
                "file_url_blocked",
                "The file URL does not lead to a public address; it is not fetched.",
            ),
            FetchError::RedirectRefused { max: 0 } => RelayError::bad_request(
                "file_redirect_refused",
                "The file host answered with a redirect; redirects are not followed.",
            ),
            FetchError::RedirectRefused { max } => RelayError::bad_request(
                "file_redirect_refused",
                format!("The file host redirected more than {max} times."),
            ),
            FetchError::TooLarge { limit } => RelayError::bad_request(
                "file_too_large",
                format!("The file is larger than the limit of {limit} bytes."),
            ),
            FetchError::Timeout => RelayError {
                code: "file_fetch_timeout",
                ..RelayError::gateway_timeout("The file host did not deliver the file in time.")
            },
            FetchError::Status { status } => RelayError {
                code: "file_host_error",
                retryable: *status >= 500 || *status == 429,
                ..RelayError::bad_gateway(format!("The file host answered with HTTP status {status}."))
            },
            FetchError::Connect { .. } => RelayError {
                code: "file_host_unreachable",
                ..RelayError::bad_gateway("Could not connect to the file host.")
            },
            FetchError::Transfer { .. } => RelayError {
                code: "file_host_unreachable",
                ..RelayError::bad_gateway("The connection to the file host failed during the download.")
            },
        };
        e.with_param(param)
    }
}

impl FetchError {
    /// The HTTP status [`FetchError::to_relay_error`] answers with.
    pub fn status(&self) -> StatusCode {
        self.to_relay_error("").status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_faults_are_400_with_the_field_as_param() {
        let param = "openaiFileIdRefs[0].download_link";
        let blocked = FetchError::Blocked { addr: "10.1.2.3".parse().unwrap(), reason: Forbidden::Private };
        let e = blocked.to_relay_error(param);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.kind.as_str(), "invalid_request_error");
        assert_eq!(e.code, "file_url_blocked");
        assert_eq!(e.param.as_deref(), Some(param));
        assert!(!e.message.contains("10.1.2.3"), "the resolved address stays internal");
        assert!(blocked.to_string().contains("10.1.2.3"), "but is in the log text");
        for err in [
            FetchError::BadUrl { reason: "x" },
            FetchError::SchemeNotAllowed { scheme: "http".into() },
            FetchError::HostNotAllowed { host: "h".into() },
            FetchError::Unresolvable { host: "h".into() },
            FetchError::RedirectRefused { max: 0 },
            FetchError::TooLarge { limit: 5 },
        ] {
            assert!(err.is_client_error());
            assert_eq!(err.to_relay_error(param).status, StatusCode::BAD_REQUEST, "{err}");
        }
    }

    #[test]
    fn file_host_faults_are_502_or_504() {
        assert_eq!(FetchError::Timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        let detail = "os error 111 at 10.0.0.7:443".to_owned();
        let e = FetchError::Connect { detail }.to_relay_error("f");
        assert_eq!((e.status, e.code, e.retryable), (StatusCode::BAD_GATEWAY, "file_host_unreachable", true));
        assert!(!e.message.contains("10.0.0.7"));
        let e = FetchError::Status { status: 404 }.to_relay_error("f");
        assert_eq!((e.status, e.retryable), (StatusCode::BAD_GATEWAY, false));
        assert!(e.message.contains("404"));
        assert!(FetchError::Status { status: 503 }.to_relay_error("f").retryable);
        assert!(!FetchError::Transfer { detail: String::new() }.is_client_error());
    }
}
