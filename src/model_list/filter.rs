//! Include and exclude rules over model ids: globs (`gpt-5*`, `*codex*`) or
//! regular expressions written between slashes (`/^o[0-9]/`).

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::RegexSet;

/// A compiled set of include and exclude patterns.
#[derive(Debug, Default)]
pub struct ModelFilter {
    include: Option<Patterns>,
    exclude: Option<Patterns>,
}

#[derive(Debug)]
struct Patterns {
    globs: GlobSet,
    regexes: RegexSet,
}

impl ModelFilter {
    pub fn compile(include: &[String], exclude: &[String]) -> Result<ModelFilter, String> {
        let include = (!include.is_empty()).then(|| Patterns::compile("include", include)).transpose()?;
        let exclude = (!exclude.is_empty()).then(|| Patterns::compile("exclude", exclude)).transpose()?;
        Ok(ModelFilter { include, exclude })
    }

    /// Whether the filter has no rules (it shows every model).
    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether the model `id` is shown: included (or no include rules) and
    /// not excluded.
    pub fn shows(&self, id: &str) -> bool {
        self.include.as_ref().is_none_or(|p| p.matches(id)) && !self.exclude.as_ref().is_some_and(|p| p.matches(id))
    }
}

impl Patterns {
    fn compile(key: &str, patterns: &[String]) -> Result<Patterns, String> {
        let mut globs = GlobSetBuilder::new();
        let mut regexes = Vec::new();
        for pattern in patterns {
            match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
                Some(regex) => regexes.push(regex),
                None => {
                    let glob = Glob::new(pattern).map_err(|e| format!("`{key}` pattern {pattern:?}: {e}"))?;
                    globs.add(glob);
                }
            }
        }
        let regexes = RegexSet::new(&regexes).map_err(|e| format!("`{key}` has an invalid regular expression: {e}"))?;
        let globs = globs.build().map_err(|e| format!("`{key}`: {e}"))?;
        Ok(Patterns { globs, regexes })
    }

    fn matches(&self, id: &str) -> bool {
        self.globs.is_match(id) || self.regexes.is_match(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> ModelFilter {
        let own = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ModelFilter::compile(&own(include), &own(exclude)).unwrap()
    }

    #[test]
    fn no_rules_show_everything() {
        assert!(filter(&[], &[]).shows("anything"));
    }

    #[test]
    fn globs_and_regexes_include_and_exclude() {
        let codex_only = filter(&["*codex*"], &[]);
        assert!(codex_only.shows("gpt-5-codex"));
        assert!(!codex_only.shows("gpt-5"));
        let no_codex = filter(&[], &["*codex*"]);
        assert!(no_codex.shows("gpt-5") && !no_codex.shows("codex-mini-latest"));
        let reasoning = filter(&["/^o[0-9]/", "gpt-5*"], &["*-nano"]);
        assert!(reasoning.shows("o3") && reasoning.shows("gpt-5-mini"));
        assert!(!reasoning.shows("gpt-5-nano") && !reasoning.shows("gpt-4o"));
    }

    #[test]
    fn bad_patterns_are_reported() {
        let own = |s: &str| vec![s.to_owned()];
        assert!(ModelFilter::compile(&own("/(/"), &[]).is_err_and(|e| e.contains("regular expression")));
        assert!(ModelFilter::compile(&[], &own("a[")).is_err_and(|e| e.contains("exclude")));
    }
}
