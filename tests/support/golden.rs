//! Golden files: compare output with a file kept in `tests/fixtures/`, or
//! rewrite the file when `RELAY_BLESS` is set (then read the diff).

use std::path::Path;

/// Asserts that `actual` equals the golden file at `path`.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("RELAY_BLESS").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(actual, expected, "output differs from {} (RELAY_BLESS=1 rewrites it)", path.display());
}
