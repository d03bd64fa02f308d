//! Stage 2, authenticate: the relay key names the consumer; a non-public
//! route needs one (401, or 401 `relay_key_expired`), and the consumer must
//! be allowed the route (403 `route_not_allowed`). A route whose upstream
//! key is required but not configured refuses (403). All before anything
//! is read or sent.

use super::sender::Inbound;
use crate::auth;
use crate::error::RelayError;
use crate::policy::consumer::Identified;
use crate::table::{Route, Table, UpstreamAuth, WhenKeyMissing};
use crate::telemetry::metrics::KEY_REFUSALS;

/// Admits the client to route `index`, or says why not. Returns the
/// consumer's index, `None` when keys are off (or a public route was called
/// without one).
pub fn authenticate(
    table: &Table,
    index: usize,
    route: &Route,
    inbound: &Inbound<'_>,
) -> Result<Option<usize>, RelayError> {
    let consumers = &table.consumers;
    let mut consumer = None;
    if consumers.is_enabled() {
        let handshake = super::resolve::is_handshake(inbound.method, inbound.headers);
        match auth::identify(consumers, inbound.headers, handshake) {
            Identified::Consumer(found) => consumer = Some(found),
            _ if route.public => {}
            refused => {
                metrics::counter!(KEY_REFUSALS, "listener" => inbound.listener.to_owned()).increment(1);
                return Err(match refused {
                    Identified::Expired => RelayError::key_expired(),
                    _ => RelayError::unauthorized(),
                });
            }
        }
    }
    if let Some(found) = consumer.map(|found| &consumers.list[found])
        && !route.public
        && !found.may_call(index)
    {
        return Err(RelayError::forbidden(
            "route_not_allowed",
            format!("Your relay key may not call {} ({}).", route.id, route.path),
        ));
    }
    if let UpstreamAuth::Bearer { header: None, when_missing: WhenKeyMissing::Forbid, env } = &route.upstream.auth {
        return Err(RelayError::forbidden(
            "upstream_key_missing",
            format!("This route needs the {env} key, which the relay operator has not configured."),
        ));
    }
    Ok(consumer)
}
