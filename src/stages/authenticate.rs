//! Stage 2, authenticate: a non-public route needs a relay key (401), and
//! a route whose upstream key is required but not configured refuses (403)
//! before anything is read or sent.

use super::sender::Inbound;
use crate::auth;
use crate::error::RelayError;
use crate::table::{Route, Table, UpstreamAuth, WhenKeyMissing};
use crate::telemetry::metrics::KEY_REFUSALS;

/// Admits the client to the route, or says why not.
pub fn authenticate(table: &Table, route: &Route, inbound: &Inbound<'_>) -> Result<(), RelayError> {
    let handshake = super::resolve::is_handshake(inbound.method, inbound.headers);
    if !route.public && !auth::admits(&table.client_keys, inbound.headers, handshake) {
        metrics::counter!(KEY_REFUSALS, "listener" => inbound.listener.to_owned()).increment(1);
        return Err(RelayError::unauthorized());
    }
    if let UpstreamAuth::Bearer { header: None, when_missing: WhenKeyMissing::Forbid, env } = &route.upstream.auth {
        return Err(RelayError::forbidden(
            "upstream_key_missing",
            format!("This route needs the {env} key, which the relay operator has not configured."),
        ));
    }
    Ok(())
}
