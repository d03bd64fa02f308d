//! Stage 4b: routes with `[route.models]` (see [`crate::model_list`]).
//!
//! A list route answers here, from the file, the upstream or the built-in
//! list; a route with a `{model}` parameter answers 404 for a hidden model
//! and otherwise goes on to be forwarded as usual.

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest, HttpResponse};

use super::probe::{self, Probed};
use crate::error::RelayError;
use crate::model_list::{ModelList, builtin_models, models_of};
use crate::table::Table;

/// The answer of a model route, or `None` to forward the request.
pub async fn answer(
    table: &Arc<Table>,
    route_index: usize,
    list: &ModelList,
    req: &HttpRequest,
    params: &[&str],
    client: &awc::Client,
    request_id: &str,
) -> Result<Option<HttpResponse>, RelayError> {
    let route = &table.routes[route_index];
    if let Some(model) = params.first() {
        return match list.filter.shows(model) {
            true => Ok(None),
            false => Err(RelayError::model_not_found(model)),
        };
    }
    if let Some(local) = &list.local {
        tracing::info!(request_id, route = route.id, file = local.file, "model list served from the local file");
        return Ok(Some(json(list.list_body(&local.models))));
    }
    let reason = match probe::send(route, req, &route.upstream_path, params, client, request_id).await {
        Ok(Probed::Json(answer)) => match models_of(answer) {
            Some(models) => {
                tracing::info!(request_id, route = route.id, "model list served from the upstream, filtered");
                return Ok(Some(json(list.list_body(&models))));
            }
            None => "the upstream answer is not a model list".to_owned(),
        },
        Ok(Probed::Failed(mut failed)) if failed.status().is_client_error() => {
            let body = failed.take_payload();
            let (status, headers) = (failed.status(), failed.headers());
            return Ok(Some(
                super::response::relay_response(table.clone(), route_index, status, headers, body, None, None).await,
            ));
        }
        Ok(Probed::Failed(failed)) => format!("the upstream answered {}", failed.status()),
        Err(error) => error.message,
    };
    tracing::warn!(request_id, route = route.id, "model list served from the built-in list: {reason}");
    Ok(Some(json(list.list_body(&builtin_models()))))
}

fn json(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body.to_string())
}
