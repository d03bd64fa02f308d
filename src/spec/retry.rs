//! `retry = { ... }` as written: when an upstream failure is tried again.
//! Compiled into [`crate::policy::retry::RetryPolicy`].

use serde::Deserialize;

/// `retry = { ... }` as written. Every key is optional here so that
/// defaults merge key by key; `attempts` must be set by the route or a
/// default (compiling checks it).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    pub attempts: Option<u32>,
    /// Default `exponential`.
    pub backoff: Option<Backoff>,
    pub base: Option<String>,
    pub max: Option<String>,
    pub on_status: Option<Vec<u16>>,
    /// Default `true`.
    pub on_connect_error: Option<bool>,
    /// Default `false`.
    pub allow_post: Option<bool>,
    pub verify: Option<VerifySpec>,
}

/// `verify = { path, success_when }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    pub path: String,
    pub success_when: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    #[default]
    Exponential,
    Constant,
}
