//! `[routes]`: routes written one line each.
//!
//! ```toml
//! [routes]
//! "models.list"   = "GET /v1/models  List models"
//! "models.delete" = "DELETE /v1/models/{model}  Delete a fine-tuned model"
//! files.get       = "GET /v1/files/{file_id}"      # bare dotted keys work too
//! "files.create"  = { at = "POST /v1/files  Upload a file", body = { max = "512MiB" } }
//! ```
//!
//! The key is the route id; the line is the method (or several joined by
//! `,`), the path, and optionally the summary (the rest of the line). A table
//! value gives the line as `at` (its first key) and any other route key
//! ([`InlineRouteSpec`]). Each entry expands, right after parsing, to exactly
//! the `[[route]]` with those keys, located at the entry's key, so
//! everything after parsing (defaults, `override`, compile errors, `explain`)
//! treats both forms alike. [`expand`] merges the expanded routes with the
//! file's `[[route]]` blocks in the order they are written.

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use toml::Spanned;

use super::{InlineRouteSpec, Methods, RouteSpec};
use crate::diagnostics::{Source, SpecError};

/// The entries of `[routes]` as written: id (dotted keys joined with `.`)
/// and what it says, in document order.
#[derive(Debug, Default)]
pub struct CompactRoutes(pub Vec<(Spanned<String>, Compact)>);

/// One entry of `[routes]`.
#[derive(Debug)]
pub enum Compact {
    /// `id = "METHOD /path  summary"`.
    Line(Spanned<String>),
    /// `id = { at = "METHOD /path  summary", key = value, ... }`.
    Inline(Box<InlineRouteSpec>),
}

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
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CompactRoutes, A::Error> {
        entries(None, map)
    }
}

/// The entries of a table whose first key may already be read.
fn entries<'de, A: MapAccess<'de>>(first: Option<Spanned<String>>, mut map: A) -> Result<CompactRoutes, A::Error> {
    let mut out = Vec::new();
    let mut next = first;
    loop {
        let key = match next.take() {
            Some(key) => key,
            None => match map.next_key::<Spanned<String>>()? {
                Some(key) => key,
                None => break,
            },
        };
        if key.get_ref() == "at" && !out.is_empty() {
            return Err(de::Error::custom(
                "in a route written as a table, `at` comes first: { at = \"GET /v1/x  summary\", ... }",
            ));
        }
        match map.next_value::<Entry>()? {
            Entry::One(entry) => out.push((key, entry)),
            Entry::Nested(inner) => {
                for (id, entry) in inner.0 {
                    // `a.b = ...` is located at `a`; an entry of a `[routes.a]`
                    // table at its own key, on its own line.
                    let dotted = id.span().start <= key.span().end + 1;
                    let span = if dotted { key.span().start..id.span().end } else { id.span() };
                    out.push((Spanned::new(span, format!("{}.{}", key.get_ref(), id.get_ref())), entry));
                }
            }
        }
    }
    Ok(CompactRoutes(out))
}

/// One value of `[routes]`: a route, or the table a bare dotted key makes.
enum Entry {
    One(Compact),
    Nested(CompactRoutes),
}

/// A line (with its span), an inline route (a table whose first key is
/// `at`) or a nested table of ids.
impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: de::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = Spanned::<LineOrTable>::deserialize(de)?;
        let span = value.span();
        Ok(match value.into_inner() {
            LineOrTable::Line(line) => Entry::One(Compact::Line(Spanned::new(span, line))),
            LineOrTable::Route(route) => Entry::One(Compact::Inline(route)),
            LineOrTable::Table(table) => Entry::Nested(table),
        })
    }
}

enum LineOrTable {
    Line(String),
    Route(Box<InlineRouteSpec>),
    Table(CompactRoutes),
}

