//! A line diff for `relay test` (the `similar` crate's): printed with `-`
//! (expected only), `+` (actual only) and two spaces (both).

use similar::{ChangeTag, TextDiff};

/// `expected` against `actual`, one output line per input line, each
/// starting with `indent`.
pub fn diff(expected: &[String], actual: &[String], indent: &str) -> String {
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    let mut out = String::new();
    for change in TextDiff::from_slices(&expected, &actual).iter_all_changes() {
        let mark = match change.tag() {
            ChangeTag::Equal => "  ",
            ChangeTag::Delete => "- ",
            ChangeTag::Insert => "+ ",
        };
        out.push_str(indent);
        out.push_str(mark);
        out.push_str(change.value());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn only_the_changed_lines_are_marked() {
        let shown = diff(&lines("a\nb\nc"), &lines("a\nx\nc\nd"), "");
        assert_eq!(shown, "  a\n- b\n+ x\n  c\n+ d\n");
    }

    #[test]
    fn equal_inputs_have_no_marks() {
        assert_eq!(diff(&lines("a\nb"), &lines("a\nb"), ">"), ">  a\n>  b\n");
    }
}
