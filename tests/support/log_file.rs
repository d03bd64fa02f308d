//! Reading a log file the relay is still writing.
//!
//! A reader can catch the writer mid-line (a write to a regular file is not
//! atomic against a concurrent read), so only lines that end in a newline
//! count; a torn last line is read again on the next poll.

use std::path::Path;

/// The complete lines of `path` (none if it does not exist yet).
pub fn complete_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Vec::new(),
    };
    complete.split('\n').map(str::to_owned).collect()
}
