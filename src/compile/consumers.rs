//! `[consumer.NAME]`, `[price.MODEL]` and `[state]` compiled into
//! [`Consumers`]: keys as digests (a key written in plain text is refused
//! unless the consumer allows it), route permissions resolved to route
//! indexes, model globs, limits and prices checked. `RELAY_KEYS` become the
//! keys of the consumer `anonymous`, which has no restrictions.

use std::collections::HashMap;
use std::time::SystemTime;

use globset::{Glob, GlobSetBuilder};
use toml::Spanned;

use crate::diagnostics::{Source, SpecError, nearest};
use crate::env::Env;
use crate::policy::consumer::{
    Consumer, Consumers, KeyOwner, Limit, Limits, ModelRule, Price, StateSettings, digest, written_digest,
};
use crate::spec::SourceFile;
use crate::spec::consumer::{BudgetSpec, ConsumerSpec, KeySpec, LimitsSpec};
use crate::spec::units;
use crate::table::Route;

/// The consumer that holds the keys of `RELAY_KEYS`.
pub const ANONYMOUS: &str = "anonymous";

/// Compiles the consumers of all files against the compiled routes.
pub fn compile(
    files: &[SourceFile],
    env: &Env,
    relay_keys: &str,
    routes: &[Route],
    errors: &mut Vec<SpecError>,
) -> Consumers {
    let mut consumers = Consumers::default();
    let anonymous: Vec<&str> = relay_keys.split(',').map(str::trim).filter(|key| !key.is_empty()).collect();
    if !anonymous.is_empty() {
        let index = consumers.push(Consumer::open(ANONYMOUS));
        for key in anonymous {
            consumers.add_key(digest(key), KeyOwner { consumer: index, expires: None });
        }
    }
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for file in files {
        let source = &file.source;
        for (name, spec) in &file.spec.consumer {
            let at = spec.span().start;
            if name == ANONYMOUS || seen.insert(name.as_str(), ()).is_some() {
                errors.push(
                    source
                        .error_at(at, format!("consumer `{name}` is defined twice"))
                        .with_hint("consumer names are global across files; `anonymous` holds the keys of RELAY_KEYS"),
                );
                continue;
            }
            let spec = spec.get_ref();
            let consumer = Consumer {
                name: name.clone(),
                routes: spec.routes.as_ref().and_then(|r| route_rule(source, r, routes, errors)),
                models: spec.models.as_ref().and_then(|m| model_rule(source, m, errors)),
                limits: limits(source, &spec.limits, &spec.budget, errors),
            };
            let index = consumers.push(consumer);
            add_keys(source, env, spec, index, &mut consumers, errors);
        }
        for (model, price) in &file.spec.price {
            match Glob::new(model) {
                Ok(glob) => {
                    let p = price.get_ref();
                    let price =
                        Price { input: p.input, cached_input: p.cached_input.unwrap_or(p.input), output: p.output };
                    consumers.prices.push((glob.compile_matcher(), price));
                }
                Err(e) => errors.push(source.error_at(price.span().start, format!("`[price.\"{model}\"]`: {e}"))),
            }
        }
        if let Some(state) = &file.spec.state {
            let redis = state.get_ref().redis.as_ref().and_then(|url| {
                env.expand(url.get_ref()).map_err(|e| errors.push(source.error_at(url.span().start, e))).ok()
            });
            let file = state.get_ref().file.as_ref().and_then(|file| {
                env.expand(file.get_ref()).map_err(|e| errors.push(source.error_at(file.span().start, e))).ok()
            });
            let settings = StateSettings {
                redis: redis.filter(|url| !url.is_empty()),
                when_unreachable: state.get_ref().when_unreachable,
                file: file.filter(|file| !file.is_empty()).map(Into::into),
            };
            if consumers.state != StateSettings::default() {
                errors.push(source.error_at(state.span().start, "`[state]` is set in more than one file"));
            }
            consumers.state = settings;
        }
    }
    // The most specific price wins: an exact name, then the longest pattern.
    consumers.prices.sort_by_key(|(glob, _)| {
        let pattern = glob.glob().glob();
        (pattern.contains(['*', '?', '[', '{']), std::cmp::Reverse(pattern.len()))
    });
    consumers
}

