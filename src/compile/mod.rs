//! From parsed spec files to a checked [`Table`].
//!
//! `compile` looks at everything before it gives up: every upstream, every
//! route, every duplicate. It returns either a table that is safe to serve or
//! the full list of located errors. A table that fails never serves.

mod consumers;
mod defaults;
mod edge;
mod examples;
mod ids;
mod inherit;
mod listeners;
mod overrides;
mod params;
mod path;
mod policies;
mod route;
mod schemas;
mod upstream;
mod values;
mod websocket;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::diagnostics::SpecError;
use crate::env::Env;
use crate::matcher::{InsertError, Matcher, ShapeIndex, positional_pattern};
use crate::spec::{SourceFile, load_dir};
use crate::table::{Origin, Table, Upstream};

/// The environment variable holding the accepted relay keys.
pub const RELAY_KEYS_VAR: &str = crate::env::names::RELAY_KEYS;

/// Loads and compiles a whole routes directory.
pub fn load_table(dir: &Path, env: &Env) -> Result<Table, Vec<SpecError>> {
    load_dirs(&[dir.to_path_buf()], env)
}

/// Loads and compiles several routes directories as one set of files (see
/// `override` in the spec format for how one can replace another's parts).
pub fn load_dirs(dirs: &[PathBuf], env: &Env) -> Result<Table, Vec<SpecError>> {
    let (mut files, mut errors) = (Vec::new(), Vec::new());
    for dir in dirs {
        let (more_files, more_errors) = load_dir(dir);
        files.extend(more_files);
        errors.extend(more_errors);
    }
    match compile(&files, env) {
        Ok(table) if errors.is_empty() => Ok(table),
        Ok(_) => Err(errors),
        Err(more) => {
            let some_unread = !errors.is_empty();
            errors.extend(more.into_iter().filter(|e| !(some_unread && unresolved(e))));
            errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            Err(errors)
        }
    }
}

/// Whether an error is a name no file read defines: when a file did not
/// parse, the definition may be in it, so only its own error is reported.
fn unresolved(error: &SpecError) -> bool {
    // The messages of `route::upstream`, `defaults` and `listeners`.
    let message = error.message.as_str();
    message == "the route names no upstream"
        || message.starts_with("unknown upstream ")
        || message.contains("an unknown listener `")
}

/// Compiles parsed files (in order) into a table, or every error found.
pub fn compile(files: &[SourceFile], env: &Env) -> Result<Table, Vec<SpecError>> {
    // A problem of the environment itself (e.g. `RELAY_AUTH_ENABLED=true`
    // without a key) stops the table like a spec error.
    let mut errors: Vec<SpecError> = env
        .findings()
        .problems
        .iter()
        .map(|problem| SpecError::whole_file(Path::new("environment"), problem.clone()))
        .collect();
    let overrides = overrides::Overrides::collect(files, &mut errors);
    let (upstreams, broken) = compile_upstreams(files, env, &overrides, &mut errors);
    let (declared_listeners, broken_listeners) = listeners::declared(files, env, &mut errors);

    let mut routes = Vec::new();
    let mut segments = Vec::new();
    let mut overriding_routes = HashSet::new();
    let schemas = schemas::SchemaStore::default();
    let dir_defaults = defaults::by_directory(files, env, &upstreams, &broken, &mut errors);
    let mut ids = ids::Ids::default();
    let mut warnings = Vec::new();
    for file in files {
        let dir_defaults = match dir_defaults.get(&defaults::directory(&file.source.path)) {
            Some(defaults::DirDefaults::Broken) => continue,
            Some(defaults::DirDefaults::Usable(file)) => Some(*file),
            None => None,
        };
        let cx = route::Context {
            source: &file.source,
            env,
            defaults: &file.spec.defaults,
            dir_defaults,
            upstreams: &upstreams,
            broken_upstreams: &broken,
            schemas: &schemas,
        };
        for spec in &file.spec.route {
            if !overrides.compiles_route(spec.get_ref().id.get_ref(), spec.get_ref().replaces, &mut overriding_routes) {
                continue;
            }
            ids.record(&file.source, &spec.get_ref().id, &mut errors);
            if let Some(compiled) = route::compile_route(spec, &cx, &mut errors) {
                warnings.extend(params::unused(&file.source, spec, &compiled.route));
                routes.push(compiled.route);
                segments.push(compiled.segments);
            }
        }
    }
    let cors = edge::cors_table(files, &mut errors);
    listeners::check_route_listeners(&routes, &declared_listeners, &broken_listeners, &mut errors);
    inherit::inherit(&mut routes, &segments, &declared_listeners, &mut errors);
    let listeners = listeners::build(&routes, &segments, declared_listeners, &mut errors);
    let consumers = consumers::compile(files, env, env.get(RELAY_KEYS_VAR).unwrap_or_default(), &routes, &mut errors);
    if let Some(problem) = &env.findings().keys_required
        && !consumers.has_keys()
    {
        errors.push(SpecError::whole_file(Path::new("environment"), problem.clone()));
    }
    if !errors.is_empty() {
        // A route served by two listeners would report its clash twice.
        let mut seen = HashSet::new();
        errors.retain(|e| seen.insert(e.to_string()));
        return Err(errors);
    }
    let mut upstreams: Vec<Arc<Upstream>> = upstreams.into_values().collect();
    upstreams.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Table { version: 0, routes, upstreams, listeners, consumers, loaded_at: SystemTime::now(), cors, warnings })
}

