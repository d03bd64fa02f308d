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

use std::time::{Duration, SystemTime};

use actix_web::http::header::{HeaderMap, RETRY_AFTER};
use actix_web::http::{Method, StatusCode};

use super::condition::Condition;
use super::path_template::PathTemplate;
pub use crate::spec::retry::Backoff;
use crate::spec::retry::RetrySpec;
use crate::spec::units;

/// A compiled verify step.
#[derive(Debug)]
pub struct Verify {
    pub path: PathTemplate,
    pub success_when: Condition,
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
    pub fn compile(spec: &RetrySpec, verify_path: Option<PathTemplate>) -> Result<Self, String> {
        let Some(attempts) = spec.attempts else {
            return Err("`retry` needs `attempts` (1 to 10), here or in a default".into());
        };
        if !(1..=10).contains(&attempts) {
            return Err("`retry.attempts` must be between 1 and 10".into());
        }
        let duration = |value: &Option<String>, key: &str, default: Duration| -> Result<Duration, String> {
            value.as_deref().map_or(Ok(default), |v| units::duration(v).map_err(|e| format!("`retry.{key}` {e}")))
        };
        let on_status = spec.on_status.clone().unwrap_or_else(|| vec![429, 500, 502, 503, 504]);
        if let Some(bad) = on_status.iter().find(|s| !(400..=599).contains(*s)) {
            return Err(format!("`retry.on_status` holds {bad}; only 4xx and 5xx statuses can be retried"));
        }
        Ok(RetryPolicy {
            attempts,
            backoff: spec.backoff.unwrap_or_default(),
            base: duration(&spec.base, "base", Duration::from_millis(250))?,
            max: duration(&spec.max, "max", Duration::from_secs(5))?,
            on_status,
            on_connect_error: spec.on_connect_error.unwrap_or(true),
            allow_post: spec.allow_post.unwrap_or(false),
            verify: match (&spec.verify, verify_path) {
                (Some(verify), Some(path)) => Some(Verify {
                    path,
                    success_when: Condition::compile(&verify.success_when, "retry.verify.success_when")?,
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

/// `Retry-After` as a delay: seconds, or an HTTP date (RFC 9110 10.2.3); a
/// date in the past is no wait at all.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(SystemTime::now()).unwrap_or_default())
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
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, soon.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a past date");
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
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
