//! TOML syntax errors in words a spec author acts on: an inline table or
//! array left open is named at its opening bracket, and every syntax error
//! gets a hint (the toml crate's own message says what it expected, not
//! what to write).

use crate::diagnostics::{Source, SpecError};

/// The error for a file that is not valid TOML, raised at `offset` with the
/// parser's `message`.
pub fn syntax_error(source: &Source, offset: usize, message: &str) -> SpecError {
    if let Some(error) = unclosed(source, offset, message) {
        return error;
    }
    source.error_at(offset, message).with_hint(hint(message))
}

/// An inline table or array still open where the parser gave up, named at
/// its opening bracket: `{ at = "GET /v1/x", timeout = "5s"` and a new line.
fn unclosed(source: &Source, offset: usize, message: &str) -> Option<SpecError> {
    let (open, bracket) = innermost_open(&source.text, offset)?;
    let (what, close) = match bracket {
        '{' => ("inline table", '}'),
        _ => ("array", ']'),
    };
    let (open_line, _) = source.line_col(open);
    let (stop_line, stop_column) = source.line_col(offset);
    let gave_up = message.starts_with(&format!("unclosed {what},"));
    let read_on = stop_line > open_line
        && (message.starts_with("missing comma between")
            || message.starts_with("unexpected key or value")
            || message.starts_with("duplicate key"));
    if !gave_up && !read_on {
        return None;
    }
    Some(source.error_at(open, format!("this {what} has no closing `{close}`")).with_hint(format!(
        "add `{close}` after its last value; TOML read on to line {stop_line}, column {stop_column} looking for it"
    )))
}

/// The hint for a syntax error, by the parser's message.
fn hint(message: &str) -> String {
    let hints: [(&str, &str); 15] = [
        ("invalid multi-line basic string", "end the text with `\"\"\"`"),
        ("invalid multi-line literal string", "end the text with `'''`"),
        (
            "missing escaped value",
            "`\\` starts an escape in \"...\": write `\\\\` for a backslash, or use '...' (no escapes)",
        ),
        ("unquoted keys", "write the key before `=`; a key with other characters is quoted: \"my key\" = 1"),
        (
            "invalid basic string",
            "end the string with `\"` on the same line; text over several lines goes in `\"\"\"...\"\"\"`",
        ),
        ("invalid literal string", "end the string with `'` on the same line; a string holding `'` is written \"...\""),
        ("unclosed array table", "a route block starts with `[[route]]` on a line of its own"),
        ("unclosed table", "a table header is `[name]` on a line of its own, e.g. `[upstream.openai]`"),
        ("key with no value", "write `key = value`"),
        ("string values must be quoted", "quote the text: key = \"value\""),
        ("duplicate key", "a key is written once per table; a second route starts with its own `[[route]]`"),
        ("missing comma between key-value pairs", "separate the keys of an inline table with `,`: { a = 1, b = 2 }"),
        ("missing comma between array elements", "separate the elements with `,`: [\"GET\", \"POST\"]"),
        ("unexpected key or value", "one `key = value` a line; after the value only a `#` comment may follow"),
        ("invalid", "see https://toml.io for the syntax of values"),
    ];
    hints
        .iter()
        .find(|(start, _)| message.starts_with(start))
        .map_or("the file is not valid TOML here (https://toml.io); the other files are still checked", |(_, h)| h)
        .to_owned()
}

/// The innermost `{` or `[` still open at byte `offset` (strings and
/// comments skipped), with its offset. Table headers are closed on their
/// own line, so they are never the answer when a value was left open.
fn innermost_open(text: &str, offset: usize) -> Option<(usize, char)> {
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut open: Vec<(usize, char)> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'#' => i = find(bytes, i, b"\n").unwrap_or(end),
            b'"' | b'\'' => i = skip_string(bytes, i),
            b'{' => open.push((i, '{')),
            b'[' => open.push((i, '[')),
            b'}' | b']' => drop(open.pop()),
            _ => {}
        }
        i += 1;
    }
    open.pop()
}

/// The offset of the last byte of the string starting at `at`.
fn skip_string(bytes: &[u8], at: usize) -> usize {
    let quote = bytes[at];
    let triple = [quote; 3];
    if bytes[at..].starts_with(&triple) {
        return find(bytes, at + 3, &triple).map_or(bytes.len(), |end| end + 2);
    }
    let mut i = at + 1;
    while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
        if quote == b'"' && bytes[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i
}

/// Where `needle` next occurs at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_open_bracket_skips_strings_and_comments() {
        let text = "a = { b = \"{[\", c = ['}'] # }\n";
        assert_eq!(innermost_open(text, text.len()), Some((4, '{')));
        assert_eq!(innermost_open("a = [1, {x = 1}]\n", 16), None);
        assert_eq!(innermost_open("a = \"\"\"\n{\n\"\"\"\nb = [", 19), Some((18, '[')));
    }

    #[test]
    fn an_inline_table_left_open_is_named_at_its_brace() {
        let text = "[routes]\n\"a\" = { at = \"GET /v1/a\"\n\"b\" = \"GET /v1/b\"\n";
        let source = Source::new("x.toml".into(), text.into());
        let error = syntax_error(&source, 34, "missing comma between key-value pairs, expected `,`");
        assert_eq!((error.line, error.column, error.message.as_str()), (2, 7, "this inline table has no closing `}`"));
        let same_line = syntax_error(&source, 20, "missing comma between key-value pairs, expected `,`");
        assert!(same_line.message.starts_with("missing comma"), "{same_line}");
    }
}