/// Compiled upstreams by name, and the names of those that failed (their
/// errors are reported once, not again for every route that uses them).
fn compile_upstreams(
    files: &[SourceFile],
    env: &Env,
    overrides: &overrides::Overrides,
    errors: &mut Vec<SpecError>,
) -> (HashMap<String, Arc<Upstream>>, HashSet<String>) {
    let mut upstreams: HashMap<String, Arc<Upstream>> = HashMap::new();
    let mut broken = HashSet::new();
    let mut origins: HashMap<&str, Origin> = HashMap::new();
    let mut overriding = HashSet::new();
    for file in files {
        for (name, spec) in &file.spec.upstream {
            if !overrides.compiles_upstream(name, spec.get_ref().replaces, &mut overriding) {
                continue;
            }
            let (line, column) = file.source.line_col(spec.span().start);
            if let Some(first) = origins.get(name.as_str()) {
                errors.push(
                    file.source
                        .error_at(spec.span().start, format!("upstream `{name}` is defined twice"))
                        .with_hint(format!("the first definition is at {first}; rename or remove one")),
                );
                continue;
            }
            origins.insert(name, Origin { file: file.source.path.clone(), line, column });
            match upstream::compile_upstream(name, spec, &file.source, env, errors) {
                Some(upstream) => drop(upstreams.insert(name.clone(), Arc::new(upstream))),
                None => drop(broken.insert(name.clone())),
            }
        }
    }
    (upstreams, broken)
}

/// The matcher of the routes at `served` (indices into `routes`).
fn build_matcher(
    routes: &[crate::table::Route],
    segments: &[Vec<crate::matcher::Segment>],
    served: impl Iterator<Item = usize>,
    errors: &mut Vec<SpecError>,
) -> Matcher {
    let mut matcher = Matcher::default();
    let mut shapes = ShapeIndex::default();
    for index in served {
        let (route, segments) = (&routes[index], &segments[index]);
        let shape = positional_pattern(segments);
        let websocket = route.protocol != crate::table::Protocol::Http;
        for method in &route.methods {
            match matcher.insert(&shape, (method.clone(), websocket), index, &mut shapes) {
                Ok(()) => {}
                // Two routes with one id are reported once, as a used id.
                Err(InsertError::Duplicate { existing }) if routes[existing].id == route.id => {}
                Err(InsertError::Duplicate { existing }) => {
                    let other = &routes[existing];
                    errors.push(
                        located(
                            &route.origin,
                            format!("route `{}` matches {method} {} like route `{}`", route.id, route.path, other.id),
                        )
                        .with_hint(format!(
                            "`{}` is at {}; remove one or change its method or path",
                            other.id, other.origin
                        )),
                    );
                }
                Err(InsertError::Conflict(reason)) => errors.push(
                    located(
                        &route.origin,
                        format!("path {} of route `{}` conflicts with another route: {reason}", route.path, route.id),
                    )
                    .with_hint("a `{*rest}` segment cannot share a position with another parameter"),
                ),
            }
        }
    }
    matcher
}

/// Keeps a value, or records its error; checking goes on either way.
fn keep<T>(errors: &mut Vec<SpecError>, result: Result<T, SpecError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

fn located(origin: &Origin, message: String) -> SpecError {
    SpecError { file: origin.file.clone(), line: origin.line, column: origin.column, message, hint: None }
}
