//! `[consumer.NAME]`, `[price.MODEL]` and `[state]` as written: who may call
//! the relay with which key, what each caller may use, and where the
//! counters of their limits live. Compiled into
//! [`crate::policy::consumer`] by `crate::compile::consumers`.

use serde::Deserialize;
use toml::Spanned;

/// `[consumer.NAME]`: one caller of the relay (a team, a GPT, a developer).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    /// The consumer's relay keys; several, so a key rotates without
    /// downtime. `relay keys new NAME` prints a fresh one.
    #[schemars(with = "Vec<KeySpec>")]
    pub keys: Vec<Spanned<KeySpec>>,
    /// Accepts keys written in the file as they are (local use only).
    #[serde(default)]
    pub allow_plaintext_keys: bool,
    /// Route ids (globs such as `"*File*"`) and `"tag:NAME"` entries this
    /// consumer may call; absent: every route.
    #[schemars(with = "Option<Vec<String>>")]
    pub routes: Option<Spanned<Vec<String>>>,
    /// Models (globs on the request's `model`) this consumer may use;
    /// absent: every model.
    #[schemars(with = "Option<Vec<String>>")]
    pub models: Option<Spanned<Vec<String>>>,
    /// Requests, tokens and concurrency per window.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Spending per day or month, in tokens or in dollars.
    #[serde(default)]
    pub budget: BudgetSpec,
}

/// One key: `"sha256:<hex>"` (its digest), `"${VAR}"` (read from the
/// environment), or a table that adds an expiry.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum KeySpec {
    Text(String),
    Dated(DatedKeySpec),
}

/// `{ key = "sha256:…", expires = "2027-01-31" }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatedKeySpec {
    pub key: String,
    /// A date (`2027-01-31`, midnight UTC) or an RFC 3339 time.
    pub expires: Option<String>,
}

/// `limits = { ... }`: each a count per window, e.g. `"3/min"`, `"40k/hour"`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    #[schemars(with = "Option<String>")]
    pub requests: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub tokens: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub input_tokens: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub output_tokens: Option<Spanned<String>>,
    /// Requests (streams included) in flight at once, per replica.
    #[schemars(with = "Option<u32>")]
    pub concurrent: Option<Spanned<u32>>,
}

/// `budget = { ... }`: per `day` or `month` (UTC calendar), e.g.
/// `tokens = "2M/month"`, `usd = "25/month"` (priced by `[price.MODEL]`).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    #[schemars(with = "Option<String>")]
    pub tokens: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub usd: Option<Spanned<String>>,
}

/// `[price.MODEL]`: dollars per million tokens; `MODEL` may be a glob.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceSpec {
    pub input: f64,
    pub output: f64,
    /// Cached input tokens (default: the input price).
    pub cached_input: Option<f64>,
}

/// `[state]`: where limit counters live.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// A Redis URL shared by every replica (`${VAR}` expands; empty: in
    /// process).
    #[schemars(with = "Option<String>")]
    pub redis: Option<Spanned<String>>,
    /// What a limited request gets when Redis cannot be reached.
    #[serde(default)]
    pub when_unreachable: WhenUnreachable,
    /// Without Redis: a file the in-process counters are saved to (every
    /// few seconds and at shutdown) and read from at start, so a restart
    /// does not reset a monthly budget. `${VAR}` expands.
    #[schemars(with = "Option<String>")]
    pub file: Option<Spanned<String>>,
}

/// `when_unreachable`: serve without counting, or refuse with 503.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnreachable {
    #[default]
    FailOpen,
    FailClosed,
}
