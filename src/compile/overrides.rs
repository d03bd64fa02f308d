//! `override = true`: an upstream or route that replaces the one with the
//! same name or id defined in another file, typically one of a directory
//! loaded before it (`relay serve --routes routes.d --routes mine`).
//!
//! The replaced definition is left out before anything is compiled, so the
//! order of the files does not matter. An override that replaces nothing,
//! or two overrides of one name, are errors; a name defined twice without
//! `override` stays an error as before.

use std::collections::{HashMap, HashSet};

use crate::diagnostics::{Source, SpecError};
use crate::spec::SourceFile;

/// The upstream names and route ids that some definition overrides.
#[derive(Debug, Default)]
pub struct Overrides {
    upstreams: HashMap<String, Definitions>,
    routes: HashMap<String, Definitions>,
}

/// How often a name is defined with and without `override`.
#[derive(Debug, Default)]
struct Definitions {
    overriding: usize,
    plain: usize,
}

impl Overrides {
    /// Finds the overrides of `files`; every override that replaces nothing,
    /// or replaces a name another override replaces too, is pushed to `errors`.
    pub fn collect(files: &[SourceFile], errors: &mut Vec<SpecError>) -> Overrides {
        let mut overrides = Overrides::default();
        for file in files {
            for (name, spec) in &file.spec.upstream {
                count(&mut overrides.upstreams, name, spec.get_ref().replaces);
            }
            for spec in &file.spec.route {
                count(&mut overrides.routes, spec.get_ref().id.get_ref(), spec.get_ref().replaces);
            }
        }
        for file in files {
            for (name, spec) in &file.spec.upstream {
                let at = spec.span().start;
                check(&file.source, at, "upstream", name, &overrides.upstreams, spec.get_ref().replaces, errors);
            }
            for spec in &file.spec.route {
                let (id, replaces) = (spec.get_ref().id.get_ref(), spec.get_ref().replaces);
                check(&file.source, spec.span().start, "route", id, &overrides.routes, replaces, errors);
            }
        }
        overrides
    }

    /// Whether to compile this definition of the upstream `name`: not when
    /// an override replaces it, nor when it is a second override of the name
    /// (`seen` holds the overrides already taken; the error is reported).
    pub fn compiles_upstream(&self, name: &str, replaces: bool, seen: &mut HashSet<String>) -> bool {
        compiles(&self.upstreams, name, replaces, seen)
    }

    /// Like [`Overrides::compiles_upstream`], for the route `id`.
    pub fn compiles_route(&self, id: &str, replaces: bool, seen: &mut HashSet<String>) -> bool {
        compiles(&self.routes, id, replaces, seen)
    }
}

fn compiles(names: &HashMap<String, Definitions>, name: &str, replaces: bool, seen: &mut HashSet<String>) -> bool {
    if replaces { seen.insert(name.to_owned()) } else { names.get(name).is_none_or(|d| d.overriding == 0) }
}

fn count(names: &mut HashMap<String, Definitions>, name: &str, replaces: bool) {
    let entry = names.entry(name.to_owned()).or_default();
    if replaces {
        entry.overriding += 1;
    } else {
        entry.plain += 1;
    }
}

fn check(
    source: &Source,
    at: usize,
    kind: &str,
    name: &str,
    names: &HashMap<String, Definitions>,
    replaces: bool,
    errors: &mut Vec<SpecError>,
) {
    let Some(definitions) = names.get(name).filter(|_| replaces) else { return };
    if definitions.plain == 0 {
        errors.push(
            source.error_at(at, format!("{kind} `{name}` has `override = true` but replaces nothing")).with_hint(
                format!(
                    "no other file defines {kind} `{name}`: remove `override`, or also load the directory that \
                     defines it (e.g. --routes routes.d --routes DIR)"
                ),
            ),
        );
    } else if definitions.overriding > 1 {
        errors.push(
            source
                .error_at(at, format!("{kind} `{name}` is overridden more than once"))
                .with_hint("keep one `override = true` definition"),
        );
    }
}
