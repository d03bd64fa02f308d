//! Client authentication with relay keys: where a client presents its key,
//! and whose key it is.
//!
//! When any key is configured (`RELAY_KEYS`, comma-separated, `RELAY_KEY`
//! read too, see [`crate::env::names`]; or the keys of `[consumer.NAME]`
//! tables), every non-public route needs one of them in `X-Relay-Key` or
//! `Authorization: Bearer`. Keys are kept only as SHA-256 digests
//! ([`crate::policy::consumer`]).

use actix_web::http::header::{self, AUTHORIZATION, HeaderMap, HeaderName};

use crate::policy::consumer::{Consumers, Identified};

/// The header that carries a relay key when `Authorization` is taken.
pub const RELAY_KEY_HEADER: &str = "x-relay-key";

/// [`RELAY_KEY_HEADER`] as a header name, so a lookup parses nothing.
static RELAY_KEY_NAME: HeaderName = HeaderName::from_static(RELAY_KEY_HEADER);

/// Candidate keys: `X-Relay-Key`, then the bearer token of `Authorization`.
fn presented_keys(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let relay = headers.get(&RELAY_KEY_NAME).and_then(|v| v.to_str().ok());
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    relay.into_iter().chain(bearer)
}

/// The token of `Bearer <token>` (scheme case-insensitive; spaces around
/// the token are not part of it).
pub fn bearer_token(value: &str) -> Option<&str> {
    const SCHEME: &str = "bearer ";
    let scheme = value.get(..SCHEME.len())?;
    scheme.eq_ignore_ascii_case(SCHEME).then(|| value[SCHEME.len()..].trim_ascii())
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

/// Who the request's relay key belongs to: in `X-Relay-Key` or
/// `Authorization: Bearer`, or, on a WebSocket handshake (browsers cannot set
/// headers), in a subprotocol entry `openai-insecure-api-key.<key>`. The
/// first key that names a consumer wins; an expired key is told apart.
pub fn identify(consumers: &Consumers, headers: &HeaderMap, handshake: bool) -> Identified {
    let now = std::time::SystemTime::now();
    let websocket = handshake.then(|| offered(headers).relay_key).flatten();
    let mut found = Identified::Unknown;
    for key in presented_keys(headers).chain(websocket) {
        match consumers.identify(key, now) {
            Identified::Consumer(index) => return Identified::Consumer(index),
            Identified::Expired => found = Identified::Expired,
            Identified::Unknown => {}
        }
    }
    found
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

    /// Keys `alpha` and `beta` of consumer 0, `old` expired.
    fn keys() -> Consumers {
        use crate::policy::consumer::{Consumer, KeyOwner, digest};
        let mut consumers = Consumers::default();
        let index = consumers.push(Consumer::open("team"));
        for key in ["alpha", "beta"] {
            consumers.add_key(digest(key), KeyOwner { consumer: index, expires: None });
        }
        let past = Some(std::time::SystemTime::UNIX_EPOCH);
        consumers.add_key(digest("old"), KeyOwner { consumer: index, expires: past });
        consumers
    }

    #[test]
    fn accepts_either_header_and_rejects_others() {
        let keys = keys();
        assert!(keys.is_enabled());
        let who = |pairs: &[(&str, &str)]| identify(&keys, &headers(pairs), false);
        assert_eq!(who(&[("x-relay-key", "beta")]), Identified::Consumer(0));
        assert_eq!(who(&[("authorization", "bearer alpha")]), Identified::Consumer(0));
        assert_eq!(who(&[("authorization", "BEARER   alpha ")]), Identified::Consumer(0));
        assert_eq!(who(&[("authorization", "Bearer\talpha")]), Identified::Unknown);
        assert_eq!(who(&[("authorization", "Bearer")]), Identified::Unknown);
        assert_eq!(who(&[("authorization", "Basic alpha")]), Identified::Unknown);
        assert_eq!(who(&[("authorization", "Bearer alph")]), Identified::Unknown);
        assert_eq!(who(&[("authorization", "alpha")]), Identified::Unknown);
        assert_eq!(who(&[]), Identified::Unknown);
        assert_eq!(who(&[("x-relay-key", "old")]), Identified::Expired);
        assert_eq!(who(&[("x-relay-key", "old"), ("authorization", "Bearer beta")]), Identified::Consumer(0));
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
        let mut keys = Consumers::default();
        keys.push(crate::policy::consumer::Consumer::open("web"));
        let owner = crate::policy::consumer::KeyOwner { consumer: 0, expires: None };
        keys.add_key(crate::policy::consumer::digest("rk-1"), owner);
        assert_eq!(identify(&keys, &headers, true), Identified::Consumer(0));
        assert_eq!(identify(&keys, &headers, false), Identified::Unknown, "only on a handshake");
        assert_eq!(super::offered(&HeaderMap::new()), Offered::default());
    }
}
