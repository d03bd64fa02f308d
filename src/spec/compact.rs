//! `[routes]`: plain passthrough routes written one line each.
//!
//! ```toml
//! [routes]
//! "models.list"   = "GET /v1/models  List models"
//! "models.delete" = "DELETE /v1/models/{model}  Delete a fine-tuned model"
//! files.get       = "GET /v1/files/{file_id}"      # bare dotted keys work too
//! ```
//!
//! The key is the route id; the value is the method (or several joined by
//! `,`), the path, and optionally the summary (the rest of the line). Each
//! entry expands, right after parsing, to exactly the `[[route]]` with only
//! `id`, `method`, `path` and `summary` set, located at the entry's key, so
//! everything after parsing (defaults, `override`, compile errors, `explain`)
//! treats both forms alike. [`expand`] merges the expanded routes with the
//! file's `[[route]]` blocks in the order they are written.

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

use super::{Methods, RouteSpec};
use crate::diagnostics::{Source, SpecError};

/// The entries of `[routes]` as written: id (dotted keys joined with `.`)
/// and the line, in document order.
#[derive(Debug, Default)]
pub struct CompactRoutes(pub Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for CompactRoutes {
    fn deserialize<D: de::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_map(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = CompactRoutes;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a table of route ids, e.g. \"models.list\" = \"GET /v1/models  List models\"")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CompactRoutes, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            match map.next_value::<Entry>()? {
                Entry::Line(line) => entries.push((key, line)),
                Entry::Nested(inner) => {
                    for (id, line) in inner.0 {
                        let span = key.span().start..id.span().end;
                        entries.push((Spanned::new(span, format!("{}.{}", key.get_ref(), id.get_ref())), line));
                    }
                }
            }
        }
        Ok(CompactRoutes(entries))
    }
}

/// One value of `[routes]`: a route line, or the table a bare dotted key makes.
enum Entry {
    Line(Spanned<String>),
    Nested(CompactRoutes),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: de::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = Spanned::<LineOrTable>::deserialize(de)?;
        let span = value.span();
        Ok(match value.into_inner() {
            LineOrTable::Line(line) => Entry::Line(Spanned::new(span, line)),
            LineOrTable::Table(table) => Entry::Nested(table),
        })
    }
}

enum LineOrTable {
    Line(String),
    Table(CompactRoutes),
}

impl<'de> Deserialize<'de> for LineOrTable {
    fn deserialize<D: de::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl<'de> Visitor<'de> for LineVisitor {
            type Value = LineOrTable;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a route line such as \"GET /v1/models  List models\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LineOrTable, E> {
                Ok(LineOrTable::Line(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LineOrTable, A::Error> {
                EntriesVisitor.visit_map(map).map(LineOrTable::Table)
            }
        }
        de.deserialize_any(LineVisitor)
    }
}

/// Expands `compact` and merges it into `routes` in document order.
pub fn expand(source: &Source, compact: CompactRoutes, routes: &mut Vec<Spanned<RouteSpec>>) -> Result<(), SpecError> {
    for (id, line) in compact.0 {
        routes.push(expand_one(source, id, &line)?);
    }
    routes.sort_by_key(|route| route.span().start);
    Ok(())
}

/// The long form of one entry.
fn expand_one(source: &Source, id: Spanned<String>, line: &Spanned<String>) -> Result<Spanned<RouteSpec>, SpecError> {
    let text = line.get_ref();
    // Where a byte of the value is in the file: exact for a plain one-line
    // string, else the start of the value.
    let raw = source.text.get(line.span());
    let exact = raw.is_some_and(|raw| raw.len() == text.len() + 2 && &raw[1..raw.len() - 1] == text);
    let at = |index: usize| if exact { line.span().start + 1 + index } else { line.span().start };
    let example = "write \"METHOD /path  summary\", e.g. \"GET /v1/models  List models\"";
    let mut tokens = tokens(text);
    let Some((method_at, method)) = tokens.next() else {
        return Err(source.error_at(at(0), format!("route `{}` is empty", id.get_ref())).with_hint(example));
    };
    if method.starts_with('/') {
        return Err(source
            .error_at(at(method_at), format!("route `{}` starts with a path; the method comes first", id.get_ref()))
            .with_hint(format!("write \"GET {method}\" (or the route's method)")));
    }
    let Some((path_at, path)) = tokens.next() else {
        return Err(source
            .error_at(at(text.len()), format!("route `{}` has no path after the method", id.get_ref()))
            .with_hint(example));
    };
    if !path.starts_with('/') {
        return Err(source
            .error_at(at(path_at), format!("route `{}`: {path:?} is not a path", id.get_ref()))
            .with_hint(format!("paths start with `/`; {example}")));
    }
    let summary = text[path_at + path.len()..].trim();
    let methods: Vec<String> = method.split(',').map(str::to_owned).collect();
    let span = id.span().start..line.span().end;
    let spanned = |index: usize, len: usize, value: String| Spanned::new(at(index)..at(index) + len, value);
    let method = Spanned::new(at(method_at)..at(method_at) + method.len(), Methods(methods));
    let path = spanned(path_at, path.len(), path.to_owned());
    let summary = (!summary.is_empty()).then(|| summary.to_owned());
    Ok(Spanned::new(span, long_form(id, method, path, summary)))
}

/// The `[[route]]` that sets only these four keys.
fn long_form(
    id: Spanned<String>,
    method: Spanned<Methods>,
    path: Spanned<String>,
    summary: Option<String>,
) -> RouteSpec {
    RouteSpec {
        id,
        method,
        path,
        summary,
        upstream: None,
        upstream_path: None,
        timeout: None,
        idle_timeout: None,
        response: None,
        public: None,
        headers: None,
        query: None,
        response_headers: None,
        body: None,
        description: None,
        tags: None,
        openapi: None,
        retry: None,
        guards: Vec::new(),
        transforms: Vec::new(),
        listeners: None,
        models: None,
        protocol: None,
        websocket: None,
        replaces: false,
        cors: None,
    }
}

/// The whitespace-separated words of a line, with their byte indices.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_ascii_whitespace().map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}
