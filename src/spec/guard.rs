//! `[[route.guards]]` as written: a condition that denies a request, with
//! an optional probe of the upstream first. Compiled into
//! [`crate::policy::guard::Guard`].

use serde::Deserialize;

/// `[[route.guards]]` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardSpec {
    pub probe: Option<ProbeSpec>,
    pub deny_when: String,
    #[serde(default = "forbidden")]
    pub status: u16,
    pub message: String,
}

fn forbidden() -> u16 {
    403
}

/// `probe = { path = "..." }`: a GET to the route's upstream.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub path: String,
}