impl<'de> Deserialize<'de> for LineOrTable {
    fn deserialize<D: de::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl<'de> Visitor<'de> for LineVisitor {
            type Value = LineOrTable;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a route line such as \"GET /v1/models  List models\", or a table { at = \"...\", ... }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LineOrTable, E> {
                Ok(LineOrTable::Line(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LineOrTable, A::Error> {
                let Some(first) = map.next_key::<Spanned<String>>()? else {
                    return Ok(LineOrTable::Table(CompactRoutes::default()));
                };
                if first.get_ref() != "at" {
                    return entries(Some(first), map).map(LineOrTable::Table);
                }
                let replay = Replay { first: Some(first.into_inner()), map };
                let route = InlineRouteSpec::deserialize(MapAccessDeserializer::new(replay))?;
                Ok(LineOrTable::Route(Box::new(route)))
            }
        }
        de.deserialize_any(LineVisitor)
    }
}

/// A map whose first key was read already: it gives that key again.
struct Replay<A> {
    first: Option<String>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(key) => seed.deserialize(StringDeserializer::<A::Error>::new(key)).map(Some),
            None => self.map.next_key_seed(seed),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Expands `compact` and merges it into `routes` in document order.
pub fn expand(source: &Source, compact: CompactRoutes, routes: &mut Vec<Spanned<RouteSpec>>) -> Result<(), SpecError> {
    for (id, entry) in compact.0 {
        let route = match entry {
            Compact::Line(line) => {
                let span = id.span().start..line.span().end;
                let (method, path, summary) = parse_line(source, id.get_ref(), &line)?;
                Spanned::new(span, RouteSpec::plain(id, method, path, summary))
            }
            Compact::Inline(inline) => {
                let span = id.span().start..inline.at.span().end;
                let (method, path, summary) = parse_line(source, id.get_ref(), &inline.at)?;
                Spanned::new(span, inline.into_route(id, method, path, summary))
            }
        };
        routes.push(route);
    }
    routes.sort_by_key(|route| route.span().start);
    Ok(())
}

/// The method(s), path and summary of a line.
type LineParts = (Spanned<Methods>, Spanned<String>, Option<String>);

/// The method(s), path and summary of a line, each located in the file.
fn parse_line(source: &Source, id: &str, line: &Spanned<String>) -> Result<LineParts, SpecError> {
    let text = line.get_ref();
    // Where a byte of the value is in the file: exact for a plain one-line
    // string, else the start of the value.
    let raw = source.text.get(line.span());
    let exact = raw.is_some_and(|raw| raw.len() == text.len() + 2 && &raw[1..raw.len() - 1] == text);
    let at = |index: usize| if exact { line.span().start + 1 + index } else { line.span().start };
    let example = "write \"METHOD /path  summary\", e.g. \"GET /v1/models  List models\"";
    let mut tokens = tokens(text);
    let Some((method_at, method)) = tokens.next() else {
        return Err(source.error_at(at(0), format!("route `{id}` is empty")).with_hint(example));
    };
    if method.starts_with('/') {
        return Err(source
            .error_at(at(method_at), format!("route `{id}` starts with a path; the method comes first"))
            .with_hint(format!("write \"GET {method}\" (or the route's method)")));
    }
    let Some((path_at, path)) = tokens.next() else {
        return Err(source
            .error_at(at(text.len()), format!("route `{id}` has no path after the method"))
            .with_hint(example));
    };
    if !path.starts_with('/') {
        return Err(source
            .error_at(at(path_at), format!("route `{id}`: {path:?} is not a path"))
            .with_hint(format!("paths start with `/`; {example}")));
    }
    let summary = text[path_at + path.len()..].trim();
    let methods = Methods(method.split(',').map(str::to_owned).collect());
    Ok((
        Spanned::new(at(method_at)..at(method_at) + method.len(), methods),
        Spanned::new(at(path_at)..at(path_at) + path.len(), path.to_owned()),
        (!summary.is_empty()).then(|| summary.to_owned()),
    ))
}

/// The whitespace-separated words of a line, with their byte indices.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_ascii_whitespace().map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}
