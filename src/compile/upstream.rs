//! Compiling `[upstream.NAME]` tables.

use std::time::Duration;

use actix_web::http::Uri;
use actix_web::http::header::HeaderValue;
use toml::Spanned;

use super::values;
use crate::diagnostics::{Source, SpecError};
use crate::env::Env;
use crate::spec::{UpstreamAuthSpec, UpstreamSpec};
use crate::table::{Origin, Upstream, UpstreamAuth};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Checks one upstream; every problem found is pushed to `errors`.
pub fn compile_upstream(
    name: &str,
    spec: &Spanned<UpstreamSpec>,
    source: &Source,
    env: &Env,
    errors: &mut Vec<SpecError>,
) -> Option<Upstream> {
    let at = spec.span().start;
    let spec = spec.get_ref();
    let before = errors.len();

    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        errors.push(
            source
                .error_at(at, format!("`{name}` is not a valid upstream name"))
                .with_hint("use letters, digits, `_` and `-`"),
        );
    }
    let base_url = super::keep(errors, base_url(source, env, &spec.base_url));
    let auth = super::keep(errors, auth(source, env, spec.auth.as_ref()));
    let mut headers = Vec::new();
    for (header, value) in &spec.headers {
        let name = super::keep(errors, values::header_name(source, value.span().start, header));
        let value = super::keep(errors, values::header_value(source, env, header, value));
        if let (Some(name), Some(Some(value))) = (name, value) {
            headers.push((name, value));
        }
    }
    let connect_timeout = super::keep(
        errors,
        values::duration_or(source, spec.connect_timeout.as_ref(), "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
    );
    let timeout = super::keep(errors, values::duration_or(source, spec.timeout.as_ref(), "timeout", DEFAULT_TIMEOUT));
    let idle_timeout = super::keep(
        errors,
        values::duration_or(source, spec.idle_timeout.as_ref(), "idle_timeout", DEFAULT_IDLE_TIMEOUT),
    );
    if errors.len() > before {
        return None;
    }
    let (line, column) = source.line_col(at);
    Some(Upstream {
        name: name.to_owned(),
        base_url: base_url?,
        auth: auth?,
        headers,
        connect_timeout: connect_timeout?,
        timeout: timeout?,
        idle_timeout: idle_timeout?,
        origin: Origin { file: source.path.clone(), line, column },
    })
}

fn base_url(source: &Source, env: &Env, value: &Spanned<String>) -> Result<String, SpecError> {
    let at = value.span().start;
    let expanded = env.expand(value.get_ref()).map_err(|e| source.error_at(at, e))?;
    let hint = "write an absolute http(s) URL with the version prefix, e.g. \"https://api.openai.com/v1\"";
    let uri: Uri = expanded
        .parse()
        .map_err(|e| source.error_at(at, format!("`base_url` {expanded:?} is not a URL: {e}")).with_hint(hint))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.host().is_none() {
        return Err(source
            .error_at(at, format!("`base_url` {expanded:?} must be an absolute http or https URL"))
            .with_hint(hint));
    }
    if uri.query().is_some() || expanded.contains('#') {
        return Err(source
            .error_at(at, format!("`base_url` {expanded:?} cannot hold a query or fragment"))
            .with_hint(hint));
    }
    Ok(expanded.trim_end_matches('/').to_owned())
}

fn auth(source: &Source, env: &Env, spec: Option<&Spanned<UpstreamAuthSpec>>) -> Result<UpstreamAuth, SpecError> {
    let Some(spec) = spec else {
        return Ok(UpstreamAuth::None);
    };
    Ok(match spec.get_ref() {
        UpstreamAuthSpec::Bearer { env: var, when_missing } => {
            let header = match env.get(var) {
                Some(key) => Some(bearer_header(key).ok_or_else(|| {
                    source
                        .error_at(spec.span().start, format!("the key in {var} cannot be sent as a header"))
                        .with_hint("check the variable for line breaks or stray characters")
                })?),
                None => None,
            };
            UpstreamAuth::Bearer { env: var.clone(), header, when_missing: *when_missing }
        }
        UpstreamAuthSpec::Passthrough => UpstreamAuth::Passthrough,
        UpstreamAuthSpec::None => UpstreamAuth::None,
    })
}

/// `Bearer <key>`, marked sensitive so it is never printed.
fn bearer_header(key: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.trim())).ok()?;
    value.set_sensitive(true);
    Some(value)
}
