//! `retry = { ... }` as written: when an upstream failure is tried again.
//! Compiled into [`crate::policy::retry::RetryPolicy`].

use serde::Deserialize;

/// `retry = { ... }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    pub attempts: u32,
    #[serde(default)]
    pub backoff: Backoff,
    pub base: Option<String>,
    pub max: Option<String>,
    pub on_status: Option<Vec<u16>>,
    #[serde(default = "yes")]
    pub on_connect_error: bool,
    #[serde(default)]
    pub allow_post: bool,
    pub verify: Option<VerifySpec>,
}

/// `verify = { path, success_when }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    pub path: String,
    pub success_when: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    #[default]
    Exponential,
    Constant,
}
