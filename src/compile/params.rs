//! Path parameters no part of the route reads: `{file_id}` in `path` that
//! neither `upstream_path`, a guard (its probe or condition), a retry's
//! verify step nor a template (`params.file_id`) uses. Such a route compiles
//! (the value is matched, then dropped), so it is a warning, not an error.
//!
//! A route with an envelope takes its upstream request from the body, and
//! `{model}` is read by consumers' model permissions: neither is warned about.

use crate::diagnostics::{Source, SpecError, SpecWarning};
use crate::spec::RouteSpec;
use crate::table::{PathPiece, PathTemplate, Route};
use crate::transforms::TransformSpec;

/// A warning for each path parameter of `route` that nothing reads.
pub fn unused(source: &Source, spec: &toml::Spanned<RouteSpec>, route: &Route) -> Vec<SpecWarning> {
    let spec = spec.get_ref();
    if spec.transforms.iter().any(|t| matches!(t.get_ref(), TransformSpec::Envelope(_))) {
        return Vec::new();
    }
    let mut used = vec![false; route.params.len()];
    let mut paths: Vec<&PathTemplate> = vec![&route.upstream_path];
    paths.extend(route.guards.iter().filter_map(|g| g.probe.as_ref()));
    paths.extend(route.retry.iter().filter_map(|r| r.verify.as_ref()).map(|v| &v.path));
    for piece in paths.iter().flat_map(|p| &p.pieces) {
        if let PathPiece::Param(i) = piece
            && let Some(slot) = used.get_mut(*i)
        {
            *slot = true;
        }
    }
    for text in texts(spec) {
        mark_mentions(text, &route.params, &mut used);
    }
    route
        .params
        .iter()
        .zip(used)
        .filter(|(name, used)| !used && name.as_str() != "model")
        .map(|(name, _)| warning(source, spec, route, name))
        .collect()
}

/// The expressions of the route that can read `params`.
fn texts(spec: &RouteSpec) -> Vec<&str> {
    let mut texts: Vec<&str> = spec.guards.iter().map(|g| g.get_ref().deny_when.as_str()).collect();
    let verify = spec.retry.as_ref().and_then(|r| r.get_ref().verify.as_ref());
    texts.extend(verify.map(|v| v.success_when.as_str()));
    for transform in &spec.transforms {
        if let TransformSpec::Template(t) = transform.get_ref() {
            texts.extend(t.path.as_deref());
            texts.extend(t.body.as_deref());
            texts.extend(t.headers.values().map(String::as_str));
        }
    }
    texts
}

/// Marks the parameters `text` reads: `params.name`, `params["name"]`, or
/// all of them where it reads `params` whole.
fn mark_mentions(text: &str, names: &[String], used: &mut [bool]) {
    for (at, _) in text.match_indices("params") {
        if text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let rest = &text[at + "params".len()..];
        let field = match rest.strip_prefix('.') {
            Some(after) => after.split(|c: char| !(c.is_alphanumeric() || c == '_')).next(),
            None => {
                rest.strip_prefix("[\"").or_else(|| rest.strip_prefix("['")).and_then(|r| r.split(['"', '\'']).next())
            }
        };
        for (name, slot) in names.iter().zip(used.iter_mut()) {
            if field.is_none_or(|field| field == name) {
                *slot = true;
            }
        }
    }
}

fn warning(source: &Source, spec: &RouteSpec, route: &Route, name: &str) -> SpecWarning {
    let span = spec.path.span();
    let written = source.text.get(span.clone()).unwrap_or_default();
    let at = [format!("{{{name}}}"), format!("{{*{name}}}")]
        .iter()
        .find_map(|slot| written.find(slot.as_str()))
        .map_or(span.start, |offset| span.start + offset);
    let target = route.upstream_path.display(&route.params);
    let error: SpecError = source
        .error_at(at, format!("path parameter `{name}` of route `{}` is not used: the upstream path is {target}", route.id))
        .with_hint(format!(
            "write {{{name}}} in `upstream_path`, or read it in a template as `params.{name}`; else the upstream never sees it"
        ));
    SpecWarning(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(text: &str) -> Vec<bool> {
        let names = ["id".to_owned(), "name".to_owned()];
        let mut used = vec![false; 2];
        mark_mentions(text, &names, &mut used);
        used
    }

    #[test]
    fn templates_read_one_parameter_or_all() {
        assert_eq!(marked("{{ params.name }}"), [false, true]);
        assert_eq!(marked("{{ params['id'] }}"), [true, false]);
        assert_eq!(marked("{{ params | tojson }}"), [true, true]);
        assert_eq!(marked("{{ body.params.id }} {{ myparams }}"), [false, false]);
        assert_eq!(marked("{{ params.identity }}"), [false, false]);
    }
}
