//! What a fetch may do: schemes, hosts, size, time and redirects.
//!
//! The policy is checked on the URL of every hop; the address check
//! ([`super::address`]) then runs on what the host resolves to.

use std::time::Duration;

use super::error::FetchError;
use super::url::FileUrl;

/// Limits for fetching files from client-supplied URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Allow plain `http://` URLs; https only when false.
    pub allow_http: bool,
    /// If not empty, the only hosts files may come from.
    pub allowed_hosts: Vec<HostPattern>,
    /// The largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Time allowed to open one TCP connection (TLS handshake: the same again).
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch: resolution, redirects and body.
    pub total_timeout: Duration,
    /// Redirects followed; each hop is checked like the first URL. 0: none.
    pub max_redirects: u8,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_http: false,
            allowed_hosts: Vec::new(),
            max_bytes: 25 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            max_redirects: 0,
        }
    }
}

impl FetchPolicy {
    /// Refuses a URL whose scheme or host the policy does not allow.
    pub(crate) fn admit(&self, url: &FileUrl) -> Result<(), FetchError> {
        if !url.https && !self.allow_http {
            return Err(FetchError::SchemeNotAllowed { scheme: "http".into() });
        }
        if !self.allowed_hosts.is_empty() && !self.allowed_hosts.iter().any(|p| p.matches(&url.host)) {
            return Err(FetchError::HostNotAllowed { host: url.host.clone() });
        }
        Ok(())
    }
}

/// One entry of the host allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host (an IP literal is written without brackets).
    Exact(String),
    /// `*.example.com`: any subdomain of `example.com`, not the name itself.
    Subdomains(String),
}

impl HostPattern {
    /// Parses `files.example.com` or `*.example.com`; case is ignored.
    pub fn parse(pattern: &str) -> Result<HostPattern, String> {
        let lower = pattern.trim_end_matches('.').to_ascii_lowercase();
        let (suffix, wildcard) = match lower.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (lower.as_str(), false),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':');
        if suffix.is_empty() || suffix.starts_with('.') || !suffix.chars().all(valid) {
            return Err(format!("{pattern:?} is not a host name or `*.suffix` pattern"));
        }
        Ok(if wildcard { HostPattern::Subdomains(suffix.to_owned()) } else { HostPattern::Exact(suffix.to_owned()) })
    }

    /// Whether `host` (lowercase, without a trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => {
                host.strip_suffix(suffix.as_str()).is_some_and(|head| head.len() > 1 && head.ends_with('.'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let p = FetchPolicy::default();
        assert!(!p.allow_http);
        assert!(p.allowed_hosts.is_empty());
        assert_eq!(p.max_bytes, 26_214_400);
        assert_eq!(p.connect_timeout, Duration::from_secs(10));
        assert_eq!(p.total_timeout, Duration::from_secs(60));
        assert_eq!(p.max_redirects, 0);
    }

    #[test]
    fn host_patterns() {
        let exact = HostPattern::parse("Files.Example.com.").unwrap();
        assert!(exact.matches("files.example.com"));
        assert!(!exact.matches("x.files.example.com"));
        let sub = HostPattern::parse("*.oaiusercontent.com").unwrap();
        assert!(sub.matches("files.oaiusercontent.com"));
        assert!(sub.matches("a.b.oaiusercontent.com"));
        assert!(!sub.matches("oaiusercontent.com"));
        assert!(!sub.matches("evil-oaiusercontent.com"));
        assert!(!sub.matches(".oaiusercontent.com"));
        for bad in ["", "*.", "*", "a b", "*.*.x", "ex/ample", ".x"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn admit_checks_scheme_and_allowlist() {
        let url = |s: &str| FileUrl::parse(s).unwrap();
        let mut p = FetchPolicy::default();
        assert!(matches!(p.admit(&url("http://a.example/")), Err(FetchError::SchemeNotAllowed { .. })));
        assert!(p.admit(&url("https://a.example/")).is_ok());
        p.allow_http = true;
        assert!(p.admit(&url("http://a.example/")).is_ok());
        p.allowed_hosts = vec![HostPattern::parse("*.example").unwrap()];
        assert!(p.admit(&url("https://A.Example./x")).is_ok());
        assert!(matches!(p.admit(&url("https://example/")), Err(FetchError::HostNotAllowed { .. })));
    }
}