/// The keys of one consumer, each checked and added as a digest.
fn add_keys(
    source: &Source,
    env: &Env,
    spec: &ConsumerSpec,
    index: usize,
    consumers: &mut Consumers,
    errors: &mut Vec<SpecError>,
) {
    for key in &spec.keys {
        let at = key.span().start;
        let (text, expires) = match key.get_ref() {
            KeySpec::Text(text) => (text.as_str(), None),
            KeySpec::Dated(dated) => (dated.key.as_str(), dated.expires.as_deref()),
        };
        let expires = match expires.map(expiry).transpose() {
            Ok(expires) => expires,
            Err(e) => {
                errors.push(source.error_at(at, e).with_hint("write a date such as \"2027-01-31\" (midnight UTC)"));
                continue;
            }
        };
        let digest = match key_digest(text, env, spec.allow_plaintext_keys) {
            Ok(Some(digest)) => digest,
            Ok(None) => continue,
            Err(error) => {
                let (message, hint) = error;
                errors.push(source.error_at(at, message).with_hint(hint));
                continue;
            }
        };
        if !consumers.add_key(digest, KeyOwner { consumer: index, expires }) {
            errors.push(
                source
                    .error_at(at, "this key is also another consumer's")
                    .with_hint("give every consumer keys of its own"),
            );
        }
    }
}

/// A key entry's digest; `None` for a `${VAR:-}` that expands to nothing.
fn key_digest(text: &str, env: &Env, plaintext_allowed: bool) -> Result<Option<[u8; 32]>, (String, String)> {
    if let Some(hex) = text.strip_prefix("sha256:") {
        return parse_hex(hex).map(Some).ok_or_else(|| {
            (
                "`sha256:` must be followed by 64 hex digits".to_owned(),
                "`relay keys new NAME` prints a key and its digest".to_owned(),
            )
        });
    }
    if text.contains("${") {
        let key = env
            .expand(text)
            .map_err(|e| (e, "set the variable, or write `${VAR:-}` to skip the key when it is unset".to_owned()))?;
        return Ok((!key.is_empty()).then(|| digest(&key)));
    }
    if plaintext_allowed {
        return Ok(Some(digest(text)));
    }
    Err((
        "a relay key is written in plain text".to_owned(),
        format!(
            "write its digest instead: \"{}\" (or `allow_plaintext_keys = true` for local use)",
            written_digest(text)
        ),
    ))
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// `"2027-01-31"` (midnight UTC) or an RFC 3339 time.
fn expiry(text: &str) -> Result<SystemTime, String> {
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_owned() };
    humantime::parse_rfc3339_weak(&full).map_err(|e| format!("`expires = \"{text}\"` is not a date: {e}"))
}

/// `routes = [...]` resolved to a flag per route index.
fn route_rule(
    source: &Source,
    written: &Spanned<Vec<String>>,
    routes: &[Route],
    errors: &mut Vec<SpecError>,
) -> Option<Vec<bool>> {
    let at = written.span().start;
    let mut allowed = vec![false; routes.len()];
    for pattern in written.get_ref() {
        let matched: Vec<usize> = if let Some(tag) = pattern.strip_prefix("tag:") {
            routes.iter().enumerate().filter(|(_, r)| r.docs.tags.iter().any(|t| t == tag)).map(|(i, _)| i).collect()
        } else {
            match Glob::new(pattern) {
                Ok(glob) => {
                    let glob = glob.compile_matcher();
                    routes.iter().enumerate().filter(|(_, r)| glob.is_match(&r.id)).map(|(i, _)| i).collect()
                }
                Err(e) => {
                    errors.push(source.error_at(at, format!("`routes` entry `{pattern}`: {e}")));
                    return None;
                }
            }
        };
        if matched.is_empty() {
            let hint = nearest(pattern, routes.iter().map(|r| r.id.as_str()))
                .map_or("entries are route ids (globs allowed) or `tag:NAME`".to_owned(), |near| {
                    format!("did you mean `{near}`?")
                });
            errors.push(source.error_at(at, format!("`routes` entry `{pattern}` matches no route")).with_hint(hint));
        }
        for index in matched {
            allowed[index] = true;
        }
    }
    Some(allowed)
}

/// `models = [...]` as a glob set.
fn model_rule(source: &Source, written: &Spanned<Vec<String>>, errors: &mut Vec<SpecError>) -> Option<ModelRule> {
    let mut set = GlobSetBuilder::new();
    for pattern in written.get_ref() {
        match Glob::new(pattern) {
            Ok(glob) => {
                set.add(glob);
            }
            Err(e) => errors.push(source.error_at(written.span().start, format!("`models` entry `{pattern}`: {e}"))),
        }
    }
    let set = set.build().map_err(|e| errors.push(source.error_at(written.span().start, e.to_string()))).ok()?;
    Some(ModelRule { set, written: written.get_ref().clone() })
}

