//! What a fetch may do: schemes, hosts, size, time and redirects.
//!
//! The policy is checked on the URL of every hop; the address check
//! ([`super::address`]) then runs on what the host resolves to.

use std::time::Duration;

use super::error::FetchError;
use super::host::HostPattern;
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
    fn admit_checks_scheme_and_allowlist() {
        let url = |s: &str| FileUrl::parse(s).unwrap();
        let mut p = FetchPolicy::default();
        assert!(matches!(p.admit(&url("http://a.example/")), Err(FetchError::SchemeNotAllowed { .. })));
        assert!(p.admit(&url("https://a.example/")).is_ok());
        p.allow_http = true;
        assert!(p.admit(&url("http://a.example/")).is_ok());
        p.allowed_hosts = vec![HostPattern::parse("*.a.example").unwrap()];
        assert!(p.admit(&url("https://B.A.Example./x")).is_ok());
        assert!(matches!(p.admit(&url("https://a.example/")), Err(FetchError::HostNotAllowed { .. })));
    }
}
