//! Method and path matching over the whole table, as one radix tree.
//!
//! Patterns are inserted into a `matchit` router with their parameters renamed
//! by position (`{p0}`, `{p1}`, ...), so routes that name the same segment
//! differently for different methods share one node; each node keeps a small
//! method list. That yields 405 (with `Allow`) for a known path and 404 for an
//! unknown one from a single lookup, whose cost does not grow with the number
//! of routes.

use std::collections::HashMap;

use actix_web::http::Method;

/// The matching part of a [`crate::table::Table`].
#[derive(Default)]
pub struct Matcher {
    router: matchit::Router<usize>,
    /// One entry per distinct path shape: the routes behind it, by method.
    entries: Vec<Vec<(Method, usize)>>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher").field("paths", &self.entries.len()).finish()
    }
}

/// The result of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'p> {
    /// A route index and its parameter values in order of appearance.
    Found {
        route: usize,
        params: Vec<&'p str>,
    },
    /// The path is known, but not for this method.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
}

/// Why a pattern could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum InsertError {
    /// Another route already has this method and path shape.
    Duplicate { existing: usize },
    /// The radix tree refused the pattern (e.g. a conflicting wildcard).
    Conflict(String),
}

impl Matcher {
    /// Adds `route` for `method` on a pattern whose parameters are already
    /// positional (see [`positional_pattern`]).
    pub fn insert(
        &mut self,
        shape: &str,
        method: Method,
        route: usize,
        shapes: &mut ShapeIndex,
    ) -> Result<(), InsertError> {
        let entry = match shapes.0.get(shape) {
            Some(&entry) => entry,
            None => {
                let entry = self.entries.len();
                self.router.insert(shape, entry).map_err(|e| InsertError::Conflict(e.to_string()))?;
                self.entries.push(Vec::new());
                shapes.0.insert(shape.to_owned(), entry);
                entry
            }
        };
        let methods = &mut self.entries[entry];
        if let Some((_, existing)) = methods.iter().find(|(m, _)| *m == method) {
            return Err(InsertError::Duplicate { existing: *existing });
        }
        methods.push((method, route));
        Ok(())
    }

    /// Finds the route for `method` and a normalised `path`.
    pub fn lookup<'p>(&self, method: &Method, path: &'p str) -> Lookup<'p> {
        let Ok(found) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let methods = &self.entries[*found.value];
        // HEAD is served by the GET route unless the path has its own.
        let wanted = |m: &Method| m == method || (*method == Method::HEAD && *m == Method::GET);
        let exact = methods.iter().find(|(m, _)| m == method);
        match exact.or_else(|| methods.iter().find(|(m, _)| wanted(m))) {
            Some((_, route)) => {
                Lookup::Found { route: *route, params: found.params.iter().map(|(_, value)| value).collect() }
            }
            None => Lookup::MethodNotAllowed { allowed: methods.iter().map(|(m, _)| m.clone()).collect() },
        }
    }
}

/// Shapes already inserted; only needed while building.
#[derive(Default)]
pub struct ShapeIndex(HashMap<String, usize>);

/// `/v1/files/{file_id}/content` → `/v1/files/{p0}/content`
/// (`{*rest}` → `{*p0}`), given the pattern's segments.
pub fn positional_pattern(segments: &[Segment]) -> String {
    let mut out = String::new();
    let mut n = 0;
    for segment in segments {
        out.push('/');
        match segment {
            Segment::Literal(text) => out.push_str(text),
            Segment::Param(_) => {
                out.push_str(&format!("{{p{n}}}"));
                n += 1;
            }
            Segment::CatchAll(_) => {
                out.push_str(&format!("{{*p{n}}}"));
                n += 1;
            }
        }
    }
    if segments.is_empty() {
        out.push('/');
    }
    out
}

/// One segment of an inbound path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Param(String),
    /// `{*name}`: the rest of the path; only last.
    CatchAll(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[(&str, Method)]) -> Matcher {
        let mut m = Matcher::default();
        let mut shapes = ShapeIndex::default();
        for (i, (shape, method)) in patterns.iter().enumerate() {
            m.insert(shape, method.clone(), i, &mut shapes).unwrap();
        }
        m
    }

    #[test]
    fn finds_params_in_order_and_tells_405_from_404() {
        let m = matcher(&[
            ("/v1/files/{p0}", Method::GET),
            ("/v1/files/{p0}", Method::DELETE),
            ("/v1/vector_stores/{p0}/files/{p1}", Method::GET),
        ]);
        assert_eq!(m.lookup(&Method::DELETE, "/v1/files/f1"), Lookup::Found { route: 1, params: vec!["f1"] });
        assert_eq!(
            m.lookup(&Method::GET, "/v1/vector_stores/vs/files/f"),
            Lookup::Found { route: 2, params: vec!["vs", "f"] }
        );
        assert_eq!(
            m.lookup(&Method::POST, "/v1/files/f1"),
            Lookup::MethodNotAllowed { allowed: vec![Method::GET, Method::DELETE] }
        );
        assert_eq!(m.lookup(&Method::GET, "/v1/nothing"), Lookup::NotFound);
        assert_eq!(m.lookup(&Method::HEAD, "/v1/files/f1"), Lookup::Found { route: 0, params: vec!["f1"] });
    }

    #[test]
    fn same_method_and_shape_is_a_duplicate() {
        let mut m = Matcher::default();
        let mut shapes = ShapeIndex::default();
        m.insert("/v1/a/{p0}", Method::GET, 0, &mut shapes).unwrap();
        assert_eq!(m.insert("/v1/a/{p0}", Method::GET, 1, &mut shapes), Err(InsertError::Duplicate { existing: 0 }));
    }

    #[test]
    fn positional_names_hide_param_names() {
        let segments =
            [Segment::Literal("v1".into()), Segment::Param("file_id".into()), Segment::CatchAll("rest".into())];
        assert_eq!(positional_pattern(&segments), "/v1/{p0}/{*p1}");
    }
}
