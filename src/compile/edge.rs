//! Compiling a listener's `tls` and `cors`, and the routes' `cors` overrides.
//!
//! TLS paths are relative to the routes directory (or absolute) and expand
//! `${VAR}`; the pair must load, so `relay check` reports a wrong file. CORS
//! origins must be origins (`scheme://host[:port]`, no path), `"*"` cannot
//! go with credentials, and methods and header names must be valid.

use std::path::Path;
use std::sync::Arc;

use actix_web::http::Method;
use toml::Spanned;

use super::values;
use crate::cors::{Cors, CorsTable};
use crate::diagnostics::{Source, SpecError};
use crate::env::Env;
use crate::spec::{CorsSpec, RouteCorsSpec, SourceFile, TlsSpec};
use crate::tls::{CertFiles, ReloadingCert};

/// The certificate files of `tls = {...}`, checked to load.
pub fn tls(source: &Source, spec: &Spanned<TlsSpec>, env: &Env, errors: &mut Vec<SpecError>) -> Option<CertFiles> {
    let dir = source.path.parent().unwrap_or(Path::new("."));
    let mut path = |value: &Spanned<String>, key: &str| match env.expand(value.get_ref()) {
        Ok(text) if !text.trim().is_empty() => Some(dir.join(text.trim())),
        Ok(_) => {
            errors.push(
                source
                    .error_at(value.span().start, format!("`tls.{key}` is empty"))
                    .with_hint("write the path of a PEM file, relative to the routes directory or absolute"),
            );
            None
        }
        Err(message) => {
            errors.push(source.error_at(value.span().start, message));
            None
        }
    };
    let spec_ref = spec.get_ref();
    let files = CertFiles { cert: path(&spec_ref.cert, "cert")?, key: path(&spec_ref.key, "key")? };
    match ReloadingCert::load(files.clone()) {
        Ok(_) => Some(files),
        Err(message) => {
            errors.push(source.error_at(spec.span().start, message).with_hint(
                "`cert` is a PEM certificate chain (leaf first) and `key` its PEM private key (PKCS#8, PKCS#1 or SEC1)",
            ));
            None
        }
    }
}

/// Every listener's and route's CORS settings.
pub fn cors_table(files: &[SourceFile], errors: &mut Vec<SpecError>) -> CorsTable {
    let mut table = CorsTable::default();
    for file in files {
        for (name, listener) in &file.spec.listener {
            if let Some(spec) = &listener.get_ref().cors
                && let Some(cors) = cors(&file.source, spec.get_ref(), errors)
            {
                table.listeners.insert(name.clone(), Arc::new(cors));
            }
        }
        for route in &file.spec.route {
            let Some(setting) = &route.get_ref().cors else { continue };
            let id = route.get_ref().id.get_ref().clone();
            match setting.get_ref() {
                RouteCorsSpec::Switch(true) => {}
                RouteCorsSpec::Switch(false) => drop(table.routes.insert(id, None)),
                RouteCorsSpec::Own(spec) => {
                    if let Some(cors) = cors(&file.source, spec, errors) {
                        table.routes.insert(id, Some(Arc::new(cors)));
                    }
                }
            }
        }
    }
    table
}

fn cors(source: &Source, spec: &CorsSpec, errors: &mut Vec<SpecError>) -> Option<Cors> {
    let before = errors.len();
    let at = spec.origins.span().start;
    let list = spec.origins.get_ref();
    let any = list.iter().any(|o| o == "*");
    if list.is_empty() {
        errors.push(
            source
                .error_at(at, "`cors.origins` is empty")
                .with_hint("list origins such as \"https://app.example.com\""),
        );
    }
    for origin in list.iter().filter(|o| *o != "*") {
        if let Err(hint) = check_origin(origin) {
            errors.push(source.error_at(at, format!("`{origin}` is not an origin")).with_hint(hint));
        }
    }
    if any && spec.credentials {
        errors.push(
            source
                .error_at(at, "`origins = [\"*\"]` cannot go with `credentials = true`")
                .with_hint("browsers refuse credentials for any origin; list the origins that may send them"),
        );
    }
    let methods = spec.methods.as_ref().map(|methods| {
        let mut parsed = Vec::new();
        for name in methods.get_ref() {
            match Method::from_bytes(name.to_ascii_uppercase().as_bytes()) {
                Ok(method) => parsed.push(method),
                Err(_) => errors.push(source.error_at(methods.span().start, format!("`{name}` is not a method"))),
            }
        }
        parsed
    });
    let names = |list: &[String], key: &str, errors: &mut Vec<SpecError>| {
        let mut names = Vec::new();
        for name in list {
            match values::header_name(source, at, name) {
                Ok(header) => names.push(header),
                Err(error) => errors.push(SpecError { message: format!("`cors.{key}`: {}", error.message), ..error }),
            }
        }
        names
    };
    let headers = spec.headers.as_ref().map(|list| {
        let wildcard = list.iter().any(|h| h == "*");
        let checked = list.iter().filter(|h| *h != "*").cloned().collect::<Vec<_>>();
        let mut out: Vec<String> = names(&checked, "headers", errors).iter().map(|h| h.as_str().to_owned()).collect();
        if wildcard {
            out.push("*".to_owned());
        }
        out
    });
    let expose_headers = names(spec.expose_headers.as_deref().unwrap_or_default(), "expose_headers", errors);
    let max_age = spec.max_age.as_ref().and_then(|value| {
        values::duration(source, value, "cors.max_age").map_err(|error| errors.push(error)).ok().map(|d| d.as_secs())
    });
    let origins = (!any).then(|| list.iter().map(|o| o.to_ascii_lowercase()).collect());
    (errors.len() == before).then_some(Cors {
        origins,
        methods,
        headers,
        expose_headers,
        credentials: spec.credentials,
        max_age,
    })
}

/// `scheme://host[:port]`, as browsers send it in `Origin`.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("write scheme and host, e.g. \"https://app.example.com\"");
    };
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return Err("the scheme is not valid; write e.g. \"https://app.example.com\"");
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err("an origin has no path, query or trailing slash: write \"https://app.example.com\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_origin;

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert!(check_origin("https://chat.example.com").is_ok());
        assert!(check_origin("http://127.0.0.1:3000").is_ok());
        for bad in ["chat.example.com", "https://chat.example.com/", "https://", "https://a.example/x"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
