//! A line diff for `relay test`: the longest common subsequence of the
//! expected and the actual lines, printed with `-` (expected only), `+`
//! (actual only) and two spaces (both).

/// Longer inputs are shown whole, one side after the other.
const MAX_CELLS: usize = 4_000_000;

/// `expected` against `actual`, one output line per input line, each
/// starting with `indent`.
pub fn diff(expected: &[String], actual: &[String], indent: &str) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut out = String::new();
    if n.saturating_mul(m) > MAX_CELLS {
        expected.iter().for_each(|line| push(&mut out, indent, "- ", line));
        actual.iter().for_each(|line| push(&mut out, indent, "+ ", line));
        return out;
    }
    // common[i][j]: the length of the common subsequence of expected[i..] and actual[j..].
    let mut common = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if expected[i] == actual[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            push(&mut out, indent, "  ", &expected[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < n && (j == m || common[i + 1][j] >= common[i][j + 1]) {
            push(&mut out, indent, "- ", &expected[i]);
            i += 1;
        } else {
            push(&mut out, indent, "+ ", &actual[j]);
            j += 1;
        }
    }
    out
}

fn push(out: &mut String, indent: &str, mark: &str, line: &str) {
    out.push_str(indent);
    out.push_str(mark);
    out.push_str(line);
    out.push('\n');
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
