//! Where a route's effective values come from: for each key a route does
//! not set itself, the defaults layer that supplies it (see [`super::merge`]).
//! `relay routes --sources` and `relay explain --sources` print it.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{RouteDefaults, RouteSpec};

/// The defaults layer a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The `[defaults]` of the route's own file.
    File,
    /// The `_defaults.toml` of the route's directory.
    Directory,
}

/// The keys (dotted, e.g. `body.max`, `headers.default.OpenAI-Beta`) whose
/// value a default supplies, with the layer, in a fixed order.
pub fn defaulted(route: &RouteSpec, file: &RouteDefaults, dir: Option<&RouteDefaults>) -> Vec<(String, Layer)> {
    let empty = RouteDefaults::default();
    let dir = dir.unwrap_or(&empty);
    let mut out = Vec::new();
    let mut pick = |key: String, own: bool, in_file: bool, in_dir: bool| {
        if own {
            return;
        }
        if in_file {
            out.push((key, Layer::File));
        } else if in_dir {
            out.push((key, Layer::Directory));
        }
    };
    pick("upstream".into(), route.upstream.is_some(), file.upstream.is_some(), dir.upstream.is_some());
    pick("timeout".into(), route.timeout.is_some(), file.timeout.is_some(), dir.timeout.is_some());
    let idle = (route.idle_timeout.is_some(), file.idle_timeout.is_some(), dir.idle_timeout.is_some());
    pick("idle_timeout".into(), idle.0, idle.1, idle.2);
    pick("public".into(), route.public.is_some(), file.public.is_some(), dir.public.is_some());
    pick("tags".into(), route.tags.is_some(), file.tags.is_some(), dir.tags.is_some());
    pick("listeners".into(), route.listeners.is_some(), file.listeners.is_some(), dir.listeners.is_some());

    let (rh, fh, dh) = (route.headers.as_ref(), file.headers.as_ref(), dir.headers.as_ref());
    pick(
        "headers.pass".into(),
        has(rh, |h| h.pass.is_some()),
        has(fh, |h| h.pass.is_some()),
        has(dh, |h| h.pass.is_some()),
    );
    let remove = |h: &super::HeaderPolicySpec| h.remove.is_some();
    pick("headers.remove".into(), has(rh, remove), has(fh, remove), has(dh, remove));
    let maps: [(&str, HeaderMapOf); 2] = [("set", set_of), ("default", default_of)];
    for (map, get) in maps {
        for name in names([fh.map(get), dh.map(get)]) {
            let key = format!("headers.{map}.{name}");
            pick(key, named(rh.map(get), &name), named(fh.map(get), &name), named(dh.map(get), &name));
        }
    }
    let (rr, fr, dr) = (route.response_headers.as_ref(), file.response_headers.as_ref(), dir.response_headers.as_ref());
    let remove = |h: &super::ResponseHeaderSpec| h.remove.is_some();
    pick("response_headers.remove".into(), has(rr, remove), has(fr, remove), has(dr, remove));
    for name in names([fr.map(|r| &r.set), dr.map(|r| &r.set)]) {
        let (own, f, d) =
            (named(rr.map(|r| &r.set), &name), named(fr.map(|r| &r.set), &name), named(dr.map(|r| &r.set), &name));
        pick(format!("response_headers.set.{name}"), own, f, d);
    }

    let (rb, fb, db) = (route.body.as_ref(), file.body.as_ref(), dir.body.as_ref());
    pick(
        "body.accept".into(),
        has(rb, |b| b.accept.is_some()),
        has(fb, |b| b.accept.is_some()),
        has(db, |b| b.accept.is_some()),
    );
    pick("body.max".into(), has(rb, |b| b.max.is_some()), has(fb, |b| b.max.is_some()), has(db, |b| b.max.is_some()));
    let idle = |b: &super::BodySpec| b.idle_timeout.is_some();
    pick("body.idle_timeout".into(), has(rb, idle), has(fb, idle), has(db, idle));
    let max_response = |b: &super::BodySpec| b.max_response.is_some();
    pick("body.max_response".into(), has(rb, max_response), has(fb, max_response), has(db, max_response));

    let retry = |r: Option<&Spanned<super::retry::RetrySpec>>| r.map(|r| r.get_ref().clone()).unwrap_or_default();
    let (rr, fr, dr) = (retry(route.retry.as_ref()), retry(file.retry.as_ref()), retry(dir.retry.as_ref()));
    let retry_keys: [(&str, RetryKeySet); 8] = [
        ("attempts", |r| r.attempts.is_some()),
        ("backoff", |r| r.backoff.is_some()),
        ("base", |r| r.base.is_some()),
        ("max", |r| r.max.is_some()),
        ("on_status", |r| r.on_status.is_some()),
        ("on_connect_error", |r| r.on_connect_error.is_some()),
        ("allow_post", |r| r.allow_post.is_some()),
        ("verify", |r| r.verify.is_some()),
    ];
    for (key, set) in retry_keys {
        pick(format!("retry.{key}"), set(&rr), set(&fr), set(&dr));
    }
    out
}

type HeaderMap = BTreeMap<String, Spanned<String>>;
/// One of the header maps of a header policy.
type HeaderMapOf = fn(&super::HeaderPolicySpec) -> &HeaderMap;
/// Whether a retry spec sets one key.
type RetryKeySet = fn(&super::retry::RetrySpec) -> bool;

fn set_of(h: &super::HeaderPolicySpec) -> &HeaderMap {
    &h.set
}

fn default_of(h: &super::HeaderPolicySpec) -> &HeaderMap {
    &h.default
}

fn has<T>(value: Option<&T>, test: impl Fn(&T) -> bool) -> bool {
    value.is_some_and(test)
}

/// Whether a header map sets `name` (case-insensitive).
fn named(map: Option<&HeaderMap>, name: &str) -> bool {
    map.is_some_and(|map| map.keys().any(|key| key.eq_ignore_ascii_case(name)))
}

/// The header names the defaults set, each once (the file's spelling first).
fn names(maps: [Option<&HeaderMap>; 2]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in maps.into_iter().flatten().flat_map(|map| map.keys()) {
        if !out.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
            out.push(name.clone());
        }
    }
    out
}
