//! Stage 3, admit: what the request head says about its body is checked
//! before any of it is read: framing, media type (415) and declared size
//! (413). A chunked body's size is enforced while it streams
//! ([`super::client_body::GuardedBody`]).

use actix_web::http::header::{self, HeaderMap};

use crate::error::RelayError;
use crate::media;
use crate::table::BodyRules;

/// What the request headers say about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    None,
    Sized(u64),
    Chunked,
}

/// Reads the body framing from the headers; checks size and media type.
pub fn admit(headers: &HeaderMap, rules: &BodyRules) -> Result<BodyShape, RelayError> {
    let length =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let shape = match length {
        Some(0) if !chunked => BodyShape::None,
        Some(n) if !chunked => BodyShape::Sized(n),
        _ if chunked => BodyShape::Chunked,
        _ => BodyShape::None,
    };
    if let BodyShape::Sized(n) = shape
        && n > rules.max
    {
        return Err(RelayError::payload_too_large(rules.max));
    }
    if shape != BodyShape::None && !rules.accept.is_empty() {
        let media = media::of(headers).unwrap_or_default();
        if media.is_empty() || !rules.accept.iter().any(|accepted| media::accepted_by(accepted, media)) {
            let shown = if media.is_empty() { "(none)" } else { media };
            return Err(RelayError::unsupported_media_type(shown, &rules.accept));
        }
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn rules(accept: &[&str], max: u64) -> BodyRules {
        BodyRules {
            accept: accept.iter().map(|s| s.to_string()).collect(),
            max,
            idle_timeout: Duration::from_millis(50),
            max_response: 1 << 20,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn media_types_and_sizes() {
        let json = rules(&["application/json"], 10);
        let h = headers(&[("content-length", "5"), ("content-type", "Application/JSON; charset=utf-8")]);
        assert_eq!(admit(&h, &json).unwrap(), BodyShape::Sized(5));
        let h = headers(&[("content-length", "5"), ("content-type", "text/plain")]);
        assert_eq!(admit(&h, &json).unwrap_err().status.as_u16(), 415);
        let h = headers(&[("content-length", "11"), ("content-type", "application/json")]);
        assert_eq!(admit(&h, &json).unwrap_err().status.as_u16(), 413);
        // No body, no content type: allowed even where only JSON is accepted.
        assert_eq!(admit(&headers(&[]), &json).unwrap(), BodyShape::None);
        let audio = rules(&["audio/*"], 10);
        let h = headers(&[("transfer-encoding", "chunked"), ("content-type", "audio/mpeg")]);
        assert_eq!(admit(&h, &audio).unwrap(), BodyShape::Chunked);
    }
}
