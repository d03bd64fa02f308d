//! Fetching files from URLs given by untrusted clients, safely.
//!
//! A `json_to_multipart` route receives links such as ChatGPT Actions'
//! `openaiFileIdRefs[].download_link` and must fetch them without becoming
//! a way into the relay's network (SSRF). Every hop of a fetch is:
//!
//! 1. parsed once (`url`) and admitted by the [`FetchPolicy`] ([`policy`]):
//!    https only unless `allow_http`, optional host allowlist ([`host`]);
//! 2. resolved once through a [`Resolve`] ([`resolve`]); IP literals skip it;
//! 3. checked: every resolved address must pass the [`AddressCheck`]
//!    ([`address`]); if any fails, the fetch is refused;
//! 4. connected to those checked addresses only (`connect`);
//! 5. sent as a bare GET (Host, `User-Agent: relay`, `Accept: */*`: no
//!    credential of the client or the upstream ever reaches the file host);
//! 6. read with the size cap (`transfer`); a redirect starts the next hop
//!    if the policy allows one, else it is refused.
//!
//! The whole fetch runs under `total_timeout`. Errors are [`FetchError`]s
//! ([`error`]), which turn into the OpenAI error shape with the JSON field as
//! `param`.
//!
//! # Why awc
//!
//! awc lets the TCP connector be replaced (`Connector::connector`), so the
//! relay keeps one HTTP client stack: the pinned connector in `connect`
//! opens the socket to a checked address, and awc's rustls layer does the
//! handshake with SNI and certificate checks for the URL's host name. The
//! price is awc's `!Send` futures, which actix-web handlers accept.
//!
//! # Why a buffered body
//!
//! [`Fetcher::fetch`] returns the whole file as one [`bytes::Bytes`] of at
//! most `max_bytes` (4 to 25 MiB in practice), not a stream: every download
//! error then happens before the upstream request starts, so the client gets
//! a clean 400/502 naming the field, and the multipart body can be re-sent
//! when the upstream request is retried.

pub mod address;
mod connect;
pub mod error;
pub mod host;
pub mod policy;
pub mod resolve;
mod transfer;
mod url;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

pub use address::{AddressCheck, Forbidden};
pub use error::FetchError;
pub use host::HostPattern;
pub use policy::FetchPolicy;
pub use resolve::{Resolve, SystemResolver};

use transfer::Hop;
use url::FileUrl;

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct FetchedFile {
    /// The file host's `Content-Type`, or `application/octet-stream`.
    pub content_type: String,
    /// The whole body, at most `max_bytes` long.
    pub bytes: Bytes,
}

/// Fetches files under a [`FetchPolicy`]. Cheap to clone; shareable.
#[derive(Clone)]
pub struct Fetcher {
    policy: FetchPolicy,
    tls: Arc<rustls::ClientConfig>,
    resolver: Arc<dyn Resolve>,
    check: AddressCheck,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// A URL that passed the policy, with the addresses that passed the check.
struct Checked {
    url: FileUrl,
    addrs: Vec<SocketAddr>,
}

impl Fetcher {
    /// A fetcher with the system resolver and the public-only address check.
    pub fn new(policy: FetchPolicy, tls: Arc<rustls::ClientConfig>) -> Self {
        Fetcher { policy, tls, resolver: Arc::new(SystemResolver), check: address::check_public }
    }

    /// Uses another resolver (tests script DNS answers with it).
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Uses another address rule. Only tests need this, to reach a file
    /// server on loopback ([`address::check_public_or_loopback`]).
    pub fn with_address_check(mut self, check: AddressCheck) -> Self {
        self.check = check;
        self
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Downloads `url` under the policy.
    pub async fn fetch(&self, url: &str) -> Result<FetchedFile, FetchError> {
        tokio::time::timeout(self.policy.total_timeout, self.fetch_hops(url)).await.unwrap_or(Err(FetchError::Timeout))
    }

    /// Steps 1 to 3 for `url`, without connecting: the addresses a fetch
    /// would connect to, or why it would be refused.
    pub async fn check(&self, url: &str) -> Result<Vec<SocketAddr>, FetchError> {
        Ok(self.checked(FileUrl::parse(url)?).await?.addrs)
    }

    /// The checks that need no network, for a dry run: the URL, the
    /// policy's schemes, hosts and ports, and an address written as a
    /// literal. (A host name is resolved and checked only when served.)
    pub fn check_offline(&self, url: &str) -> Result<(), FetchError> {
        let url = FileUrl::parse(url)?;
        self.policy.admit(&url)?;
        url.ip_literal().map_or(Ok(()), |ip| self.check_address(ip))
    }

    /// The address rule, for one address the URL names or resolves to.
    fn check_address(&self, ip: std::net::IpAddr) -> Result<(), FetchError> {
        (self.check)(ip).map_err(|reason| FetchError::Blocked { addr: ip, reason })
    }

    async fn fetch_hops(&self, url: &str) -> Result<FetchedFile, FetchError> {
        let mut hop = self.checked(FileUrl::parse(url)?).await?;
        let mut redirects = 0;
        loop {
            let client = connect::client(&hop, self.policy.connect_timeout, self.tls.clone());
            match transfer::get(&client, &hop.url.uri, self.policy.max_bytes).await? {
                Hop::File(file) => return Ok(file),
                Hop::Redirect(location) => {
                    if redirects >= self.policy.max_redirects {
                        return Err(FetchError::RedirectRefused { max: self.policy.max_redirects });
                    }
                    redirects += 1;
                    hop = self.checked(hop.url.join(&location)?).await?;
                }
            }
        }
    }

    /// Admits the URL, resolves its host once and checks every address.
    async fn checked(&self, url: FileUrl) -> Result<Checked, FetchError> {
        self.policy.admit(&url)?;
        let addrs = match url.ip_literal() {
            Some(ip) => vec![SocketAddr::new(ip, url.port)],
            None => self.resolver.resolve(&url.host, url.port).await.unwrap_or_default(),
        };
        if addrs.is_empty() {
            return Err(FetchError::Unresolvable { host: url.host });
        }
        for addr in &addrs {
            self.check_address(addr.ip())?;
        }
        Ok(Checked { url, addrs })
    }
}
