//! Stage 1: the inbound path is checked before it is matched.
//!
//! Matching runs on the raw (still percent-encoded) path, so a parameter is
//! forwarded exactly as the client wrote it. Anything that could change the
//! path's meaning between here and the upstream is refused with 400: dot
//! segments in any spelling, encoded slashes and backslashes, NUL bytes.

use crate::error::RelayError;

/// Returns the path if it is safe to match on.
pub fn check_path(path: &str) -> Result<&str, RelayError> {
    if !path.starts_with('/') {
        return Err(invalid(path, "the path must start with `/`"));
    }
    // Every request passes here: byte searches, no allocation.
    let bytes = path.as_bytes();
    match memchr::memchr2(b'\\', 0, bytes) {
        Some(at) if bytes[at] == b'\\' => return Err(invalid(path, "backslashes are not allowed in paths")),
        Some(_) => return Err(invalid(path, "NUL bytes are not allowed in paths")),
        None => {}
    }
    // Only a `%` can start an escape and only a `.` or `%2e` a dot
    // segment: most paths have neither, and are done.
    if memchr::memchr2(b'%', b'.', bytes).is_none() {
        return Ok(path);
    }
    for at in memchr::memchr_iter(b'%', bytes) {
        let escape = bytes.get(at + 1..at + 3).map(|hex| [hex[0].to_ascii_lowercase(), hex[1].to_ascii_lowercase()]);
        if matches!(escape, Some([b'2', b'f'] | [b'5', b'c'] | [b'0', b'0'])) {
            return Err(invalid(path, "encoded slashes, backslashes and NUL bytes are not allowed in paths"));
        }
    }
    if path.split('/').any(is_dot_segment) {
        return Err(invalid(path, "`.` and `..` segments are not allowed in paths"));
    }
    Ok(path)
}

/// `.` or `..`, also when any dot is written `%2e` (any case).
fn is_dot_segment(segment: &str) -> bool {
    // Only short segments can be dots: `..` spelled out is at most `%2e%2e`.
    if segment.is_empty() || segment.len() > 6 {
        return false;
    }
    let mut dots = 0;
    let mut rest = segment;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
        } else if rest.get(..3).is_some_and(|escape| escape.eq_ignore_ascii_case("%2e")) {
            rest = rest.get(3..).unwrap_or_default();
        } else {
            return false;
        }
        dots += 1;
    }
    dots <= 2
}

fn invalid(path: &str, why: &str) -> RelayError {
    let shown: String = path.chars().take(200).collect();
    RelayError::bad_request("invalid_path", format!("Invalid request path {shown:?}: {why}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in ["/", "/v1/files", "/v1/files/file-abc/content", "/v1/responses:stream", "/v1/a%20b", "/v1/x..y"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_traversal_in_every_spelling() {
        for bad in [
            "/v1/../admin",
            "/v1/./files",
            "/v1/%2e%2e/admin",
            "/v1/.%2E/admin",
            "/v1/%2E/x",
            "/v1/..%2fadmin",
            "/v1/files%2F..",
            "/v1/..\\admin",
            "/v1/%5c",
            "/v1/a%00",
            "v1/files",
        ] {
            let err = check_path(bad).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad}");
            assert_eq!(err.code, "invalid_path");
        }
        for (bad, named) in [("/v1/a\\b", "backslashes"), ("/v1/a\0b", "NUL bytes"), ("/v1/\0\\", "NUL bytes")] {
            assert!(check_path(bad).unwrap_err().message.contains(named), "{bad:?}");
        }
    }
}
