//! Client authentication with relay keys.
//!
//! When `RELAY_KEYS` is set (comma-separated; `RELAY_KEY` is read too, see
//! [`crate::env::names`]), every non-public route needs one of the keys in
//! `X-Relay-Key` or `Authorization: Bearer`. Keys are kept
//! only as SHA-256 digests and compared in constant time, so neither their
//! content nor their length leaks through timing.

use actix_web::http::header::{self, AUTHORIZATION, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header that carries a relay key when `Authorization` is taken.
pub const RELAY_KEY_HEADER: &str = "x-relay-key";

/// The accepted relay keys (as digests).
#[derive(Default)]
pub struct ClientKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKeys({} keys)", self.digests.len())
    }
}

impl ClientKeys {
    /// Keys from a comma-separated list; blanks are ignored.
    pub fn from_list(list: &str) -> Self {
        let digests = list.split(',').map(str::trim).filter(|key| !key.is_empty()).map(digest).collect();
        ClientKeys { digests }
    }

    /// Whether any key is configured (otherwise every route is open).
    pub fn is_enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Whether the request carries a valid key. Always true without keys.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        if !self.is_enabled() {
            return true;
        }
        presented_keys(headers).any(|key| self.matches(key))
    }

    /// Constant-time membership test of one presented key.
    pub fn matches(&self, key: &str) -> bool {
        let presented = digest(key);
        // Check every key, without stopping early.
        self.digests.iter().fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(&presented)).into()
    }
}

/// Candidate keys: `X-Relay-Key`, then the bearer token of `Authorization`.
fn presented_keys(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let relay = headers.get(RELAY_KEY_HEADER).and_then(|v| v.to_str().ok());
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    relay.into_iter().chain(bearer)
}

/// The token of `Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The subprotocol prefix that carries a relay key (as OpenAI's browser
/// clients pass their API key). The entry never reaches the upstream.
pub const KEY_PROTOCOL_PREFIX: &str = "openai-insecure-api-key.";

/// The subprotocols a client offered: its relay key entry (if any) and the rest.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Offered<'a> {
    pub relay_key: Option<&'a str>,
    pub protocols: Vec<&'a str>,
}

/// Splits the `Sec-WebSocket-Protocol` entries of a request.
pub fn offered(headers: &HeaderMap) -> Offered<'_> {
    let mut offered = Offered::default();
    let entries = headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).filter_map(|v| v.to_str().ok());
    for entry in entries.flat_map(|v| v.split(',')).map(str::trim).filter(|e| !e.is_empty()) {
        match entry.strip_prefix(KEY_PROTOCOL_PREFIX) {
            Some(key) => offered.relay_key = offered.relay_key.or(Some(key)),
            None => offered.protocols.push(entry),
        }
    }
    offered
}

/// Whether the request carries a valid relay key: in `X-Relay-Key` or
/// `Authorization: Bearer`, or, on a WebSocket handshake (browsers cannot set
/// headers), in a subprotocol entry `openai-insecure-api-key.<key>`.
pub fn admits(keys: &ClientKeys, headers: &HeaderMap, handshake: bool) -> bool {
    keys.admits(headers) || (handshake && offered(headers).relay_key.is_some_and(|key| keys.matches(key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn accepts_either_header_and_rejects_others() {
        let keys = ClientKeys::from_list("alpha, beta,");
        assert!(keys.is_enabled());
        assert!(keys.admits(&headers(&[("x-relay-key", "beta")])));
        assert!(keys.admits(&headers(&[("authorization", "bearer alpha")])));
        assert!(!keys.admits(&headers(&[("authorization", "Bearer alph")])));
        assert!(!keys.admits(&headers(&[("authorization", "alpha")])));
        assert!(!keys.admits(&headers(&[])));
    }

    #[test]
    fn no_keys_means_open() {
        let keys = ClientKeys::from_list(" , ");
        assert!(!keys.is_enabled());
        assert!(keys.admits(&headers(&[])));
    }

    #[test]
    fn the_key_entry_is_split_from_the_protocols() {
        use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
        let mut headers = HeaderMap::new();
        let value = "realtime, openai-insecure-api-key.rk-1 ,openai-beta.realtime-v1";
        headers.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(value));
        headers.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("openai-insecure-api-key.rk-2"));
        let offered = offered(&headers);
        assert_eq!(offered.relay_key, Some("rk-1"));
        assert_eq!(offered.protocols, ["realtime", "openai-beta.realtime-v1"]);
        assert!(admits(&ClientKeys::from_list("rk-1"), &headers, true));
        assert!(!admits(&ClientKeys::from_list("rk-1"), &headers, false), "only on a handshake");
        assert!(!admits(&ClientKeys::from_list("rk-2"), &headers, true));
        assert_eq!(super::offered(&HeaderMap::new()), Offered::default());
    }
}
