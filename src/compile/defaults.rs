//! Directory defaults: the `_defaults.toml` of a routes directory, under
//! every file's `[defaults]` there (see [`crate::spec::merge`]).
//!
//! Their values are checked once, here, against their own file, so an error
//! names `_defaults.toml` and its line. While they fail, the routes of that
//! directory are not compiled (each would repeat the same error at its own
//! line); the table fails either way.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{keep, policies, values};
use crate::diagnostics::{SpecError, nearest};
use crate::env::Env;
use crate::policy::retry::RetryPolicy;
use crate::spec::{DIR_DEFAULTS_FILE, SourceFile};
use crate::table::Upstream;

/// The directory defaults of one directory: usable, or broken.
pub enum DirDefaults<'a> {
    /// The `_defaults.toml` whose `[defaults]` apply.
    Usable(&'a SourceFile),
    Broken,
}

/// The directory defaults of every directory that has a `_defaults.toml`.
pub fn by_directory<'a>(
    files: &'a [SourceFile],
    env: &Env,
    upstreams: &HashMap<String, Arc<Upstream>>,
    broken_upstreams: &HashSet<String>,
    errors: &mut Vec<SpecError>,
) -> HashMap<PathBuf, DirDefaults<'a>> {
    let mut out = HashMap::new();
    for file in files.iter().filter(|f| is_dir_defaults(&f.source.path)) {
        let before = errors.len();
        check(file, env, upstreams, broken_upstreams, errors);
        let defaults = match errors.len() > before {
            true => DirDefaults::Broken,
            false => DirDefaults::Usable(file),
        };
        out.insert(directory(&file.source.path), defaults);
    }
    out
}

/// The directory a spec file belongs to.
pub fn directory(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Whether a spec path is a directory defaults file.
pub fn is_dir_defaults(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == DIR_DEFAULTS_FILE)
}

/// Every value that does not depend on a route: durations, sizes, headers,
/// media types, the retry policy (but for `verify.path`, whose parameters
/// are the route's), listeners and the upstream's name.
fn check(
    file: &SourceFile,
    env: &Env,
    upstreams: &HashMap<String, Arc<Upstream>>,
    broken_upstreams: &HashSet<String>,
    errors: &mut Vec<SpecError>,
) {
    let (src, defaults) = (&file.source, &file.spec.defaults);
    let unused = std::time::Duration::ZERO;
    keep(errors, values::duration_or(src, defaults.timeout.as_ref(), "timeout", unused));
    keep(errors, values::duration_or(src, defaults.idle_timeout.as_ref(), "idle_timeout", unused));
    keep(errors, policies::header_policy(src, env, defaults.headers.as_ref(), 0));
    keep(errors, policies::response_header_policy(src, env, defaults.response_headers.as_ref(), 0));
    keep(errors, policies::body_rules(src, defaults.body.as_ref(), 0));
    if let Some(retry) = &defaults.retry {
        let mut without_verify = retry.get_ref().clone();
        without_verify.verify = None;
        // `attempts` may come from the file or the route.
        without_verify.attempts = without_verify.attempts.or(Some(1));
        let result = RetryPolicy::compile(&without_verify, None);
        keep(errors, result.map_err(|e| src.error_at(retry.span().start, e)));
    }
    if let Some(list) = defaults.listeners.as_ref().filter(|l| l.get_ref().is_empty()) {
        errors.push(src.error_at(list.span().start, "`listeners = []` serves the routes nowhere"));
    }
    if let Some(name) = &defaults.upstream {
        let known = upstreams.contains_key(name.get_ref()) || broken_upstreams.contains(name.get_ref());
        if !known {
            let mut defined: Vec<&str> = upstreams.keys().chain(broken_upstreams).map(String::as_str).collect();
            defined.sort_unstable();
            let hint = match nearest(name.get_ref(), defined.iter().copied()) {
                Some(best) => format!("did you mean \"{best}\"? defined upstreams: {}", defined.join(", ")),
                None => format!("defined upstreams: {}", defined.join(", ")),
            };
            errors.push(
                src.error_at(name.span().start, format!("unknown upstream {:?}", name.get_ref())).with_hint(hint),
            );
        }
    }
}
