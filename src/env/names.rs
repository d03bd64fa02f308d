//! The environment names this relay accepts besides its own, in one table.
//!
//! Teams move here from relays that named the same settings differently
//! (the FastAPI Actions relay: `OPENAI_API_BASE`, `OPENAI_ORG_ID`,
//! `OPENAI_PROJECT_ID`, `RELAY_KEY`, `RELAY_AUTH_ENABLED`). [`ACCEPTED`]
//! lists, for each variable the relay reads, the other names it is also read
//! from. [`resolve`] fills the relay's own name from them when an
//! [`Env`](super::Env) is built, so specs and code only ever use the relay's
//! names. It also:
//!
//! - completes a base URL given without a path (`https://api.openai.com`)
//!   with the API's version prefix `/v1`, and says so: that relay wanted it
//!   without `/v1`, this one appends paths to it;
//! - refuses two names of one setting with different values;
//! - honours `RELAY_AUTH_ENABLED=true` only with a relay key (never open),
//!   and notes that `false` does not switch off keys that are set.
//!
//! Problems stop the table from compiling, like a spec error; notes are
//! logged by `relay serve`.

use std::collections::HashMap;

/// One variable of this relay and the other names it is read from.
#[derive(Debug)]
pub struct Accepted {
    /// The relay's name, used in specs and code.
    pub name: &'static str,
    /// Other names for the same setting.
    pub also: &'static [&'static str],
    /// What happens when several of the names are set.
    pub combine: Combine,
}

/// How the values of several names of one setting combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// They must be equal (a conflict is a problem).
    Agree,
    /// They are joined into one comma-separated list (relay keys).
    Join,
}

/// The variable holding the upstream base URL (completed with `/v1`).
pub const BASE_URL: &str = "OPENAI_BASE_URL";
/// The variable holding the accepted relay keys.
pub const RELAY_KEYS: &str = "RELAY_KEYS";
/// The replaced relay's switch for relay keys.
pub const AUTH_SWITCH: &str = "RELAY_AUTH_ENABLED";

/// Every accepted name, in one place.
pub const ACCEPTED: &[Accepted] = &[
    Accepted { name: BASE_URL, also: &["OPENAI_API_BASE"], combine: Combine::Agree },
    Accepted { name: "OPENAI_ORGANIZATION", also: &["OPENAI_ORG_ID"], combine: Combine::Agree },
    Accepted { name: "OPENAI_PROJECT", also: &["OPENAI_PROJECT_ID"], combine: Combine::Agree },
    Accepted { name: RELAY_KEYS, also: &["RELAY_KEY"], combine: Combine::Join },
];

/// What resolving the names found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Worth a log line: a name read for another, a completed URL.
    pub notes: Vec<String>,
    /// The relay must not start: each says which variable to change.
    pub problems: Vec<String>,
    /// `RELAY_AUTH_ENABLED` asks for relay keys and the environment holds
    /// none: a problem unless the spec's consumers hold keys (the compiler
    /// decides, knowing them). The message to report.
    pub keys_required: Option<String>,
}

/// Fills the relay's names in `vars` from the accepted ones (see the module
/// documentation).
pub fn resolve(vars: &mut HashMap<String, String>) -> Findings {
    let mut findings = Findings::default();
    for accepted in ACCEPTED {
        let mut given: Vec<(&str, String)> = Vec::new();
        for name in std::iter::once(&accepted.name).chain(accepted.also) {
            let Some(value) = vars.get(*name).map(|v| v.trim()).filter(|v| !v.is_empty()) else { continue };
            let value = match accepted.name {
                BASE_URL => with_version_prefix(name, value, &mut findings.notes),
                _ => value.to_owned(),
            };
            given.push((name, value));
        }
        let Some((first_name, first_value)) = given.first().cloned() else { continue };
        let value = match accepted.combine {
            Combine::Join => given.iter().map(|(_, value)| value.as_str()).collect::<Vec<_>>().join(","),
            Combine::Agree => {
                if let Some((other, _)) = given.iter().find(|(_, value)| *value != first_value) {
                    findings.problems.push(format!(
                        "{first_name} and {other} are both set, to different values: set only {}",
                        accepted.name
                    ));
                    continue;
                }
                first_value
            }
        };
        if first_name != accepted.name {
            findings.notes.push(format!("{first_name} is read as {}", accepted.name));
        }
        vars.insert(accepted.name.to_owned(), value);
    }
    check_auth_switch(vars, &mut findings);
    findings
}

