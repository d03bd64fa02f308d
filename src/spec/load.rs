//! Reading `routes.d/`: which files count, in what order, and turning TOML
//! and serde failures into located [`SpecError`]s.

use std::path::{Path, PathBuf};

use super::SpecFile;
use crate::diagnostics::{Source, SpecError, nearest};

/// A spec file that parsed, with its text for locating later errors.
#[derive(Debug)]
pub struct SourceFile {
    pub source: Source,
    pub spec: SpecFile,
}

/// The file whose `[defaults]` apply to every file of its directory, under
/// each file's own `[defaults]`. It may hold nothing else.
pub const DIR_DEFAULTS_FILE: &str = "_defaults.toml";

/// Spec files of a directory: `*.toml`, not hidden, in name order.
/// Editor temp files and Kubernetes' `..data` folders are skipped;
/// symlinks are followed.
pub fn spec_paths(dir: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| SpecError::whole_file(dir, format!("cannot read the routes directory: {e}")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| is_spec_file_name(path) && path.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Whether a path names a spec file (rather than a temp, swap or hidden file).
pub fn is_spec_file_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && name.ends_with(".toml")
}

/// Reads and parses every spec file of `dir`. Files that fail are reported,
/// the others are returned, so one broken file never hides another's errors.
pub fn load_dir(dir: &Path) -> (Vec<SourceFile>, Vec<SpecError>) {
    let paths = match spec_paths(dir) {
        Ok(paths) => paths,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match read_spec(&path) {
            Ok(text) => match parse_file(Source::new(path, text)) {
                Ok(file) => files.push(file),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(e),
        }
    }
    (files, errors)
}

/// Reads a spec file's text. A file that is not UTF-8 is reported at the
/// line and column of its first invalid byte.
pub fn read_spec(path: &Path) -> Result<String, SpecError> {
    let bytes = std::fs::read(path).map_err(|e| SpecError::whole_file(path, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| not_utf8(path, e.as_bytes(), e.utf8_error().valid_up_to()))
}

/// The error for a file whose bytes stop being UTF-8 at `valid_up_to`.
fn not_utf8(path: &Path, bytes: &[u8], valid_up_to: usize) -> SpecError {
    let valid = String::from_utf8_lossy(&bytes[..valid_up_to]).into_owned();
    let source = Source::new(path.to_path_buf(), valid);
    let byte = bytes.get(valid_up_to).copied().unwrap_or_default();
    source.error_at(valid_up_to, "the file is not valid UTF-8").with_hint(format!(
        "the byte 0x{byte:02X} here starts no UTF-8 character; save the file as UTF-8 (was it written as Latin-1 or UTF-16?)"
    ))
}

/// Parses one spec file's text.
pub fn parse_file(source: Source) -> Result<SourceFile, SpecError> {
    match toml::from_str::<SpecFile>(&source.text) {
        Ok(mut spec) => {
            let compact = std::mem::take(&mut spec.routes);
            super::compact::expand(&source, compact, &mut spec.route)?;
            only_defaults(&source, &spec)?;
            Ok(SourceFile { source, spec })
        }
        Err(e) => Err(toml_error(&source, &e)),
    }
}

/// A directory defaults file holds `[defaults]` and nothing else.
fn only_defaults(source: &Source, spec: &SpecFile) -> Result<(), SpecError> {
    if source.path.file_name().is_none_or(|name| name != DIR_DEFAULTS_FILE) {
        return Ok(());
    }
    let first = [
        spec.route.first().map(|r| (r.span().start, "a route")),
        spec.upstream.values().next().map(|u| (u.span().start, "an upstream")),
        spec.listener.values().next().map(|l| (l.span().start, "a listener")),
    ];
    match first.into_iter().flatten().min_by_key(|(at, _)| *at) {
        None => Ok(()),
        Some((at, what)) => Err(source
            .error_at(at, format!("{DIR_DEFAULTS_FILE} holds {what}; it may only hold [defaults]"))
            .with_hint(
                "the defaults of this file apply to every file of the directory; move the rest to another file",
            )),
    }
}

fn toml_error(source: &Source, e: &toml::de::Error) -> SpecError {
    let offset = e.span().map_or(0, |span| span.start);
    let message = e.message().trim().to_owned();
    // Only a syntax error fails the plain parse too (the error path alone
    // pays for the second parse).
    if source.text.parse::<toml::Table>().is_err() {
        return super::syntax::syntax_error(source, offset, &message);
    }
    let hint = unknown_name_hint(&message);
    let error = source.error_at(offset, message);
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and the same for
/// variants), suggests the nearest expected name.
fn unknown_name_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, expected) = rest.split_once('`')?;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if names.first() == Some(&"at") && nearest(word, ["id", "method", "path", "summary"]).is_some() {
        return Some(
            "in a [routes] table the key is the id and `at` holds the rest: { at = \"GET /v1/x  Summary\", ... }"
                .to_owned(),
        );
    }
    match nearest(word, names.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None if !names.is_empty() => Some(format!("valid names here: {}", names.join(", "))),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SourceFile, SpecError> {
        parse_file(Source::new("routes.d/x.toml".into(), text.into()))
    }

    #[test]
    fn unknown_key_is_located_and_suggests_the_nearest() {
        let err = parse("[[route]]\nid = \"a\"\nmethd = \"GET\"\npath = \"/v1/a\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
        assert!(err.message.starts_with("unknown field `methd`"), "{}", err.message);
        assert_eq!(err.hint.as_deref(), Some("did you mean `method`?"));
    }

    #[test]
    fn syntax_error_is_located() {
        let err = parse("[[route]]\nid = \"a\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn invalid_utf8_is_located_at_the_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.toml");
        std::fs::write(&path, b"[[route]]\nid = \"caf\xc3\xa9 \xe9t\xe9\"\n").unwrap();
        let err = read_spec(&path).unwrap_err();
        assert_eq!((err.line, err.column), (2, 12));
        assert_eq!(err.message, "the file is not valid UTF-8");
        assert!(err.hint.as_deref().unwrap().contains("0xE9"), "{:?}", err.hint);
        std::fs::write(&path, b"\xff").unwrap();
        assert_eq!((read_spec(&path).unwrap_err().line, read_spec(&path).unwrap_err().column), (1, 1));
    }

    #[test]
    fn temp_and_hidden_files_are_not_specs() {
        for name in ["a.toml.swp", "a.toml~", ".#a.toml", "4913", ".a.toml", "a.json"] {
            assert!(!is_spec_file_name(Path::new(name)), "{name}");
        }
        assert!(is_spec_file_name(Path::new("routes.d/files.toml")));
    }
}
