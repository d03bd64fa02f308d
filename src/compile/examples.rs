//! Checks a route's `[[route.examples]]`: each must be a request the route
//! itself serves (one of its methods, a path its pattern matches) with
//! valid headers, and say what it expects in keys that fit together.
//! Examples change nothing a route does; only `relay test` runs them.

use std::collections::HashSet;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use toml::Spanned;

use crate::diagnostics::{Source, SpecError};
use crate::matcher::Segment;
use crate::policy::example::{Example, Expect};
use crate::spec::example::{ExampleRequestSpec, ExampleSpec, ExpectSpec};

/// What an example is checked against: the route's methods and pattern.
pub struct RouteShape<'a> {
    pub methods: &'a [Method],
    pub path: &'a str,
    pub segments: &'a [Segment],
}

/// The route's examples, or `None` with every problem in `errors`.
pub fn compile(
    src: &Source,
    specs: &[Spanned<ExampleSpec>],
    route: &RouteShape<'_>,
    errors: &mut Vec<SpecError>,
) -> Option<Vec<Example>> {
    let before = errors.len();
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let at = spec.span().start;
        let spec = spec.get_ref();
        let name = spec.name.get_ref().trim();
        if name.is_empty() {
            errors.push(src.error_at(spec.name.span().start, "an example needs a name").with_hint("say what it shows"));
        } else if !names.insert(name.to_owned()) {
            errors.push(src.error_at(spec.name.span().start, format!("the route has two examples named {name:?}")));
        }
        let request = super::keep(errors, request(src, &spec.request, route));
        let expect = super::keep(errors, expect(src, &spec.expect));
        if let (Some((method, target, headers, body)), Some(expect)) = (request, expect) {
            let (line, column) = src.line_col(at);
            let origin = format!("{}:{line}:{column}", src.path.display());
            out.push(Example { name: name.to_owned(), origin, method, target, headers, body, expect });
        }
    }
    (errors.len() == before).then_some(out)
}

type Request = (Method, String, HeaderMap, Option<Vec<u8>>);

fn request(src: &Source, spec: &Spanned<ExampleRequestSpec>, route: &RouteShape<'_>) -> Result<Request, SpecError> {
    let at = spec.span().start;
    let spec = spec.get_ref();
    let method = match &spec.method {
        None => route.methods.first().cloned().unwrap_or(Method::GET),
        Some(name) => Method::from_bytes(name.to_ascii_uppercase().as_bytes())
            .ok()
            .filter(|m| route.methods.contains(m))
            .ok_or_else(|| {
                let list: Vec<&str> = route.methods.iter().map(Method::as_str).collect();
                src.error_at(at, format!("the example's method {name:?} is not one of the route's"))
                    .with_hint(format!("the route serves {}", list.join(", ")))
            })?,
    };
    let target = spec.path.get_ref();
    let path = target.split_once('?').map_or(target.as_str(), |(path, _)| path);
    if !matches(route.segments, path) {
        return Err(src
            .error_at(spec.path.span().start, format!("the example's path {path:?} does not match the route's path"))
            .with_hint(format!("write a path that {} matches", route.path)));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &spec.headers {
        let name = super::values::header_name(src, at, name)?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| src.error_at(at, format!("the example's value of header {name} is not valid")))?;
        headers.append(name, value);
    }
    let body = match (&spec.body, &spec.body_text) {
        (Some(_), Some(_)) => return Err(src.error_at(at, "an example's request has `body` or `body_text`, not both")),
        (Some(json), None) => {
            if !headers.contains_key(header::CONTENT_TYPE) {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Some(json.to_string().into_bytes())
        }
        (None, Some(text)) => Some(text.clone().into_bytes()),
        (None, None) => None,
    };
    Ok((method, target.clone(), headers, body))
}

fn expect(src: &Source, spec: &Spanned<ExpectSpec>) -> Result<Expect, SpecError> {
    let at = spec.span().start;
    let spec = spec.get_ref();
    let method = match &spec.method {
        Some(name) => Some(
            Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                .map_err(|_| src.error_at(at, format!("{name:?} is not an HTTP method")))?,
        ),
        None => None,
    };
    let headers = spec
        .headers
        .iter()
        .map(|(name, value)| Ok((super::values::header_name(src, at, name)?, value.clone())))
        .collect::<Result<Vec<(HeaderName, String)>, SpecError>>()?;
    let status = match spec.status {
        Some(code) => Some(
            StatusCode::from_u16(code)
                .ok()
                .filter(|_| code >= 200)
                .ok_or_else(|| src.error_at(at, format!("{code} is not a status the relay answers with")))?,
        ),
        None => None,
    };
    let expect = Expect {
        method,
        url: spec.url.clone(),
        headers,
        body: spec.body.clone(),
        parts: spec.parts.clone(),
        status,
        code: spec.code.clone(),
    };
    let upstream_keys =
        expect.method.is_some() || expect.url.is_some() || !expect.headers.is_empty() || expect.parts.is_some();
    if expect.answers_itself() && upstream_keys {
        return Err(src
            .error_at(at, "an example expects the relay's own answer (`status`, `code`) and an upstream request")
            .with_hint(
                "with `status` or `code` only `body` may be checked; or drop them to check the upstream request",
            ));
    }
    if expect.parts.is_some() && expect.body.is_some() {
        return Err(src.error_at(at, "`parts` (a multipart body) and `body` (JSON) exclude each other"));
    }
    if !expect.answers_itself() && !upstream_keys && expect.body.is_none() {
        return Err(src
            .error_at(at, "the example expects nothing")
            .with_hint("give at least one of method, url, headers, body, parts, status, code"));
    }
    Ok(expect)
}

/// Whether a raw path matches a route's pattern.
fn matches(segments: &[Segment], path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    let parts: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('/').collect() };
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::CatchAll(_) => return parts.len() > i && parts[i..].iter().all(|p| !p.is_empty()),
            Segment::Literal(text) if parts.get(i) != Some(&text.as_str()) => return false,
            Segment::Param(_) if parts.get(i).is_none_or(|p| p.is_empty()) => return false,
            _ => {}
        }
    }
    parts.len() == segments.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Vec<Segment> {
        crate::compile::path::parse_pattern(text).unwrap_or_default()
    }

    #[test]
    fn a_path_matches_its_pattern_and_nothing_else() {
        let files = pattern("/v1/files/{file_id}/content");
        assert!(matches(&files, "/v1/files/f-1/content"));
        assert!(!matches(&files, "/v1/files//content"));
        assert!(!matches(&files, "/v1/files/f-1"));
        assert!(!matches(&files, "/v1/files/f-1/content/more"));
        assert!(!matches(&files, "v1/files/f-1/content"));
        let rest = pattern("/v1/x/{*rest}");
        assert!(matches(&rest, "/v1/x/a/b"));
        assert!(!matches(&rest, "/v1/x"));
        assert!(matches(&pattern("/"), "/"));
        assert!(!matches(&pattern("/"), "/a"));
    }
}
