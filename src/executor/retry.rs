//! The retry policy of a route: when an upstream failure is tried again.
//!
//! ```toml
//! [route.retry]
//! attempts = 3               # in all, the first included
//! backoff = "exponential"    # or "constant"
//! base = "250ms"             # first delay (doubling when exponential)
//! max = "5s"                 # longest delay; a longer Retry-After is not waited for
//! on_status = [429, 500, 502, 503, 504]
//! on_connect_error = true    # connection refused or reset, connect timeout
//! allow_post = false         # POST and PATCH are retried only when true
//! verify = { path = "/uploads/{upload_id}", success_when = "probe.status == 'completed'" }
//! ```
//!
//! `verify` runs once after the last failed attempt: a GET of `path` on the
//! upstream (it may use the route's path parameters). When its JSON answer
//! satisfies `success_when`, that answer is returned with 200: the operation
//! did succeed even though its own response was lost.
//!
//! A retry happens only before anything has been sent to the client, and
//! only when the request body can be sent again: no body, a body the relay
//! already holds (a transformed JSON body), or a JSON body of at most 1 MiB
//! that the relay reads first for this purpose. Streamed uploads are sent once.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
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

/// A compiled verify step.
#[derive(Debug)]
pub struct Verify {
    pub path: crate::table::PathTemplate,
    pub success_when: super::probe::Condition,
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

/// The largest request body read into memory so that it can be replayed.
pub const MAX_REPLAY_BODY: u64 = 1024 * 1024;

/// A compiled retry policy.
#[derive(Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff: Backoff,
    pub base: Duration,
    pub max: Duration,
    pub on_status: Vec<u16>,
    pub on_connect_error: bool,
    pub allow_post: bool,
    pub verify: Option<Verify>,
}

/// What went wrong with one attempt.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// The upstream answered with this status (and maybe `Retry-After`).
    Status(StatusCode, Option<Duration>),
    /// The connection could not be made.
    Connect,
    /// Anything else (timeout after sending, broken response): not retried.
    Other,
}

impl RetryPolicy {
    /// Compiles a policy; `verify_path` is the parsed `verify.path`.
    pub fn compile(spec: &RetrySpec, verify_path: Option<crate::table::PathTemplate>) -> Result<Self, String> {
        if !(1..=10).contains(&spec.attempts) {
            return Err("`retry.attempts` must be between 1 and 10".into());
        }
        let duration = |value: &Option<String>, key: &str, default: Duration| -> Result<Duration, String> {
            value.as_deref().map_or(Ok(default), |v| {
                humantime::parse_duration(v.trim()).map_err(|e| format!("`retry.{key}` is not a duration: {e}"))
            })
        };
        let on_status = spec.on_status.clone().unwrap_or_else(|| vec![429, 500, 502, 503, 504]);
        if let Some(bad) = on_status.iter().find(|s| !(400..=599).contains(*s)) {
            return Err(format!("`retry.on_status` holds {bad}; only 4xx and 5xx statuses can be retried"));
        }
        Ok(RetryPolicy {
            attempts: spec.attempts,
            backoff: spec.backoff,
            base: duration(&spec.base, "base", Duration::from_millis(250))?,
            max: duration(&spec.max, "max", Duration::from_secs(5))?,
            on_status,
            on_connect_error: spec.on_connect_error,
            allow_post: spec.allow_post,
            verify: match (&spec.verify, verify_path) {
                (Some(verify), Some(path)) => Some(Verify {
                    path,
                    success_when: super::probe::Condition::compile(&verify.success_when, "retry.verify.success_when")?,
                }),
                _ => None,
            },
        })
    }

    /// Whether requests with this method may be retried at all.
    pub fn allows(&self, method: &Method) -> bool {
        !(*method == Method::POST || *method == Method::PATCH) || self.allow_post
    }

    /// How long to wait before attempt `attempt + 1`, or `None` to stop.
    pub fn next_delay(&self, attempt: u32, failure: Failure) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let retry_after = match failure {
            Failure::Status(status, retry_after) if self.on_status.contains(&status.as_u16()) => retry_after,
            Failure::Connect if self.on_connect_error => None,
            _ => return None,
        };
        let backoff = match self.backoff {
            Backoff::Constant => self.base,
            Backoff::Exponential => self.base.saturating_mul(1 << (attempt - 1).min(16)),
        };
        match retry_after {
            Some(wait) if wait > self.max => None,
            Some(wait) => Some(wait.max(backoff).min(self.max)),
            None => Some(backoff.min(self.max)),
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not retried on).
pub fn retry_after(headers: &actix_web::http::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(actix_web::http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> RetryPolicy {
        RetryPolicy::compile(&toml::from_str(text).unwrap(), None).unwrap()
    }

    #[test]
    fn exponential_backoff_capped_by_max() {
        let p = policy("attempts = 5\nbase = \"100ms\"\nmax = \"300ms\"");
        let fail = Failure::Status(StatusCode::BAD_GATEWAY, None);
        let delays: Vec<_> = (1..=5).map(|a| p.next_delay(a, fail)).collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(delays, [ms(100), ms(200), ms(300), ms(300), None]);
    }

    #[test]
    fn only_listed_statuses_and_connect_errors_retry() {
        let p = policy("attempts = 3\nbackoff = \"constant\"\non_status = [503]");
        assert!(p.next_delay(1, Failure::Status(StatusCode::SERVICE_UNAVAILABLE, None)).is_some());
        assert!(p.next_delay(1, Failure::Status(StatusCode::INTERNAL_SERVER_ERROR, None)).is_none());
        assert!(p.next_delay(1, Failure::Connect).is_some());
        assert!(p.next_delay(1, Failure::Other).is_none());
        let p = policy("attempts = 3\non_connect_error = false");
        assert!(p.next_delay(1, Failure::Connect).is_none());
    }

    #[test]
    fn retry_after_is_honoured_or_ends_the_retries() {
        let p = policy("attempts = 3\nbase = \"10ms\"\nmax = \"2s\"");
        let wait = |s| Failure::Status(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(s)));
        assert_eq!(p.next_delay(1, wait(1)), Some(Duration::from_secs(1)));
        assert_eq!(p.next_delay(1, wait(30)), None, "a longer wait than max is not waited for");
    }

    #[test]
    fn post_needs_opting_in_and_bad_specs_fail() {
        assert!(!policy("attempts = 2").allows(&Method::POST));
        assert!(policy("attempts = 2").allows(&Method::GET));
        assert!(policy("attempts = 2\nallow_post = true").allows(&Method::POST));
        for bad in ["attempts = 0", "attempts = 2\nbase = \"soon\"", "attempts = 2\non_status = [200]"] {
            assert!(RetryPolicy::compile(&toml::from_str(bad).unwrap(), None).is_err(), "{bad}");
        }
    }
}
