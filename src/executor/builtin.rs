//! The relay's own answers, served before any route: health (public),
//! the Actions health check `/v1/actions/ping` (also `/v1/actions/health`;
//! it needs a relay key like a route, so it proves the Action's key works),
//! `/relay/status` (public on loopback, otherwise it needs a relay key) and
//! the generated documents (public).

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::Worker;
use crate::error::{ErrorType, RelayError};
use crate::live::Live;
use crate::policy::consumer::Identified;

/// Whether the relay answers this request itself, before any route.
pub fn is_own(method: &Method, path: &str) -> bool {
    let fixed = [
        "/",
        "/health",
        "/v1/health",
        "/v1/actions/ping",
        "/v1/actions/health",
        "/relay/status",
        "/openapi.json",
        "/openapi.actions.json",
    ];
    let actions_set = path.strip_prefix("/openapi.actions/").is_some_and(|rest| rest.ends_with(".json"));
    *method == Method::GET && (fixed.contains(&path) || matches!(path, "/manifest" | "/v1/manifest") || actions_set)
}

/// The relay's own answer to this request, if it has one.
pub fn answer(req: &HttpRequest, live: &Live, worker: &Worker) -> Result<Option<HttpResponse>, RelayError> {
    if !is_own(req.method(), req.path()) {
        return Ok(None);
    }
    let table = &live.table;
    if let Some(document) = documents(req.path(), &live.documents)? {
        return Ok(Some(HttpResponse::Ok().content_type("application/json").body(document)));
    }
    let body = match req.path() {
        "/" | "/health" | "/v1/health" => serde_json::json!({"status": "ok", "routes": table.routes.len()}),
        "/v1/actions/ping" | "/v1/actions/health" if !table.consumers.is_enabled() || keyed(table, req) => {
            serde_json::json!({"status": "ok"})
        }
        "/v1/actions/ping" | "/v1/actions/health" => return Err(RelayError::unauthorized()),
        "/relay/status" => {
            let loopback = req.peer_addr().is_some_and(|peer| peer.ip().is_loopback());
            if !(loopback || table.consumers.is_enabled() && keyed(table, req)) {
                return Err(RelayError::unauthorized());
            }
            let mut status = match worker.reloader.as_deref() {
                Some(reloader) => reloader.state().to_json(table.routes.len()),
                None => serde_json::json!({"version": table.version, "routes": table.routes.len(), "reload": "off"}),
            };
            if let (Some(log), Some(fields)) = (&worker.log, status.as_object_mut()) {
                fields.insert("traffic_log".to_owned(), log.status());
            }
            status
        }
        _ => return Ok(None),
    };
    Ok(Some(HttpResponse::Ok().content_type("application/json").body(body.to_string())))
}

/// `/openapi.json`, `/openapi.actions.json`, `/openapi.actions/{set}.json`
/// (404 for an unknown set) and `/manifest` (also `/v1/manifest`).
fn documents(path: &str, docs: &crate::openapi::Documents) -> Result<Option<bytes::Bytes>, RelayError> {
    let unknown = |set: &str| {
        RelayError::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest,
            "unknown_actions_set",
            format!("No Actions set named {set:?}; /manifest lists them."),
        )
    };
    Ok(Some(match path {
        "/openapi.json" => docs.full.clone(),
        "/manifest" | "/v1/manifest" => docs.manifest.clone(),
        "/openapi.actions.json" => docs.default_actions.clone().ok_or_else(|| unknown(crate::openapi::DEFAULT_SET))?,
        _ => match path.strip_prefix("/openapi.actions/").and_then(|rest| rest.strip_suffix(".json")) {
            Some(set) => docs.actions_set(set).cloned().ok_or_else(|| unknown(set))?,
            None => return Ok(None),
        },
    }))
}

/// Whether the request carries a key of any consumer.
fn keyed(table: &crate::table::Table, req: &HttpRequest) -> bool {
    matches!(crate::auth::identify(&table.consumers, req.headers(), false), Identified::Consumer(_))
}
