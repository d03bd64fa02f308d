//! Parsing file URLs and resolving redirect targets.
//!
//! One parsed [`awc::http::Uri`] serves the checks, the Host header, SNI and
//! certificate verification, so there is no second parser to disagree with.
//! A redirect's `Location` is resolved against the current URL by the `url`
//! crate, and the result is parsed again like any other URL.

use awc::http::Uri;

use super::error::FetchError;

/// A parsed http(s) URL with the parts the checks need.
#[derive(Debug, Clone)]
pub(crate) struct FileUrl {
    /// The URL as requested (without fragment).
    pub uri: Uri,
    pub https: bool,
    /// Lowercase, without IPv6 brackets or a trailing dot.
    pub host: String,
    pub port: u16,
}

impl FileUrl {
    pub fn parse(raw: &str) -> Result<FileUrl, FetchError> {
        let bad = |reason: &'static str| FetchError::BadUrl { reason };
        let raw = raw.split_once('#').map_or(raw, |(url, _fragment)| url);
        let uri: Uri = raw.parse().map_err(|_| bad("it is not an absolute http(s) URL"))?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => return Err(FetchError::SchemeNotAllowed { scheme: other.to_owned() }),
            None => return Err(bad("it is not an absolute http(s) URL")),
        };
        let authority = uri.authority().ok_or(bad("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("it must not contain credentials"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        let port = match uri.port_u16() {
            Some(0) => return Err(bad("port 0 is not valid")),
            Some(port) => port,
            None if https => 443,
            None => 80,
        };
        Ok(FileUrl { uri, https, host, port })
    }

    /// The URL a redirect's `Location` points to, relative to this one
    /// (RFC 3986 reference resolution, by the `url` crate).
    pub fn join(&self, location: &str) -> Result<FileUrl, FetchError> {
        let bad = || FetchError::BadUrl { reason: "its redirect location is not a valid URL" };
        let base = ::url::Url::parse(&self.uri.to_string()).map_err(|_| bad())?;
        let joined = base.join(location.trim()).map_err(|_| bad())?;
        FileUrl::parse(joined.as_str())
    }

    /// The host as an IP address, if it is written as one.
    pub fn ip_literal(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_parts_the_checks_need() {
        let u = FileUrl::parse("HTTPS://Files.Example.COM./a/b?x=1#frag").unwrap();
        assert!(u.https);
        assert_eq!(u.host, "files.example.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.uri.path_and_query().unwrap().as_str(), "/a/b?x=1");
        let u = FileUrl::parse("http://[::ffff:127.0.0.1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.https), ("::ffff:127.0.0.1", 8080, false));
        assert_eq!(u.ip_literal(), Some("::ffff:127.0.0.1".parse().unwrap()));
        assert_eq!(FileUrl::parse("http://127.1/").unwrap().ip_literal(), None);
    }

    #[test]
    fn refuses_what_is_not_a_plain_http_url() {
        for bad in ["", "/relative", "example.com/x", "https://user:pw@example.com/", "https://:443/", "http://a:0/"] {
            assert!(matches!(FileUrl::parse(bad), Err(FetchError::BadUrl { .. })), "{bad:?}");
        }
        for scheme in ["ftp://example.com/x", "gopher://example.com/"] {
            assert!(matches!(FileUrl::parse(scheme), Err(FetchError::SchemeNotAllowed { .. })), "{scheme:?}");
        }
        assert!(FileUrl::parse("file:///etc/passwd").is_err());
    }

    #[test]
    fn joins_redirect_locations() {
        let base = FileUrl::parse("https://a.example:8443/dir/file?q=1").unwrap();
        let join = |l: &str| base.join(l).unwrap().uri.to_string();
        assert_eq!(join("http://b.example/x"), "http://b.example/x");
        assert_eq!(join("//c.example/y"), "https://c.example/y");
        assert_eq!(join("/root"), "https://a.example:8443/root");
        assert_eq!(join("other"), "https://a.example:8443/dir/other");
        assert_eq!(join("?z=2"), "https://a.example:8443/dir/file?z=2");
        assert_eq!(join("../up/./x"), "https://a.example:8443/up/x");
        assert_eq!(join("https://d.example/a b"), "https://d.example/a%20b");
        assert!(base.join("ftp://x/").is_err());
    }
}
