//! Route ids are unique across all files: a second use is reported once,
//! at its `id` (the key of a `[routes]` entry), naming the first use.

use std::collections::HashMap;

use crate::diagnostics::{Source, SpecError};
use crate::table::Origin;

/// The ids seen so far, each with where it was first written.
#[derive(Debug, Default)]
pub struct Ids {
    first: HashMap<String, Origin>,
}

impl Ids {
    /// Records the id written at `at` in `source`; a second use is an error.
    pub fn record(&mut self, source: &Source, id: &toml::Spanned<String>, errors: &mut Vec<SpecError>) {
        let at = id.span().start;
        if let Some(first) = self.first.get(id.get_ref()) {
            errors.push(
                source
                    .error_at(at, format!("route id `{}` is used twice", id.get_ref()))
                    .with_hint(format!("the first use is at {first}; ids must be unique across all files")),
            );
            return;
        }
        let (line, column) = source.line_col(at);
        self.first.insert(id.get_ref().clone(), Origin { file: source.path.clone(), line, column });
    }
}
