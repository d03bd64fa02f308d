//! Checked conversions of single spec values: durations, sizes, header names
//! and values. Each returns a located [`SpecError`] with a hint.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use toml::Spanned;

use crate::diagnostics::{Source, SpecError};
use crate::env::Env;
use crate::spec::units;

/// A duration (see [`units::duration`]), located.
pub fn duration(source: &Source, value: &Spanned<String>, key: &str) -> Result<Duration, SpecError> {
    units::duration(value.get_ref()).map_err(|e| {
        source
            .error_at(value.span().start, format!("`{key}` {e}"))
            .with_hint("write a duration such as \"250ms\", \"30s\" or \"10m\"")
    })
}

/// An optional duration, falling back to `default`.
pub fn duration_or(
    source: &Source,
    value: Option<&Spanned<String>>,
    key: &str,
    default: Duration,
) -> Result<Duration, SpecError> {
    value.map_or(Ok(default), |v| duration(source, v, key))
}

/// A byte size (see [`units::size`]), located.
pub fn size(source: &Source, value: &Spanned<String>, key: &str) -> Result<u64, SpecError> {
    units::size(value.get_ref()).map_err(|e| {
        source
            .error_at(value.span().start, format!("`{key}` {e}"))
            .with_hint("write a size such as \"4MiB\", \"512KiB\" or \"25MB\"")
    })
}

/// A header name written in a spec (case-insensitive, stored lowercase).
pub fn header_name(source: &Source, at: usize, name: &str) -> Result<HeaderName, SpecError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        source
            .error_at(at, format!("`{name}` is not a valid header name"))
            .with_hint("header names are letters, digits and `-`")
    })
}

/// A header value after `${VAR}` expansion; `None` when it expands to "".
pub fn header_value(
    source: &Source,
    env: &Env,
    name: &str,
    value: &Spanned<String>,
) -> Result<Option<HeaderValue>, SpecError> {
    let at = value.span().start;
    let expanded = env.expand(value.get_ref()).map_err(|e| source.error_at(at, e))?;
    if expanded.is_empty() {
        return Ok(None);
    }
    HeaderValue::from_str(&expanded).map(Some).map_err(|_| {
        source
            .error_at(at, format!("the value of header `{name}` is not a valid header value"))
            .with_hint("header values cannot hold line breaks or control characters")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spanned(text: &str) -> (Source, Spanned<String>) {
        #[derive(serde::Deserialize)]
        struct Doc {
            v: Spanned<String>,
        }
        let src = Source::new("x.toml".into(), format!("v = {text:?}\n"));
        let doc: Doc = toml::from_str(&src.text).unwrap();
        (src, doc.v)
    }

    #[test]
    fn durations_and_sizes() {
        let (src, v) = spanned("250ms");
        assert_eq!(duration(&src, &v, "timeout").unwrap(), Duration::from_millis(250));
        let (src, v) = spanned("soon");
        let err = duration(&src, &v, "timeout").unwrap_err();
        assert_eq!((err.line, err.column), (1, 5));
        let (src, v) = spanned("0s");
        assert!(duration(&src, &v, "timeout").is_err());
        let (src, v) = spanned("4MiB");
        assert_eq!(size(&src, &v, "max").unwrap(), 4 * 1024 * 1024);
        let (src, v) = spanned("lots");
        assert!(size(&src, &v, "max").is_err());
    }

    #[test]
    fn header_values_expand_and_drop_empty() {
        let env = Env::from_pairs([("ORG", "org-1")]);
        let (src, v) = spanned("${ORG}");
        assert_eq!(header_value(&src, &env, "x", &v).unwrap().unwrap(), "org-1");
        let (src, v) = spanned("${PROJECT:-}");
        assert_eq!(header_value(&src, &env, "x", &v).unwrap(), None);
    }
}
