//! Method and path matching over the whole table, as one radix tree.
//!
//! Patterns are inserted into a `matchit` router with their parameters renamed
//! by position (`{p0}`, `{p1}`, ...), so routes that name the same segment
//! differently for different methods share one node; each node keeps a small
//! method list. That yields 405 (with `Allow`) for a known path and 404 for an
//! unknown one from a single lookup, whose cost does not grow with the number
//! of routes.
//!
//! A WebSocket route shares its path with HTTP routes: it is an entry for
//! `GET` of its own kind, found only by a WebSocket handshake (a `GET` with
//! `Upgrade: websocket`). Any other request on that path is matched against
//! the HTTP routes alone; a plain `GET` where only a WebSocket route serves
//! `GET` is told to upgrade (426).

use std::collections::HashMap;

use actix_web::http::Method;

/// The matching part of a [`crate::table::Table`].
#[derive(Default)]
pub struct Matcher {
    router: matchit::Router<usize>,
    /// One entry per distinct path shape: the routes behind it, by method.
    entries: Vec<Vec<Entry>>,
}

/// One route behind a path shape.
#[derive(Debug, Clone)]
struct Entry {
    method: Method,
    /// Matched only by WebSocket handshakes.
    websocket: bool,
    route: usize,
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
    /// Only a WebSocket route serves this method here, and the request is no
    /// WebSocket handshake.
    UpgradeRequired,
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
    /// positional (see [`positional_pattern`]); a `websocket` route is an
    /// entry of its own kind.
    pub fn insert(
        &mut self,
        shape: &str,
        (method, websocket): (Method, bool),
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
        let entries = &mut self.entries[entry];
        if let Some(existing) = entries.iter().find(|e| e.method == method && e.websocket == websocket) {
            return Err(InsertError::Duplicate { existing: existing.route });
        }
        entries.push(Entry { method, websocket, route });
        Ok(())
    }

    /// Finds the route for `method` and a normalised `path`; `handshake`
    /// tells whether the request asks for a WebSocket upgrade.
    pub fn lookup<'p>(&self, method: &Method, path: &'p str, handshake: bool) -> Lookup<'p> {
        let Ok(found) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let entries = &self.entries[*found.value];
        let websocket = entries.iter().find(|e| e.websocket && e.method == method);
        let http = || {
            let mut http = entries.iter().filter(|e| !e.websocket);
            // HEAD is served by the GET route unless the path has its own.
            let exact = http.clone().find(|e| e.method == method);
            exact.or_else(|| http.find(|e| *method == Method::HEAD && e.method == Method::GET))
        };
        let chosen = match websocket {
            Some(entry) if handshake => Some(entry),
            _ => http(),
        };
        match (chosen, websocket) {
            (Some(entry), _) => {
                Lookup::Found { route: entry.route, params: found.params.iter().map(|(_, value)| value).collect() }
            }
            (None, Some(_)) => Lookup::UpgradeRequired,
            (None, None) => {
                let mut allowed: Vec<Method> = Vec::new();
                for entry in entries {
                    if !allowed.contains(&entry.method) {
                        allowed.push(entry.method.clone());
                    }
                }
                Lookup::MethodNotAllowed { allowed }
            }
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
            m.insert(shape, (method.clone(), false), i, &mut shapes).unwrap();
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
        assert_eq!(m.lookup(&Method::DELETE, "/v1/files/f1", false), Lookup::Found { route: 1, params: vec!["f1"] });
        assert_eq!(
            m.lookup(&Method::GET, "/v1/vector_stores/vs/files/f", false),
            Lookup::Found { route: 2, params: vec!["vs", "f"] }
        );
        assert_eq!(
            m.lookup(&Method::POST, "/v1/files/f1", false),
            Lookup::MethodNotAllowed { allowed: vec![Method::GET, Method::DELETE] }
        );
        assert_eq!(m.lookup(&Method::GET, "/v1/nothing", false), Lookup::NotFound);
        assert_eq!(m.lookup(&Method::HEAD, "/v1/files/f1", false), Lookup::Found { route: 0, params: vec!["f1"] });
    }

    #[test]
    fn same_method_and_shape_is_a_duplicate() {
        let mut m = Matcher::default();
        let mut shapes = ShapeIndex::default();
        m.insert("/v1/a/{p0}", (Method::GET, false), 0, &mut shapes).unwrap();
        assert_eq!(
            m.insert("/v1/a/{p0}", (Method::GET, false), 1, &mut shapes),
            Err(InsertError::Duplicate { existing: 0 })
        );
        m.insert("/v1/a/{p0}", (Method::GET, true), 2, &mut shapes).unwrap();
    }

    #[test]
    fn a_websocket_route_is_found_by_handshakes_only() {
        let mut m = Matcher::default();
        let mut shapes = ShapeIndex::default();
        m.insert("/v1/responses", (Method::POST, false), 0, &mut shapes).unwrap();
        m.insert("/v1/responses", (Method::GET, true), 1, &mut shapes).unwrap();
        m.insert("/v1/realtime", (Method::GET, true), 2, &mut shapes).unwrap();
        m.insert("/v1/both", (Method::GET, true), 3, &mut shapes).unwrap();
        m.insert("/v1/both", (Method::GET, false), 4, &mut shapes).unwrap();
        let found = |route| Lookup::Found { route, params: vec![] };
        assert_eq!(m.lookup(&Method::GET, "/v1/responses", true), found(1));
        assert_eq!(m.lookup(&Method::POST, "/v1/responses", true), found(0));
        assert_eq!(m.lookup(&Method::POST, "/v1/responses", false), found(0));
        assert_eq!(m.lookup(&Method::GET, "/v1/responses", false), Lookup::UpgradeRequired);
        assert_eq!(m.lookup(&Method::GET, "/v1/realtime", false), Lookup::UpgradeRequired);
        assert_eq!(
            m.lookup(&Method::DELETE, "/v1/responses", false),
            Lookup::MethodNotAllowed { allowed: vec![Method::POST, Method::GET] }
        );
        assert_eq!(
            m.lookup(&Method::HEAD, "/v1/realtime", false),
            Lookup::MethodNotAllowed { allowed: vec![Method::GET] }
        );
        assert_eq!(m.lookup(&Method::GET, "/v1/both", true), found(3));
        assert_eq!(m.lookup(&Method::GET, "/v1/both", false), found(4));
    }

    #[test]
    fn positional_names_hide_param_names() {
        let segments =
            [Segment::Literal("v1".into()), Segment::Param("file_id".into()), Segment::CatchAll("rest".into())];
        assert_eq!(positional_pattern(&segments), "/v1/{p0}/{*p1}");
    }
}
