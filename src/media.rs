//! Media types, parsed one way everywhere (the `mime` crate): what a
//! `Content-Type` header says, compared case-insensitively and without
//! parameters.

use actix_web::http::header::{self, HeaderMap};

/// The `type/subtype` of a content type, lowercase; `None` if it is not one.
pub fn essence(content_type: &str) -> Option<String> {
    let parsed: mime::Mime = content_type.trim().parse().ok()?;
    Some(parsed.essence_str().to_ascii_lowercase())
}

/// The essence of a message's `Content-Type`, if it has a valid one.
pub fn of(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(essence)
}

/// JSON: `application/json` or a `+json` suffix (`application/problem+json`).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.and_then(essence).is_some_and(|media| {
        media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
    })
}

/// Server-sent events: `text/event-stream`, in any case.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    of(headers).is_some_and(|media| media == "text/event-stream")
}

/// Whether `media` (an essence) is matched by an accepted pattern:
/// `type/subtype`, `type/*` or `*/*`.
pub fn accepted_by(pattern: &str, media: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some("*") => true,
        Some(kind) => media.split_once('/').is_some_and(|(t, _)| t == kind),
        None => pattern == media,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essences_ignore_case_and_parameters() {
        assert_eq!(essence("Application/JSON; charset=utf-8").as_deref(), Some("application/json"));
        assert_eq!(essence("not a type"), None);
        assert!(is_json(Some("application/vnd.api+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "Text/Event-Stream; charset=utf-8".parse().unwrap());
        assert!(is_event_stream(&headers));
    }

    #[test]
    fn patterns() {
        assert!(accepted_by("*/*", "image/png"));
        assert!(accepted_by("audio/*", "audio/mpeg"));
        assert!(!accepted_by("audio/*", "video/mp4"));
        assert!(accepted_by("application/json", "application/json"));
    }
}
