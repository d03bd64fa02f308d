//! Client authentication with relay keys.
//!
//! When `RELAY_KEYS` is set (comma-separated; `RELAY_KEY` is read too, see
//! [`crate::env::names`]), every non-public route needs one of the keys in
//! `X-Relay-Key` or `Authorization: Bearer`. Keys are kept
//! only as SHA-256 digests and compared in constant time, so neither their
//! content nor their length leaks through timing.

use actix_web::http::header::{AUTHORIZATION, HeaderMap};
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
}