/// `https://api.openai.com` becomes `https://api.openai.com/v1`; a URL with
/// a path (or not a URL at all: compiling reports it) is kept.
fn with_version_prefix(name: &str, value: &str, notes: &mut Vec<String>) -> String {
    let Some((scheme, rest)) = value.split_once("://") else { return value.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    if !web || authority.is_empty() || !(path.is_empty() || path == "/") {
        return value.to_owned();
    }
    let completed = format!("{scheme}://{authority}/v1");
    notes.push(format!(
        "{name}={value} has no path: requests go to {completed} (the API's version prefix); set {name}={completed} to say so"
    ));
    completed
}

fn check_auth_switch(vars: &HashMap<String, String>, findings: &mut Findings) {
    let Some(switch) = vars.get(AUTH_SWITCH).map(|v| v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty()) else {
        return;
    };
    let has_keys = vars.get(RELAY_KEYS).is_some_and(|keys| keys.split(',').any(|key| !key.trim().is_empty()));
    match switch.as_str() {
        "true" | "1" | "yes" | "on" if !has_keys => {
            findings.keys_required = Some(format!(
                "{AUTH_SWITCH}={switch} but no relay key is set: set {RELAY_KEYS}=key1,key2 (or RELAY_KEY=key), \
                 give a `[consumer]` its keys, or unset {AUTH_SWITCH} to run without keys on loopback"
            ));
        }
        "true" | "1" | "yes" | "on" => {}
        "false" | "0" | "no" | "off" if has_keys => findings.notes.push(format!(
            "{AUTH_SWITCH}={switch} does not switch relay keys off: clients must send one of {RELAY_KEYS}; \
             unset {RELAY_KEYS} and RELAY_KEY to run without keys"
        )),
        "false" | "0" | "no" | "off" => {}
        _ => findings.problems.push(format!("{AUTH_SWITCH}={switch} is neither true nor false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(pairs: &[(&str, &str)]) -> (HashMap<String, String>, Findings) {
        let mut vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let findings = resolve(&mut vars);
        (vars, findings)
    }

    #[test]
    fn other_names_fill_the_relays_names() {
        let (vars, findings) = resolved(&[
            ("OPENAI_API_BASE", "https://proxy.test/v1"),
            ("OPENAI_ORG_ID", "org-1"),
            ("OPENAI_PROJECT_ID", "proj-1"),
            ("RELAY_KEY", "k1"),
        ]);
        assert_eq!(vars["OPENAI_BASE_URL"], "https://proxy.test/v1");
        assert_eq!(vars["OPENAI_ORGANIZATION"], "org-1");
        assert_eq!(vars["OPENAI_PROJECT"], "proj-1");
        assert_eq!(vars["RELAY_KEYS"], "k1");
        assert!(findings.problems.is_empty());
        assert!(findings.notes.contains(&"OPENAI_ORG_ID is read as OPENAI_ORGANIZATION".to_owned()));
    }

    #[test]
    fn a_base_url_without_a_path_gets_the_version_prefix() {
        for (given, expected) in [
            ("https://api.openai.com", "https://api.openai.com/v1"),
            ("https://api.openai.com/", "https://api.openai.com/v1"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000/v1"),
            ("https://api.openai.com/v1", "https://api.openai.com/v1"),
            ("https://gateway.test/openai/v1", "https://gateway.test/openai/v1"),
            ("not a url", "not a url"),
        ] {
            let (vars, findings) = resolved(&[("OPENAI_BASE_URL", given)]);
            assert_eq!(vars["OPENAI_BASE_URL"], expected, "{given}");
            assert_eq!(findings.notes.len(), usize::from(given != expected), "{given}: {:?}", findings.notes);
        }
        let (_, findings) = resolved(&[("OPENAI_BASE_URL", "https://api.openai.com")]);
        assert!(findings.notes[0].contains("set OPENAI_BASE_URL=https://api.openai.com/v1"), "{findings:?}");
    }

    #[test]
    fn names_agree_or_join() {
        let (vars, findings) = resolved(&[
            ("OPENAI_BASE_URL", "https://api.openai.com"),
            ("OPENAI_API_BASE", "https://api.openai.com/v1"),
        ]);
        assert_eq!((vars["OPENAI_BASE_URL"].as_str(), findings.problems.len()), ("https://api.openai.com/v1", 0));
        let (_, findings) = resolved(&[("OPENAI_ORGANIZATION", "org-1"), ("OPENAI_ORG_ID", "org-2")]);
        assert_eq!(
            findings.problems,
            ["OPENAI_ORGANIZATION and OPENAI_ORG_ID are both set, to different values: set only OPENAI_ORGANIZATION"]
        );
        let (vars, _) = resolved(&[("RELAY_KEYS", "a,b"), ("RELAY_KEY", "c")]);
        assert_eq!(vars["RELAY_KEYS"], "a,b,c");
    }

    #[test]
    fn the_auth_switch_never_leaves_the_relay_open() {
        let (_, findings) = resolved(&[("RELAY_AUTH_ENABLED", "true")]);
        let required = findings.keys_required.unwrap_or_default();
        assert!(required.contains("set RELAY_KEYS=key1,key2 (or RELAY_KEY=key)"), "{required}");
        assert!(resolved(&[("RELAY_AUTH_ENABLED", "on"), ("RELAY_KEYS", "k")]).1.keys_required.is_none());
        assert!(resolved(&[("RELAY_AUTH_ENABLED", "TRUE"), ("RELAY_KEY", "k")]).1.problems.is_empty());
        let (_, findings) = resolved(&[("RELAY_AUTH_ENABLED", "false"), ("RELAY_KEYS", "k")]);
        assert!(findings.problems.is_empty() && findings.notes[0].contains("does not switch relay keys off"));
        assert_eq!(resolved(&[("RELAY_AUTH_ENABLED", "maybe")]).1.problems.len(), 1);
        assert_eq!(resolved(&[("RELAY_AUTH_ENABLED", "false")]).1, Findings::default());
    }
}
