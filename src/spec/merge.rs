//! How defaults combine with what a route says.
//!
//! Three layers, lowest first: the directory's `_defaults.toml`, the file's
//! `[defaults]`, the route's own keys. A higher layer wins key by key:
//! - a table-valued key (`headers`, `response_headers`, `body`, `retry`)
//!   merges one level down: each of its keys is taken from the highest layer
//!   that sets it; the header maps `headers.set`, `headers.default` and
//!   `response_headers.set` merge per header name (case-insensitive);
//! - a scalar or a list (`upstream`, `timeout`, `tags`, `listeners`,
//!   `headers.remove`, `body.accept`, `retry.on_status`...) replaces the
//!   lower layer's value whole.
//!
//! A route drops a header a default sets by setting it to `""` (a header
//! whose value is empty is not sent).

use std::collections::BTreeMap;

use toml::Spanned;

use super::retry::RetrySpec;
use super::{BodySpec, HeaderPolicySpec, ResponseHeaderSpec, RouteDefaults};

/// A value that can lie over a lower layer's value of the same key.
pub trait Merge: Clone {
    /// `self` over `lower`: what `self` sets wins.
    fn over(&self, lower: &Self) -> Self;
}

/// The value of one key after merging `upper` over `lower`.
pub fn merged<T: Merge>(upper: Option<&T>, lower: Option<&T>) -> Option<T> {
    match (upper, lower) {
        (Some(upper), Some(lower)) => Some(upper.over(lower)),
        (Some(one), None) | (None, Some(one)) => Some(one.clone()),
        (None, None) => None,
    }
}

/// Header maps: per name, case-insensitive; the upper spelling is kept.
fn headers_over(
    upper: &BTreeMap<String, Spanned<String>>,
    lower: &BTreeMap<String, Spanned<String>>,
) -> BTreeMap<String, Spanned<String>> {
    let mut out: BTreeMap<String, Spanned<String>> = lower
        .iter()
        .filter(|(name, _)| !upper.keys().any(|own| own.eq_ignore_ascii_case(name)))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    out.extend(upper.iter().map(|(name, value)| (name.clone(), value.clone())));
    out
}

impl Merge for HeaderPolicySpec {
    fn over(&self, lower: &Self) -> Self {
        HeaderPolicySpec {
            pass: self.pass.clone().or_else(|| lower.pass.clone()),
            remove: self.remove.clone().or_else(|| lower.remove.clone()),
            set: headers_over(&self.set, &lower.set),
            default: headers_over(&self.default, &lower.default),
        }
    }
}

impl Merge for ResponseHeaderSpec {
    fn over(&self, lower: &Self) -> Self {
        ResponseHeaderSpec {
            remove: self.remove.clone().or_else(|| lower.remove.clone()),
            set: headers_over(&self.set, &lower.set),
        }
    }
}

impl Merge for BodySpec {
    fn over(&self, lower: &Self) -> Self {
        BodySpec {
            accept: self.accept.clone().or_else(|| lower.accept.clone()),
            max: self.max.clone().or_else(|| lower.max.clone()),
            idle_timeout: self.idle_timeout.clone().or_else(|| lower.idle_timeout.clone()),
            max_response: self.max_response.clone().or_else(|| lower.max_response.clone()),
        }
    }
}

/// Located where the upper layer writes it.
impl Merge for Spanned<RetrySpec> {
    fn over(&self, lower: &Self) -> Self {
        let (upper, low) = (self.get_ref(), lower.get_ref());
        let retry = RetrySpec {
            attempts: upper.attempts.or(low.attempts),
            backoff: upper.backoff.or(low.backoff),
            base: upper.base.clone().or_else(|| low.base.clone()),
            max: upper.max.clone().or_else(|| low.max.clone()),
            on_status: upper.on_status.clone().or_else(|| low.on_status.clone()),
            on_connect_error: upper.on_connect_error.or(low.on_connect_error),
            allow_post: upper.allow_post.or(low.allow_post),
            verify: upper.verify.clone().or_else(|| low.verify.clone()),
        };
        Spanned::new(self.span(), retry)
    }
}

impl Merge for RouteDefaults {
    fn over(&self, lower: &Self) -> Self {
        RouteDefaults {
            upstream: self.upstream.clone().or_else(|| lower.upstream.clone()),
            timeout: self.timeout.clone().or_else(|| lower.timeout.clone()),
            idle_timeout: self.idle_timeout.clone().or_else(|| lower.idle_timeout.clone()),
            public: self.public.or(lower.public),
            tags: self.tags.clone().or_else(|| lower.tags.clone()),
            headers: merged(self.headers.as_ref(), lower.headers.as_ref()),
            response_headers: merged(self.response_headers.as_ref(), lower.response_headers.as_ref()),
            body: merged(self.body.as_ref(), lower.body.as_ref()),
            retry: merged(self.retry.as_ref(), lower.retry.as_ref()),
            listeners: self.listeners.clone().or_else(|| lower.listeners.clone()),
        }
    }
}

impl RouteDefaults {
    /// The same values, every location moved to `at`: for defaults written
    /// in another file (`_defaults.toml`), so that an error a route's use of
    /// them causes points at the route, not at an offset of another file.
    pub fn located_at(&self, at: usize) -> RouteDefaults {
        let here = |value: &Spanned<String>| Spanned::new(at..at, value.get_ref().clone());
        let map = |m: &BTreeMap<String, Spanned<String>>| m.iter().map(|(k, v)| (k.clone(), here(v))).collect();
        RouteDefaults {
            upstream: self.upstream.as_ref().map(here),
            timeout: self.timeout.as_ref().map(here),
            idle_timeout: self.idle_timeout.as_ref().map(here),
            public: self.public,
            tags: self.tags.clone(),
            headers: self.headers.as_ref().map(|h| HeaderPolicySpec {
                pass: h.pass.clone(),
                remove: h.remove.clone(),
                set: map(&h.set),
                default: map(&h.default),
            }),
            response_headers: self
                .response_headers
                .as_ref()
                .map(|r| ResponseHeaderSpec { remove: r.remove.clone(), set: map(&r.set) }),
            body: self.body.as_ref().map(|b| BodySpec {
                accept: b.accept.clone(),
                max: b.max.as_ref().map(here),
                idle_timeout: b.idle_timeout.as_ref().map(here),
                max_response: b.max_response.as_ref().map(here),
            }),
            retry: self.retry.as_ref().map(|r| Spanned::new(at..at, r.get_ref().clone())),
            listeners: self.listeners.as_ref().map(|l| Spanned::new(at..at, l.get_ref().clone())),
        }
    }
}
