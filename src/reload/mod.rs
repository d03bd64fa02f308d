//! Reloading the route table: startup, SIGHUP and file changes all end in
//! [`Reloader::reload`].
//!
//! A reload reads every spec file, compiles a complete new table on the side
//! and publishes it with one `ArcSwap` store; requests in flight keep the
//! table they started with. A file that fails to parse or compile keeps its
//! last good version while the other files' changes apply, provided that
//! combination compiles; otherwise the previous table stays whole. Every
//! outcome is kept for `GET /relay/status` and logged as one line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

mod attempt;
mod status;
pub mod warnings;

use attempt::Attempt;

use crate::compile::compile;
use crate::diagnostics::{Source, SpecError};
use crate::env::Env;
use crate::live::{Live, SharedLive};
use crate::spec::{SourceFile, parse_file, spec_paths};
use crate::table::Table;
use crate::telemetry::metrics;

/// Where the environment comes from at each reload.
pub type EnvSource = Box<dyn Fn() -> Env + Send + Sync>;

/// Owns the shared table and everything needed to rebuild it.
pub struct Reloader {
    /// The routes directories, read as one set of files.
    dirs: Vec<PathBuf>,
    env: EnvSource,
    live: SharedLive,
    state: Mutex<State>,
}

/// What `/relay/status` shows.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub version: u64,
    pub loaded_at: Option<SystemTime>,
    pub files: BTreeMap<PathBuf, FileState>,
    pub last: Option<Outcome>,
    /// Fingerprint of the other files the table was built from (schemas,
    /// model lists), see [`side_files_fingerprint`].
    pub side_files: u64,
}

/// One spec file as the reloader knows it.
#[derive(Debug, Clone, Default)]
pub struct FileState {
    /// The text last seen on disk (`None` once deleted).
    pub seen: Option<String>,
    /// The text in force in the current table.
    pub good: Option<String>,
    /// Why the text on disk is not in force, and since when.
    pub error: Option<(Vec<SpecError>, SystemTime)>,
}

/// The result of one reload.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub version: u64,
    pub applied: bool,
    pub files_changed: Vec<PathBuf>,
    pub routes_added: Vec<String>,
    pub routes_removed: Vec<String>,
    pub routes_changed: Vec<String>,
    pub errors: Vec<SpecError>,
    pub duration: std::time::Duration,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").field("dirs", &self.dirs).finish_non_exhaustive()
    }
}

impl Reloader {
    /// Loads the directories strictly: any error refuses the start.
    pub fn start(dirs: &[PathBuf], env: EnvSource) -> Result<Arc<Self>, Vec<SpecError>> {
        let (texts, mut errors) = read_texts(dirs);
        let files: Vec<SourceFile> =
            texts.iter().filter_map(|(path, text)| parse(path, text).map_err(|e| errors.push(e)).ok()).collect();
        let env_now = env();
        let compiled = compile(&files, &env_now).and_then(|mut table| {
            table.version = 1;
            Live::new(table, &env_now)
        });
        let live = match compiled {
            Ok(live) if errors.is_empty() => live,
            result => {
                errors.extend(result.err().unwrap_or_default());
                errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
                return Err(errors);
            }
        };
        // The parsed files are done with: their heap goes back too (it was
        // still in use when the table's build released what it freed).
        drop(files);
        crate::live::release_freed_memory();
        let loaded_at = live.table.loaded_at;
        let files = texts
            .into_iter()
            .map(|(path, text)| (path, FileState { seen: Some(text.clone()), good: Some(text), error: None }))
            .collect();
        let side_files = side_files_fingerprint(dirs);
        let state = State { version: 1, loaded_at: Some(loaded_at), files, last: None, side_files };
        metrics::reloaded("applied", 1, 0, Some(loaded_at));
        Ok(Arc::new(Reloader { dirs: dirs.to_vec(), env, live: live.shared(), state: Mutex::new(state) }))
    }

    /// The live state requests are served from.
    pub fn live(&self) -> SharedLive {
        self.live.clone()
    }

    /// A copy of the reload state, for status pages.
    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Re-reads the directory and publishes a new table if anything changed.
    /// Returns `None` when no file changed.
    ///
    /// After an attempt, the heap it freed goes back to the system: the
    /// parsed files, the build's JSON trees and the table it replaced (unless
    /// a request still holds that one) are gone by then. Without this a
    /// relay with 10,000 routes idles at about twice its startup memory after
    /// a few reloads.
    pub fn reload(&self) -> Option<Outcome> {
        let outcome = self.apply_changes();
        if outcome.is_some() {
            crate::live::release_freed_memory();
        }
        outcome
    }

