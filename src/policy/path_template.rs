//! A route's upstream path (or a probe's): literal text and parameter
//! slots, compiled once and rendered per request with the matched values.

/// The upstream path of a route: literal text and parameter slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub pieces: Vec<PathPiece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPiece {
    Literal(String),
    /// Index into the route's `params`.
    Param(usize),
}

impl PathTemplate {
    /// Appends the path with `values` (matched segments, in `params` order).
    pub fn render_into(&self, out: &mut String, values: &[&str]) {
        for piece in &self.pieces {
            match piece {
                PathPiece::Literal(text) => out.push_str(text),
                PathPiece::Param(i) => out.push_str(values.get(*i).copied().unwrap_or_default()),
            }
        }
    }

    /// The template as written, with `{name}` for parameters.
    pub fn display(&self, params: &[String]) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                PathPiece::Literal(text) => out.push_str(text),
                PathPiece::Param(i) => {
                    out.push('{');
                    out.push_str(params.get(*i).map_or("?", String::as_str));
                    out.push('}');
                }
            }
        }
        out
    }
}
