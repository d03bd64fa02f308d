//! The environment a table is compiled against, and `${VAR}` expansion.
//!
//! Compilation never reads the process environment directly: it takes an
//! [`Env`] snapshot, so tests pass their own variables and a reload sees one
//! consistent view. Building a snapshot also reads the names other relays
//! used for the same settings ([`names`]).

pub mod names;

use std::collections::HashMap;

pub use names::Findings;

/// A snapshot of environment variables.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    findings: Findings,
}

impl Env {
    /// The current process environment.
    pub fn from_process() -> Self {
        Env::from_pairs(std::env::vars())
    }

    /// An environment holding these variables, with the relay's names
    /// filled from the accepted other names ([`names::resolve`]).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut vars = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let findings = names::resolve(&mut vars);
        Env { vars, findings }
    }

    /// What reading the names found: notes to log, and problems that stop
    /// the relay (each names the variable to change).
    pub fn findings(&self) -> &Findings {
        &self.findings
    }

    /// A variable's value; unset and empty are the same.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Expands `${VAR}` and `${VAR:-default}` in `text`. `$$` is a literal `$`.
    /// An unset `${VAR}` without a default is an error naming the variable.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(inner) = after.strip_prefix('{') {
                let end = inner.find('}').ok_or_else(|| format!("unclosed `${{` in {text:?}"))?;
                out.push_str(&self.expand_one(&inner[..end])?);
                rest = &inner[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn expand_one(&self, expr: &str) -> Result<String, String> {
        let (name, default) = match expr.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expr, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{expr}}}` is not a variable reference"));
        }
        match (self.get(name), default) {
            (Some(value), _) => Ok(value.to_owned()),
            (None, Some(default)) => Ok(default.to_owned()),
            (None, None) => {
                Err(format!("environment variable {name} is not set (write `${{{name}:-default}}` to give a default)"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_set_unset_and_defaults() {
        let env = Env::from_pairs([("HOST", "example.test"), ("EMPTY", "")]);
        assert_eq!(env.expand("https://${HOST}/v1").unwrap(), "https://example.test/v1");
        assert_eq!(env.expand("${NOPE:-https://api.openai.com/v1}").unwrap(), "https://api.openai.com/v1");
        assert_eq!(env.expand("${EMPTY:-x}").unwrap(), "x");
        assert_eq!(env.expand("cost $5 and $$").unwrap(), "cost $5 and $");
        assert!(env.expand("${NOPE}").unwrap_err().contains("NOPE is not set"));
        assert!(env.expand("${OPEN").is_err());
        assert!(env.expand("${a b}").is_err());
    }
}
