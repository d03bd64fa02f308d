//! Located errors in route specs: what went wrong, where, and what to do.
//!
//! Every problem found while loading or compiling specs becomes a
//! [`SpecError`] that names the file, line and column and usually carries a
//! hint. Loading never stops at the first problem: callers collect them all.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the file as a whole.
    pub line: usize,
    /// 1-based; 0 when the problem concerns the file as a whole.
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl SpecError {
    /// An error about a whole file (unreadable, not UTF-8, ...).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        SpecError { file: file.to_path_buf(), line: 0, column: 0, message: message.into(), hint: None }
    }

    /// Adds a hint, replacing any earlier one.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl SpecError {
    fn write(&self, f: &mut fmt::Formatter<'_>, kind: &str) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {kind}: {}", self.file.display(), self.message)?;
        } else {
            let (file, line, col) = (self.file.display(), self.line, self.column);
            write!(f, "{file}:{line}:{col}: {kind}: {}", self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, "error")
    }
}

/// A located problem that does not stop the table (`relay check` prints it,
/// `serve` logs it once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecWarning(pub SpecError);

impl fmt::Display for SpecWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, "warning")
    }
}

impl std::error::Error for SpecError {}

/// The text of a spec file, kept to turn byte offsets into line and column.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    /// Byte offset of each line's start, so locating a span is a binary
    /// search, not a scan of the file (a file may hold thousands of routes).
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(path: PathBuf, text: String) -> Source {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Source { path, text, line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(0);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// An error located at a byte offset of this file.
    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> SpecError {
        let (line, column) = self.line_col(offset);
        SpecError { file: self.path.clone(), line, column, message: message.into(), hint: None }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let src = Source::new("a.toml".into(), "a = 1\nbé = 2\n".into());
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(6), (2, 1));
        assert_eq!(src.line_col(10), (2, 4));
        assert_eq!(src.line_col(13), (2, 7));
        assert_eq!(src.line_col(14), (3, 1));
        assert_eq!(src.line_col(99), (3, 1));
    }

    #[test]
    fn nearest_finds_typos_only() {
        let keys = ["method", "path", "upstream"];
        assert_eq!(nearest("methd", keys), Some("method"));
        assert_eq!(nearest("upstraem", keys), Some("upstream"));
        assert_eq!(nearest("colour", keys), None);
    }

    #[test]
    fn display_has_location_and_hint() {
        let e = SpecError { file: "r/a.toml".into(), line: 3, column: 7, message: "bad".into(), hint: None }
            .with_hint("fix it");
        assert_eq!(e.to_string(), "r/a.toml:3:7: error: bad\n  hint: fix it");
    }
}