    /// The work of [`Reloader::reload`], whose locals (and the replaced
    /// table) are dropped on return.
    fn apply_changes(&self) -> Option<Outcome> {
        let started = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (texts, read_errors) = read_texts(&self.dirs);
        let mut changed = changed_files(&state, &texts);
        // A file that cannot be read (or is not UTF-8) is broken, not gone:
        // it keeps its last good version, like a file that does not parse.
        changed.retain(|path| !read_errors.iter().any(|e| &e.file == path));
        let side_files = side_files_fingerprint(&self.dirs);
        let side_changed = side_files != state.side_files;
        if changed.is_empty() && read_errors.is_empty() && !side_changed {
            return None;
        }
        let env = (self.env)();
        let attempt = Attempt::new(&state, &texts, &changed);
        let (live, used_new, mut errors) = attempt.run(&env);
        // Nothing new went in (only broken edits): the current table stays.
        let live = live.filter(|_| !used_new.is_empty() || side_changed);
        errors.extend(read_errors.iter().cloned());
        let old = self.live.load_full();
        let now = SystemTime::now();
        let applied = live.is_some();
        let (mut added, mut removed, mut routes_changed) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(mut live) = live {
            state.version += 1;
            // The table was just built: nothing else holds it yet.
            if let Some(table) = Arc::get_mut(&mut live.table) {
                table.version = state.version;
            }
            (added, removed, routes_changed) = route_diff(&old.table, &live.table);
            warn_listener_changes(&old.table, &live.table);
            warnings::log_new(&old, &live, &env);
            state.loaded_at = Some(live.table.loaded_at);
            state.side_files = side_files;
            self.live.store(Arc::new(live));
        }
        record_files(&mut state, &texts, &changed, &used_new, &errors, applied, now);
        for error in &read_errors {
            if let Some(file) = state.files.get_mut(&error.file) {
                let since = file.error.as_ref().map_or(now, |(_, since)| *since);
                file.error = Some((vec![error.clone()], since));
                // Seen as unreadable: once readable again, it counts as changed.
                file.seen = None;
            }
        }
        let outcome = Outcome {
            version: state.version,
            applied,
            files_changed: changed.into_iter().collect(),
            routes_added: added,
            routes_removed: removed,
            routes_changed,
            errors,
            duration: started.elapsed(),
        };
        log_outcome(&outcome);
        let in_error = state.files.values().filter(|f| f.error.is_some()).count();
        let kind = match (outcome.applied, outcome.errors.is_empty()) {
            (true, true) => "applied",
            (true, false) => "partly_applied",
            (false, _) => "rejected",
        };
        metrics::reloaded(kind, state.version, in_error, outcome.applied.then_some(now));
        state.last = Some(outcome.clone());
        Some(outcome)
    }
}

/// Spec files of all directories and their texts; unreadable files are errors.
fn read_texts(dirs: &[PathBuf]) -> (BTreeMap<PathBuf, String>, Vec<SpecError>) {
    let mut errors = Vec::new();
    let paths: Vec<PathBuf> =
        dirs.iter().flat_map(|dir| spec_paths(dir).map_err(|e| errors.push(e)).unwrap_or_default()).collect();
    let mut texts = BTreeMap::new();
    for path in paths {
        match crate::spec::read_spec(&path) {
            Ok(text) => drop(texts.insert(path, text)),
            Err(e) => errors.push(e),
        }
    }
    (texts, errors)
}

/// Listeners are bound at start: a reload cannot open, move or close one,
/// so it says so (its routes change at once; the address after a restart).
fn warn_listener_changes(old: &Table, new: &Table) {
    let addresses = |table: &Table| -> Vec<(String, Option<std::net::SocketAddr>)> {
        table.listeners.iter().map(|l| (l.name.clone(), l.listen)).collect()
    };
    if addresses(old) != addresses(new) {
        tracing::warn!("listener addresses changed in the routes; they apply after a restart");
    }
}

/// Names, sizes and modification times of the files beside the specs that
/// compiling reads: everything else in the routes directory (model lists)
/// and the `schemas/` directory beside each, with its subfolders. A change
/// means a full rebuild.
fn side_files_fingerprint(dirs: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut folders: Vec<PathBuf> = dirs.to_vec();
    let first_schemas = folders.len();
    folders.extend(dirs.iter().map(|dir| dir.with_file_name("schemas")));
    let mut at = first_schemas;
    while let Some(folder) = folders.get(at).cloned() {
        at += 1;
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut subfolders: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.is_dir() && is_side_file(p)).collect();
        subfolders.sort();
        folders.extend(subfolders);
    }
    folders.dedup();
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut seen: Vec<(PathBuf, u64, Option<SystemTime>)> = entries
            .flatten()
            .filter(|entry| is_side_file(&entry.path()))
            .filter_map(|entry| {
                entry.metadata().ok().filter(|m| m.is_file()).map(|m| (entry.path(), m.len(), m.modified().ok()))
            })
            .collect();
        seen.sort();
        seen.hash(&mut hasher);
    }
    hasher.finish()
}

