//! Host name resolution, behind a trait so tests can script the answers.
//!
//! The fetcher resolves each host exactly once per hop, checks every answer
//! and connects only to those checked addresses; it never asks again.

use std::io;
use std::net::SocketAddr;

use futures_util::future::BoxFuture;

/// Resolves a host name to socket addresses.
///
/// A boxed future keeps the trait usable as `Arc<dyn Resolve>`.
pub trait Resolve: Send + Sync {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`, through
/// `tokio::net::lookup_host`). It also maps numeric spellings such as
/// `127.1` or `2130706433`, which is why the answers, not the names, are
/// checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}
