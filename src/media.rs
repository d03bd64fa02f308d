//! Media types, read one way everywhere: what a `Content-Type` header says,
//! its `type/subtype` compared case-insensitively and without parameters.
//! Every request and answer passes here, so the common checks allocate
//! nothing; the `mime` crate judges whether a value is a media type at all.

use actix_web::http::header::{self, HeaderMap};

/// The `type/subtype` of a content type, as written (compare it
/// case-insensitively); `None` if it is not a media type.
pub fn essence(content_type: &str) -> Option<&str> {
    let essence = content_type.split(';').next()?.trim();
    essence.parse::<mime::Mime>().ok()?;
    Some(essence)
}

/// The essence of a message's `Content-Type`, if it has a valid one.
pub fn of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(essence)
}

/// Whether a content type's essence is `expected` (lowercase): a check
/// that neither parses nor allocates, nor searches for the `;` unless
/// the value starts with `expected` (it runs several times per request).
fn essence_is(content_type: &str, expected: &str) -> bool {
    let value = content_type.trim_start();
    let Some(rest) = value.get(expected.len()..) else { return false };
    value[..expected.len()].eq_ignore_ascii_case(expected)
        && rest.split_once(';').map_or(rest, |(gap, _)| gap).trim().is_empty()
}

/// JSON: `application/json` or a `+json` suffix (`application/problem+json`).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        if essence_is(ct, "application/json") {
            return true;
        }
        let Some((kind, subtype)) = essence(ct).and_then(|media| media.split_once('/')) else { return false };
        let suffix = subtype.len().checked_sub(5).filter(|at| subtype.is_char_boundary(*at));
        kind.eq_ignore_ascii_case("application") && suffix.is_some_and(|at| subtype[at..].eq_ignore_ascii_case("+json"))
    })
}

/// The boundary of a `multipart/form-data` content type.
pub fn form_boundary(content_type: &str) -> Option<String> {
    let media = content_type.parse::<mime::Mime>().ok()?;
    (media.essence_str() == "multipart/form-data").then(|| media.get_param(mime::BOUNDARY).map(|b| b.to_string()))?
}

/// Server-sent events: `text/event-stream`, in any case.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| essence_is(ct, "text/event-stream"))
}

/// Whether `media` (an essence, any case) is matched by an accepted pattern
/// (lowercase): `type/subtype`, `type/*` or `*/*`.
pub fn accepted_by(pattern: &str, media: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some("*") => true,
        Some(kind) => media.split_once('/').is_some_and(|(t, _)| t.eq_ignore_ascii_case(kind)),
        None => pattern.eq_ignore_ascii_case(media),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essences_ignore_case_and_parameters() {
        assert_eq!(essence("Application/JSON; charset=utf-8"), Some("Application/JSON"));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert_eq!(essence("not a type"), None);
        assert!(is_json(Some("application/vnd.api+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "Text/Event-Stream; charset=utf-8".parse().unwrap());
        assert!(is_event_stream(&headers));
    }

    #[test]
    fn an_essence_is_compared_whole() {
        for (value, expected) in [
            ("text/event-stream", true),
            ("TEXT/Event-Stream;charset=utf-8", true),
            (" text/event-stream ; charset=utf-8", true),
            ("text/event-stream\t", true),
            ("text/event-streams", false),
            ("text/event-stream x", false),
            ("text/event", false),
            ("text/event-streé", false),
            ("", false),
            ("; text/event-stream", false),
        ] {
            assert_eq!(essence_is(value, "text/event-stream"), expected, "{value:?}");
            let old = value.split(';').next().is_some_and(|e| e.trim().eq_ignore_ascii_case("text/event-stream"));
            assert_eq!(old, expected, "the plain reading of {value:?}");
        }
    }

    #[test]
    fn patterns() {
        assert!(accepted_by("*/*", "image/png"));
        assert!(accepted_by("audio/*", "audio/mpeg"));
        assert!(!accepted_by("audio/*", "video/mp4"));
        assert!(accepted_by("application/json", "application/json"));
        assert!(accepted_by("audio/*", "Audio/MPEG"));
        assert!(accepted_by("application/json", "Application/Json"));
    }
}
