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
use minijinja::{Environment, UndefinedBehavior};
use serde::Deserialize;

use crate::error::RelayError;
use crate::table::PathTemplate;
use crate::transforms::RequestParts;

/// `[[route.guards]]` as written.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub path: String,
}

/// A compiled guard.
pub struct Guard {
    pub probe: Option<PathTemplate>,
    condition: Environment<'static>,
    source: String,
    pub status: StatusCode,
    pub message: String,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("deny_when", &self.source).field("status", &self.status).finish()
    }
}

impl Guard {
    /// Compiles a guard; `probe` is the already parsed probe path.
    pub fn compile(spec: &GuardSpec, probe: Option<PathTemplate>) -> Result<Self, String> {
        let status = StatusCode::from_u16(spec.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .ok_or_else(|| format!("guard status {} must be a 4xx or 5xx status", spec.status))?;
        let mut condition = Environment::new();
        condition.set_undefined_behavior(UndefinedBehavior::Chainable);
        let template = format!("{{% if {} %}}deny{{% endif %}}", spec.deny_when);
        condition
            .add_template_owned("guard", template)
            .map_err(|e| format!("`deny_when` is not a valid expression: {}", e.detail().unwrap_or("syntax error")))?;
        Ok(Guard { probe, condition, source: spec.deny_when.clone(), status, message: spec.message.clone() })
    }

    /// Whether the request must be denied, given the probe's answer if any.
    pub fn denies(&self, parts: &RequestParts, probe: Option<&serde_json::Value>) -> Result<bool, RelayError> {
        #[derive(serde::Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            parts: &'a RequestParts,
            probe: Option<&'a serde_json::Value>,
        }
        let template =
            self.condition.get_template("guard").map_err(|e| RelayError::internal("guard", e.to_string()))?;
        let verdict =
            template.render(minijinja::Value::from(minijinja::value::Serde(Context { parts, probe }))).map_err(
                |e| RelayError::internal("guard_failed", format!("A guard of this route could not be evaluated: {e}.")),
            )?;
        Ok(verdict == "deny")
    }

    /// The refusal, in the OpenAI error shape.
    pub fn refusal(&self) -> RelayError {
        RelayError::denied(self.status, self.message.clone())
    }
}

/// Runs the route's guards: `Ok(None)` lets the request go on, `Ok(Some)`
/// is a failed probe's answer to relay, `Err` a refusal.
pub async fn check(
    route: &crate::table::Route,
    req: &actix_web::HttpRequest,
    params: &[&str],
    parts: &RequestParts,
    client: &awc::Client,
    request_id: &str,
) -> Result<Option<awc::ClientResponse>, RelayError> {
    for guard in &route.guards {
        let probe = match &guard.probe {
            None => None,
            Some(path) => {
                let mut url = route.upstream.base_url.clone();
                path.render_into(&mut url, params);
                let mut request = client.get(url).timeout(route.timeout).no_decompress();
                let peer = req.peer_addr().map(|addr| addr.ip());
                super::headers::upstream_headers(req.headers(), route, peer, request_id, request.headers_mut());
                request.headers_mut().remove(actix_web::http::header::CONTENT_TYPE);
                let mut response = request.send_body(actix_web::body::None::new()).await.map_err(|e| {
                    RelayError::bad_gateway(format!(
                        "The guard's probe of upstream `{}` failed: {e}.",
                        route.upstream.name
                    ))
                })?;
                if !response.status().is_success() {
                    return Ok(Some(response));
                }
                let answer = response.json::<serde_json::Value>().limit(1 << 20).await.map_err(|e| {
                    RelayError::bad_gateway(format!("The guard's probe got an answer that is not JSON: {e}."))
                })?;
                Some(answer)
            }
        };
        if guard.denies(parts, probe.as_ref())? {
            return Err(guard.refusal());
        }
    }
    Ok(None)
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
