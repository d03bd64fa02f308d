//! Choosing which version of each file goes into a new table.
//!
//! First try: every changed file in its new version (files that do not even
//! parse keep their last good version). If that does not compile, the changed
//! files with errors go back to their last good version (a new file that is
//! broken is left out) and the rest is tried again. If that fails too, no
//! table is built and the previous one stays.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{State, parse};
use crate::compile::compile;
use crate::diagnostics::SpecError;
use crate::env::Env;
use crate::live::Live;
use crate::spec::SourceFile;

/// The files of one reload, each with its new and last good text.
pub struct Attempt<'a> {
    files: BTreeMap<PathBuf, Versions<'a>>,
    changed: &'a BTreeSet<PathBuf>,
}

struct Versions<'a> {
    /// On disk now (`None`: deleted).
    new: Option<&'a String>,
    /// In force in the current table.
    good: Option<&'a String>,
}

impl<'a> Attempt<'a> {
    pub fn new(state: &'a State, texts: &'a BTreeMap<PathBuf, String>, changed: &'a BTreeSet<PathBuf>) -> Self {
        let mut files: BTreeMap<PathBuf, Versions<'a>> = BTreeMap::new();
        for (path, text) in texts {
            let good = state.files.get(path).and_then(|f| f.good.as_ref());
            files.insert(path.clone(), Versions { new: Some(text), good });
        }
        for (path, file) in &state.files {
            if let (false, Some(good)) = (files.contains_key(path), file.good.as_ref()) {
                files.insert(path.clone(), Versions { new: None, good: Some(good) });
            }
        }
        Attempt { files, changed }
    }

    /// Builds the live state (table and documents), or `None`. Also returns which changed files went in
    /// with their new text, and every error found.
    pub fn run(&self, env: &Env) -> (Option<Live>, BTreeSet<PathBuf>, Vec<SpecError>) {
        let mut errors = Vec::new();
        let mut use_new: BTreeSet<PathBuf> = BTreeSet::new();
        let mut parsed_new: BTreeMap<&PathBuf, SourceFile> = BTreeMap::new();
        for path in self.changed {
            match self.files.get(path).and_then(|v| v.new) {
                Some(text) => match parse(path, text) {
                    Ok(file) => {
                        parsed_new.insert(path, file);
                        use_new.insert(path.clone());
                    }
                    Err(e) => errors.push(e),
                },
                None => drop(use_new.insert(path.clone())), // deleted: leave it out
            }
        }
        let first = self.compile_with(&use_new, &mut parsed_new, env);
        let compile_errors = match first {
            Ok(table) => return (Some(table), use_new, errors),
            Err(e) => e,
        };
        // Second try: changed files with errors (or all changed files, when
        // the errors are elsewhere) go back to their last good version.
        let blamed: BTreeSet<PathBuf> = compile_errors.iter().map(|e| e.file.clone()).collect();
        let culprits: BTreeSet<PathBuf> = use_new.intersection(&blamed).cloned().collect();
        let reverted: BTreeSet<PathBuf> = if culprits.is_empty() { use_new.clone() } else { culprits };
        let retry: BTreeSet<PathBuf> = use_new.difference(&reverted).cloned().collect();
        errors.extend(compile_errors);
        match self.compile_with(&retry, &mut parsed_new, env) {
            Ok(table) => (Some(table), retry, errors),
            Err(_) => (None, BTreeSet::new(), errors),
        }
    }

    /// Compiles with `use_new` files in their new version, others as good.
    fn compile_with(
        &self,
        use_new: &BTreeSet<PathBuf>,
        parsed_new: &mut BTreeMap<&PathBuf, SourceFile>,
        env: &Env,
    ) -> Result<Live, Vec<SpecError>> {
        let mut files = Vec::new();
        for (path, versions) in &self.files {
            if use_new.contains(path) {
                if let Some(file) = parsed_new.remove(path) {
                    files.push(file);
                } else if let Some(text) = versions.new {
                    files.push(parse(path, text).map_err(|e| vec![e])?);
                }
            } else if let Some(good) = versions.good {
                files.push(parse(path, good).map_err(|e| vec![e])?);
            }
        }
        Live::new(compile(&files, env)?, env)
    }
}
