//! Host patterns of a fetch allowlist (`fetch = { hosts = [...] }`),
//! compiled into a checked form.
//!
//! | pattern | matches |
//! |---|---|
//! | `files.example.com` | exactly that host (an IP literal is written without brackets) |
//! | `*.example.com` | any host below `example.com` (one or more labels), not `example.com` itself |
//! | `img*.example.com` | one label starting with `img` (`img`, `img2`, `images`), then exactly `.example.com` |
//!
//! `*` may only be the whole first label or the end of it, and a wildcard
//! needs a domain of at least two labels after it: `*.com`, `a*b.example.com`,
//! `*img.example.com`, `x.*.example.com` and `img*` are refused, so that a
//! pattern never means more than it seems to. Case and a trailing dot are
//! ignored.

/// One entry of the host allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host.
    Exact(String),
    /// `*.example.com`: any subdomain of `example.com`, not the name itself.
    Subdomains(String),
    /// `img*.example.com`: a first label starting with `prefix`, then exactly
    /// `.suffix`.
    LabelPrefix { prefix: String, suffix: String },
}

impl HostPattern {
    /// Parses and checks a pattern; the error says what is wrong and how to
    /// write it.
    pub fn parse(pattern: &str) -> Result<HostPattern, String> {
        let lower = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
        let lower = lower.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')).unwrap_or(&lower);
        if lower.is_empty() {
            return Err("an empty host pattern".into());
        }
        if lower.contains(':') {
            return match lower.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => Ok(HostPattern::Exact(ip.to_string())),
                Err(_) => Err(format!("{pattern:?} is not a host name (a port cannot be given)")),
            };
        }
        let (first, rest) = lower.split_once('.').unwrap_or((lower, ""));
        let labels_ok = |text: &str| {
            text.split('.')
                .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        };
        let not_a_host = || format!("{pattern:?} is not a host name or a `*.example.com` / `img*.example.com` pattern");
        if !lower.contains('*') {
            return if labels_ok(lower) { Ok(HostPattern::Exact(lower.to_owned())) } else { Err(not_a_host()) };
        }
        let prefix = first.strip_suffix('*').filter(|prefix| !prefix.contains('*') && !rest.contains('*'));
        let Some(prefix) = prefix else {
            return Err(format!(
                "{pattern:?}: `*` may only be the whole first label (`*.example.com`) or end it (`img*.example.com`)"
            ));
        };
        if !labels_ok(rest) {
            return Err(not_a_host());
        }
        if !rest.contains('.') {
            return Err(format!(
                "{pattern:?} is too broad: a wildcard needs a domain of at least two labels after it, e.g. `*.example.com`"
            ));
        }
        if prefix.is_empty() {
            return Ok(HostPattern::Subdomains(rest.to_owned()));
        }
        if !labels_ok(prefix) {
            return Err(format!("{pattern:?}: the label before `*` may hold only letters, digits and `-`"));
        }
        Ok(HostPattern::LabelPrefix { prefix: prefix.to_owned(), suffix: rest.to_owned() })
    }

    /// Whether `host` (lowercase, without a trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => {
                host.strip_suffix(suffix.as_str()).is_some_and(|head| head.len() > 1 && head.ends_with('.'))
            }
            HostPattern::LabelPrefix { prefix, suffix } => {
                host.split_once('.').is_some_and(|(first, rest)| rest == suffix && first.starts_with(prefix.as_str()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pattern: &str) -> HostPattern {
        HostPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern:?}: {e}"))
    }

    #[test]
    fn exact_and_subdomain_patterns() {
        let exact = parse("Files.Example.com.");
        assert!(exact.matches("files.example.com"));
        assert!(!exact.matches("x.files.example.com"));
        let sub = parse("*.oaiusercontent.com");
        assert!(sub.matches("files.oaiusercontent.com"));
        assert!(sub.matches("a.b.oaiusercontent.com"));
        assert!(!sub.matches("oaiusercontent.com"));
        assert!(!sub.matches("evil-oaiusercontent.com"));
        assert!(!sub.matches(".oaiusercontent.com"));
        assert_eq!(parse("[::1]"), HostPattern::Exact("::1".into()));
        assert!(parse("127.0.0.1").matches("127.0.0.1"));
    }

    #[test]
    fn a_prefix_glob_covers_one_first_label() {
        let blob = parse("oaidalle*.blob.core.windows.net");
        for host in ["oaidalleapiprodscus.blob.core.windows.net", "oaidalle.blob.core.windows.net"] {
            assert!(blob.matches(host), "{host}");
        }
        for host in [
            "oaidall.blob.core.windows.net",
            "xoaidalle.blob.core.windows.net",
            "evil.oaidalle.blob.core.windows.net",
            "oaidalleapiprodscus.blob.core.windows.net.evil.test",
            "oaidalleapiprodscus.evil.core.windows.net",
            "oaidalle-blob.core.windows.net",
            "blob.core.windows.net",
        ] {
            assert!(!blob.matches(host), "{host}");
        }
    }

    #[test]
    fn ambiguous_or_broad_patterns_are_refused() {
        for bad in [
            "",
            "*",
            "*.",
            "*.com",
            "img*.com",
            "img*",
            "*.*.example.com",
            "x.*.example.com",
            "a*b.example.com",
            "*img.example.com",
            "im**.example.com",
            "a b",
            "ex/ample",
            ".x",
            "a..example.com",
            "example.com:443",
            "*.::1",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let message = HostPattern::parse("a*b.example.com").unwrap_err();
        assert!(message.contains("`img*.example.com`"), "{message}");
    }
}
