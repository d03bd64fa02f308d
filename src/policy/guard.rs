//! Guards: conditions checked before a request is forwarded, which can deny
//! it with a chosen status and message.
//!
//! ```toml
//! [[route.guards]]
//! probe = { path = "/files/{file_id}" }   # optional: GET this upstream path first
//! deny_when = "probe.purpose == 'user_data'"
//! status = 403
//! message = "Files with purpose user_data cannot be downloaded through this relay."
//! ```
//!
//! `deny_when` is a minijinja expression over `params`, `query`, `headers`
//! and, with a probe, `probe` (its JSON answer). Strings are tested with
//! minijinja's tests (`x is startingwith('a')`, `'b' in x`), and a missing
//! field is undefined, never an error. The probe is sent to the
//! route's upstream with the same credentials and header policy, and its path
//! may use the route's path parameters. A probe that fails is answered
//! instead: its status and body pass through unchanged, as the request itself
//! would most likely have failed the same way.

use actix_web::http::StatusCode;

use super::condition::Condition;
use super::path_template::PathTemplate;
use crate::error::RelayError;
use crate::spec::guard::GuardSpec;
use crate::transforms::RequestParts;

/// A compiled guard.
#[derive(Debug)]
pub struct Guard {
    pub probe: Option<PathTemplate>,
    condition: Condition,
    pub status: StatusCode,
    pub message: String,
}

impl Guard {
    /// Compiles a guard; `probe` is the already parsed probe path.
    pub fn compile(spec: &GuardSpec, probe: Option<PathTemplate>) -> Result<Self, String> {
        let status = StatusCode::from_u16(spec.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .ok_or_else(|| format!("guard status {} must be a 4xx or 5xx status", spec.status))?;
        let condition = Condition::compile(&spec.deny_when, "deny_when")?;
        Ok(Guard { probe, condition, status, message: spec.message.clone() })
    }

    /// Whether the request must be denied, given the probe's answer if any.
    pub fn denies(&self, parts: &RequestParts, probe: Option<&serde_json::Value>) -> Result<bool, RelayError> {
        self.condition.holds(parts, probe)
    }

    /// The refusal, in the OpenAI error shape.
    pub fn refusal(&self) -> RelayError {
        RelayError::denied(self.status, self.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn guard(deny_when: &str) -> Guard {
        let spec = GuardSpec { probe: None, deny_when: deny_when.into(), status: 403, message: "no".into() };
        Guard::compile(&spec, None).unwrap()
    }

    #[test]
    fn conditions_read_the_request_and_the_probe() {
        let parts = RequestParts {
            params: [("file_id".to_owned(), "file-1".to_owned())].into(),
            query: Default::default(),
            headers: Default::default(),
        };
        let g = guard("probe.purpose == 'user_data'");
        assert!(g.denies(&parts, Some(&json!({"purpose": "user_data"}))).unwrap());
        assert!(!g.denies(&parts, Some(&json!({"purpose": "assistants"}))).unwrap());
        assert!(!g.denies(&parts, Some(&json!({}))).unwrap(), "a missing field does not deny");
        assert!(guard("params.file_id is startingwith('file-')").denies(&parts, None).unwrap());
        let refusal = g.refusal();
        assert_eq!(refusal.status, StatusCode::FORBIDDEN);
        assert_eq!(refusal.body()["error"]["message"], "no");
    }

    #[test]
    fn bad_guards_fail_to_compile() {
        let spec = |deny_when: &str, status| GuardSpec {
            probe: None,
            deny_when: deny_when.into(),
            status,
            message: "m".into(),
        };
        assert!(Guard::compile(&spec("probe.purpose ==", 403), None).is_err());
        assert!(Guard::compile(&spec("true", 200), None).is_err());
    }
}
