//! Inbound path patterns and upstream path templates.
//!
//! An inbound pattern is a list of segments: literals, `{name}` (one
//! segment) and a final `{*name}` (the rest). An upstream path is literal text
//! with `{name}` placeholders that must name parameters of the pattern.

use crate::matcher::Segment;
use crate::table::{PathPiece, PathTemplate};

/// Parses an inbound pattern such as `/v1/files/{file_id}/content`.
pub fn parse_pattern(text: &str) -> Result<Vec<Segment>, (String, &'static str)> {
    const HINT: &str = "write a path such as \"/v1/files/{file_id}/content\"";
    let Some(rest) = text.strip_prefix('/') else {
        return Err(("a path must start with `/`".into(), HINT));
    };
    if text.contains(['?', '#']) {
        return Err((
            "a path cannot hold a query or fragment".into(),
            "the client's query string is forwarded unchanged; match on the path only",
        ));
    }
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut segments = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let count = rest.split('/').count();
    for (i, raw) in rest.split('/').enumerate() {
        let segment = if let Some(inner) = raw.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, catch_all) = match inner.strip_prefix('*') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if !is_param_name(name) {
                return Err((
                    format!("`{raw}` is not a valid parameter"),
                    "parameter names are letters, digits and `_`",
                ));
            }
            if names.contains(&name) {
                return Err((format!("parameter `{name}` appears twice"), "give each parameter its own name"));
            }
            names.push(name);
            if catch_all && i + 1 != count {
                return Err((format!("`{raw}` must be the last segment"), "`{*name}` matches the rest of the path"));
            }
            if catch_all { Segment::CatchAll(name.into()) } else { Segment::Param(name.into()) }
        } else {
            check_literal(raw)?;
            Segment::Literal(raw.into())
        };
        segments.push(segment);
    }
    Ok(segments)
}

fn check_literal(raw: &str) -> Result<(), (String, &'static str)> {
    if raw.is_empty() {
        return Err(("a path cannot contain an empty segment (`//`) or end with `/`".into(), "remove the extra `/`"));
    }
    if raw == "." || raw == ".." {
        return Err((format!("`{raw}` segments are not allowed"), "write the path without dot segments"));
    }
    if raw.contains(['{', '}']) {
        return Err((format!("`{raw}`: a parameter must be a whole segment"), "write `{name}` between two `/`"));
    }
    if raw.contains(['%', '\\', ' ']) {
        return Err((format!("`{raw}` holds a character paths cannot match on"), "write the path unencoded"));
    }
    Ok(())
}

fn is_param_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The default upstream path: the pattern without a leading `/v1`.
pub fn default_upstream_path(pattern: &str) -> &str {
    match pattern.strip_prefix("/v1") {
        Some(rest) if rest.starts_with('/') => rest,
        Some("") => "/",
        _ => pattern,
    }
}

/// Parses an upstream path template against the pattern's parameter names.
pub fn parse_template(text: &str, params: &[String]) -> Result<PathTemplate, (String, String)> {
    if !text.starts_with('/') {
        return Err(("`upstream_path` must start with `/`".into(), "it is appended to the upstream's base_url".into()));
    }
    if text.contains(['?', '#']) {
        return Err((
            "`upstream_path` cannot hold a query or fragment".into(),
            "the client's query string is forwarded unchanged".into(),
        ));
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(PathPiece::Literal(rest[..open].into()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| ("unclosed `{` in `upstream_path`".to_owned(), "close it with `}`".to_owned()))?;
        let name = &after[..close];
        let index = params.iter().position(|p| p == name).ok_or_else(|| {
            let known = if params.is_empty() {
                "the path has no parameters".to_owned()
            } else {
                format!("the path's parameters are: {}", params.join(", "))
            };
            (format!("`upstream_path` uses `{{{name}}}`, which `path` does not define"), known)
        })?;
        pieces.push(PathPiece::Param(index));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(("stray `}` in `upstream_path`".into(), "parameters are written `{name}`".into()));
    }
    if !rest.is_empty() {
        pieces.push(PathPiece::Literal(rest.into()));
    }
    Ok(PathTemplate { pieces })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_and_reject_bad_forms() {
        let segs = parse_pattern("/v1/files/{file_id}/content").unwrap();
        assert_eq!(segs[2], Segment::Param("file_id".into()));
        assert_eq!(parse_pattern("/v1/responses:stream").unwrap().len(), 2);
        assert_eq!(parse_pattern("/").unwrap(), vec![]);
        assert!(parse_pattern("/v1/{*rest}").is_ok());
        for bad in [
            "v1/x",
            "/v1//x",
            "/v1/x/",
            "/v1/../x",
            "/v1/{a}/{a}",
            "/v1/{*a}/x",
            "/v1/x{a}",
            "/v1/x?beta=true",
            "/v1/%2e",
        ] {
            assert!(parse_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_upstream_path_drops_v1_only() {
        assert_eq!(default_upstream_path("/v1/files"), "/files");
        assert_eq!(default_upstream_path("/v1"), "/");
        assert_eq!(default_upstream_path("/v1beta/x"), "/v1beta/x");
        assert_eq!(default_upstream_path("/health"), "/health");
    }

    #[test]
    fn templates_use_known_params() {
        let params = vec!["file_id".to_owned()];
        let t = parse_template("/files/{file_id}/content", &params).unwrap();
        let mut out = String::new();
        t.render_into(&mut out, &["f-1"]);
        assert_eq!(out, "/files/f-1/content");
        let (msg, hint) = parse_template("/files/{id}", &params).unwrap_err();
        assert!(msg.contains("{id}"));
        assert!(hint.contains("file_id"));
    }
}
