//! Probes and conditions, shared by guards and the retry verify step.
//!
//! A probe is a GET to the route's upstream, sent with the same credentials
//! and header policy as the request itself, whose path may use the route's
//! path parameters. A condition is a minijinja expression compiled when the
//! table is built and evaluated over the request parts and a probe's answer.

use actix_web::HttpRequest;
use minijinja::{Environment, UndefinedBehavior};

use crate::error::RelayError;
use crate::table::{PathTemplate, Route};
use crate::transforms::RequestParts;

/// A compiled boolean expression.
pub struct Condition {
    env: Environment<'static>,
    pub source: String,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl Condition {
    /// Compiles `source`; missing fields are undefined (false), not errors.
    pub fn compile(source: &str, key: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.add_template_owned("condition", format!("{{% if {source} %}}yes{{% endif %}}"))
            .map_err(|e| format!("`{key}` is not a valid expression: {}", e.detail().unwrap_or("syntax error")))?;
        Ok(Condition { env, source: source.to_owned() })
    }

    /// Evaluates over `params`, `query`, `headers` and `probe`.
    pub fn holds(&self, parts: &RequestParts, probe: Option<&serde_json::Value>) -> Result<bool, RelayError> {
        #[derive(serde::Serialize)]
        struct Context<'a> {
            #[serde(flatten)]
            parts: &'a RequestParts,
            probe: Option<&'a serde_json::Value>,
        }
        let template =
            self.env.get_template("condition").map_err(|e| RelayError::internal("condition", e.to_string()))?;
        let context = minijinja::Value::from(minijinja::value::Serde(Context { parts, probe }));
        let verdict = template.render(context).map_err(|e| {
            RelayError::internal("condition_failed", format!("A condition of this route could not be evaluated: {e}."))
        })?;
        Ok(verdict == "yes")
    }
}

/// The outcome of a probe: its JSON answer, or the upstream's failure.
pub enum Probed {
    Json(serde_json::Value),
    Failed(awc::ClientResponse),
}

/// Sends a probe to `path` on the route's upstream.
pub async fn send(
    route: &Route,
    req: &HttpRequest,
    path: &PathTemplate,
    params: &[&str],
    client: &awc::Client,
    request_id: &str,
) -> Result<Probed, RelayError> {
    let mut url = route.upstream.base_url.clone();
    path.render_into(&mut url, params);
    let mut request = client.get(url).timeout(route.timeout).no_decompress();
    let peer = req.peer_addr().map(|addr| addr.ip());
    super::headers::upstream_headers(req.headers(), route, peer, request_id, request.headers_mut());
    request.headers_mut().remove(actix_web::http::header::CONTENT_TYPE);
    let mut response = request
        .send_body(actix_web::body::None::new())
        .await
        .map_err(|e| RelayError::bad_gateway(format!("A probe of upstream `{}` failed: {e}.", route.upstream.name)))?;
    if !response.status().is_success() {
        return Ok(Probed::Failed(response));
    }
    let answer = response
        .json::<serde_json::Value>()
        .limit(1 << 20)
        .await
        .map_err(|e| RelayError::bad_gateway(format!("A probe got an answer that is not JSON: {e}.")))?;
    Ok(Probed::Json(answer))
}
