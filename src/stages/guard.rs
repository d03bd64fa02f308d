//! Stage 4, guard: the route's guards may deny the request (after a probe
//! of the upstream), before any transform fetches or rewrites anything.
//!
//! A probe is a GET to the route's upstream with the same credentials and
//! header policy as the request, its path rendered with the route's path
//! parameters. A probe the upstream fails is answered instead: its status
//! and body pass through unchanged, as the request itself would most likely
//! have failed the same way. A dry run sends no probe; a guard that needs
//! one is then not evaluated (the recording sender notes the probe).

use actix_web::http::header::{self, HeaderMap};

use super::headers;
use super::sender::{Inbound, Probed, Sender};
use crate::error::RelayError;
use crate::policy::path_template::PathTemplate;
use crate::table::Route;
use crate::telemetry::metrics::GUARD_DENIALS;
use crate::transforms::RequestParts;

/// The guards' verdict.
pub enum Verdict<A> {
    /// Go on.
    Pass,
    /// A probe failed upstream: relay its answer.
    ProbeFailed(A),
}

/// Runs the route's guards in order; `Err` is a refusal.
pub async fn guard<S: Sender>(
    route: &Route,
    inbound: &Inbound<'_>,
    params: &[&str],
    parts: &RequestParts,
    sender: &S,
) -> Result<Verdict<S::Answer>, RelayError> {
    for guard in &route.guards {
        let probe = match &guard.probe {
            None => None,
            Some(path) => match probe(route, inbound, path, params, sender).await? {
                Probed::Json(answer) => Some(answer),
                Probed::Failed(answer) => return Ok(Verdict::ProbeFailed(answer)),
                Probed::NotSent => continue,
            },
        };
        if guard.denies(parts, probe.as_ref())? {
            metrics::counter!(GUARD_DENIALS, "route" => route.id.clone()).increment(1);
            return Err(guard.refusal());
        }
    }
    Ok(Verdict::Pass)
}

/// Sends a probe of `path` (rendered with `params`) to the route's upstream.
pub async fn probe<S: Sender>(
    route: &Route,
    inbound: &Inbound<'_>,
    path: &PathTemplate,
    params: &[&str],
    sender: &S,
) -> Result<Probed<S::Answer>, RelayError> {
    let mut url = route.upstream.base_url.clone();
    path.render_into(&mut url, params);
    let mut probe_headers = HeaderMap::new();
    headers::upstream_headers(inbound.headers, route, inbound.peer, inbound.request_id, &mut probe_headers);
    probe_headers.remove(header::CONTENT_TYPE);
    sender.probe(route, url, probe_headers).await
}
