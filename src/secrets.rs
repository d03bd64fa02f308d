//! The one rule for what is a secret in a request or an answer: which
//! headers are credentials and what credential values look like. Used by
//! the header policy, templates and conditions (which never see
//! credentials), `relay explain` and the traffic log (which mask them).

use actix_web::http::header::{HeaderName, HeaderValue};

/// What a secret is replaced with wherever it is shown.
pub const REDACTED: &str = "[redacted]";

/// Header names that are always credentials.
const SECRET_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "x-relay-key",
    "api-key",
    "x-api-key",
    "openai-api-key",
    "cookie",
    "set-cookie",
];

/// Parts of a header name that mark it as a credential.
const SECRET_HEADER_PARTS: [&str; 4] = ["key", "token", "secret", "auth"];

/// Schemes that introduce a credential in a header value.
const CREDENTIAL_SCHEMES: [&str; 5] = ["bearer", "basic", "token", "digest", "apikey"];

/// Whether a header name marks a credential.
pub fn is_secret_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    SECRET_HEADERS.contains(&name) || SECRET_HEADER_PARTS.iter().any(|part| name.contains(part))
}

/// `Bearer …`, `Basic …`, `Token …` and the like: a scheme and a credential.
pub fn has_credential_scheme(value: &str) -> bool {
    let Some((scheme, rest)) = value.trim().split_once(' ') else { return false };
    !rest.trim().is_empty() && CREDENTIAL_SCHEMES.iter().any(|s| scheme.eq_ignore_ascii_case(s))
}

/// A header value as it may be shown: credentials masked (keeping a
/// `Bearer` scheme visible), other text as it is.
pub fn shown(name: &HeaderName, value: &HeaderValue) -> String {
    let text = String::from_utf8_lossy(value.as_bytes());
    if is_secret_header(name) || has_credential_scheme(&text) {
        return match text.split_once(' ') {
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("bearer") => format!("Bearer {REDACTED}"),
            _ => REDACTED.to_owned(),
        };
    }
    match value.to_str() {
        Ok(text) => text.to_owned(),
        Err(_) => format!("<{} bytes, not text>", value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> HeaderName {
        HeaderName::from_bytes(text.as_bytes()).unwrap()
    }

    #[test]
    fn credential_headers_by_name_and_by_value() {
        for secret in ["authorization", "x-relay-key", "cookie", "x-goog-api-key", "x-auth-token", "client-secret"] {
            assert!(is_secret_header(&name(secret)), "{secret}");
        }
        for plain in ["content-type", "openai-beta", "x-request-id"] {
            assert!(!is_secret_header(&name(plain)), "{plain}");
        }
        assert!(has_credential_scheme("Bearer sk-abc"));
        assert!(!has_credential_scheme("Bearer "));
        assert!(!has_credential_scheme("text/plain"));
    }

    #[test]
    fn shown_values_hide_credentials() {
        let value = |text: &str| HeaderValue::from_str(text).unwrap();
        assert_eq!(shown(&name("authorization"), &value("Bearer sk-secret")), "Bearer [redacted]");
        assert_eq!(shown(&name("x-relay-key"), &value("rk-1")), "[redacted]");
        assert_eq!(shown(&name("x-custom"), &value("Basic dXNlcg==")), "[redacted]");
        assert_eq!(shown(&name("openai-beta"), &value("assistants=v2")), "assistants=v2");
    }
}