/// `limits` and `budget`, each an amount per window.
fn limits(source: &Source, limits: &LimitsSpec, budget: &BudgetSpec, errors: &mut Vec<SpecError>) -> Limits {
    let mut limit = |value: &Option<Spanned<String>>, key: &str, scale: f64| {
        let value = value.as_ref()?;
        match units::per_window(value.get_ref()) {
            Ok((amount, per)) => Some(Limit { amount: (amount * scale).round() as u64, per }),
            Err(e) => {
                errors.push(
                    source
                        .error_at(value.span().start, format!("`{key}` {e}"))
                        .with_hint("write an amount per window such as \"3/min\", \"40k/hour\" or \"25/month\""),
                );
                None
            }
        }
    };
    Limits {
        requests: limit(&limits.requests, "requests", 1.0),
        tokens: limit(&limits.tokens, "tokens", 1.0),
        input_tokens: limit(&limits.input_tokens, "input_tokens", 1.0),
        output_tokens: limit(&limits.output_tokens, "output_tokens", 1.0),
        concurrent: limits.concurrent.as_ref().map(|n| *n.get_ref()),
        budget_tokens: limit(&budget.tokens, "budget.tokens", 1.0),
        budget_micro_usd: limit(&budget.usd, "budget.usd", 1e6),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::diagnostics::Source;
    use crate::policy::consumer::{Identified, Per};

    const ROUTES: &str = "[upstream.u]\nbase_url = \"http://u.test/v1\"\n\n[[route]]\nid = \"chat.create\"\nmethod = \"POST\"\npath = \"/v1/chat/completions\"\nupstream = \"u\"\ntags = [\"Chat\"]\n";

    fn compiled(consumers: &str, env: &[(&str, &str)]) -> Result<crate::table::Table, Vec<SpecError>> {
        let file = |name: &str, text: &str| {
            crate::spec::parse_file(Source::new(PathBuf::from(name), text.to_owned())).unwrap()
        };
        let files = [file("a.toml", ROUTES), file("b.toml", consumers)];
        crate::compile::compile(&files, &Env::from_pairs(env.iter().copied()))
    }

    fn errors(consumers: &str) -> Vec<String> {
        compiled(consumers, &[]).unwrap_err().iter().map(|e| format!("{e}")).collect()
    }

    #[test]
    fn keys_limits_and_permissions_compile() {
        let text = format!(
            "[consumer.a]\nkeys = [\"{}\", \"${{A_KEY}}\", {{ key = \"{}\", expires = \"2001-01-01\" }}, \"${{UNSET:-}}\"]\nroutes = [\"tag:Chat\"]\nmodels = [\"gpt-4o*\"]\nlimits = {{ requests = \"3/min\", concurrent = 2 }}\nbudget = {{ usd = \"2.5/month\" }}\n",
            written_digest("k1"),
            written_digest("k-old")
        );
        let table = compiled(&text, &[("A_KEY", "k2"), ("RELAY_KEYS", "anon")]).unwrap();
        let consumers = &table.consumers;
        let now = SystemTime::now();
        assert_eq!(consumers.identify("anon", now), Identified::Consumer(0));
        assert_eq!(consumers.identify("k1", now), Identified::Consumer(1));
        assert_eq!(consumers.identify("k2", now), Identified::Consumer(1));
        assert_eq!(consumers.identify("k-old", now), Identified::Expired);
        let a = &consumers.list[1];
        assert!(a.may_call(0) && a.may_use("gpt-4o-mini") && !a.may_use("o3"));
        assert_eq!(a.limits.requests, Some(Limit { amount: 3, per: Per::Every(std::time::Duration::from_secs(60)) }));
        assert_eq!(a.limits.budget_micro_usd.map(|l| (l.amount, l.per)), Some((2_500_000, Per::Month)));
    }

    #[test]
    fn every_mistake_is_located_with_a_hint() {
        let found = errors(
            "[consumer.a]\nkeys = [\"sha256:abc\"]\nroutes = [\"chat.craete\"]\nlimits = { requests = \"3/fortnight\" }\n\n[consumer.anonymous]\nkeys = []\n",
        );
        let all = found.join("\n");
        assert!(all.contains("b.toml:2:9: error: `sha256:` must be followed by 64 hex digits"), "{all}");
        assert!(all.contains("`routes` entry `chat.craete` matches no route") && all.contains("chat.create"), "{all}");
        assert!(all.contains("b.toml:4:23: error: `requests` has the window `fortnight`"), "{all}");
        assert!(all.contains("consumer `anonymous` is defined twice"), "{all}");
        let shared = format!("[consumer.a]\nkeys = [\"{0}\"]\n[consumer.b]\nkeys = [\"{0}\"]\n", written_digest("k"));
        assert!(errors(&shared).join("\n").contains("this key is also another consumer's"));
    }
}