/// A file compiling may read besides the specs: not a spec, not hidden, not
/// an editor's swap or backup file (those change on every keystroke save).
fn is_side_file(path: &Path) -> bool {
    let hidden = path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
    path.extension().is_none_or(|ext| ext != "toml") && !hidden && !crate::watcher::is_editor_temp(path)
}

fn parse(path: &Path, text: &str) -> Result<SourceFile, SpecError> {
    parse_file(Source::new(path.to_path_buf(), text.to_owned()))
}

/// Files whose text differs from what was last seen, or that appeared or went.
fn changed_files(state: &State, texts: &BTreeMap<PathBuf, String>) -> BTreeSet<PathBuf> {
    let mut changed: BTreeSet<PathBuf> = texts
        .iter()
        .filter(|(path, text)| state.files.get(*path).and_then(|f| f.seen.as_ref()) != Some(*text))
        .map(|(path, _)| path.clone())
        .collect();
    for (path, file) in &state.files {
        if file.seen.is_some() && !texts.contains_key(path) {
            changed.insert(path.clone());
        }
    }
    changed
}

fn record_files(
    state: &mut State,
    texts: &BTreeMap<PathBuf, String>,
    changed: &BTreeSet<PathBuf>,
    used_new: &BTreeSet<PathBuf>,
    errors: &[SpecError],
    applied: bool,
    now: SystemTime,
) {
    for path in changed {
        let file = state.files.entry(path.clone()).or_default();
        file.seen = texts.get(path).cloned();
        let own_errors: Vec<SpecError> = errors.iter().filter(|e| &e.file == path).cloned().collect();
        if applied && used_new.contains(path) {
            file.good = file.seen.clone();
            file.error = None;
        } else if !own_errors.is_empty() {
            let since = file.error.as_ref().map_or(now, |(_, since)| *since);
            file.error = Some((own_errors, since));
        } else if !applied {
            let since = file.error.as_ref().map_or(now, |(_, since)| *since);
            file.error = Some((errors.to_vec(), since));
        }
    }
    state.files.retain(|_, f| f.seen.is_some() || f.good.is_some());
    if applied {
        // Files deleted and not needed any more are forgotten.
        state.files.retain(|path, f| f.seen.is_some() || used_new.contains(path) || f.error.is_some());
    }
}

/// Route ids added, removed and changed between two tables.
fn route_diff(old: &Table, new: &Table) -> (Vec<String>, Vec<String>, Vec<String>) {
    let fingerprint = |t: &Table| -> BTreeMap<String, String> {
        t.routes
            .iter()
            .map(|r| {
                let print = format!(
                    "{:?} {} {} {} {:?} {:?}",
                    r.methods,
                    r.path,
                    r.upstream.name,
                    r.upstream_path.display(&r.params),
                    r.headers,
                    r.body
                );
                (r.id.clone(), print)
            })
            .collect()
    };
    let (old, new) = (fingerprint(old), fingerprint(new));
    let added = new.keys().filter(|id| !old.contains_key(*id)).cloned().collect();
    let removed = old.keys().filter(|id| !new.contains_key(*id)).cloned().collect();
    let changed =
        new.iter().filter(|(id, print)| old.get(*id).is_some_and(|p| p != *print)).map(|(id, _)| id.clone()).collect();
    (added, removed, changed)
}

fn log_outcome(outcome: &Outcome) {
    let files: Vec<String> = outcome.files_changed.iter().map(|p| p.display().to_string()).collect();
    let duration_ms = outcome.duration.as_secs_f64() * 1000.0;
    if outcome.applied && outcome.errors.is_empty() {
        tracing::info!(
            version = outcome.version,
            files = ?files,
            added = ?outcome.routes_added,
            removed = ?outcome.routes_removed,
            changed = ?outcome.routes_changed,
            duration_ms,
            "Routes reloaded."
        );
    } else {
        let errors: Vec<String> = outcome.errors.iter().map(ToString::to_string).collect();
        tracing::warn!(
            version = outcome.version,
            applied = outcome.applied,
            files = ?files,
            added = ?outcome.routes_added,
            removed = ?outcome.routes_removed,
            changed = ?outcome.routes_changed,
            duration_ms,
            errors = ?errors,
            "Routes reloaded with errors; broken files keep their last good version."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_files_leave_out_specs_hidden_and_editor_files() {
        assert!(is_side_file(Path::new("routes.d/models.json")));
        assert!(is_side_file(Path::new("schemas/chat.schema.json")));
        for other in ["routes.d/files.toml", "routes.d/.models.json.swp", "routes.d/models.json~", "routes.d/4913"] {
            assert!(!is_side_file(Path::new(other)), "{other}");
        }
    }
}
