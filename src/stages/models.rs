//! Stage 2b, answer a model list: routes with `[route.models]` (see
//! [`crate::model_list`]).
//!
//! A list route answers here, from the file, the upstream or the built-in
//! list, filtered by its rules and by the models of the consumer asking; a route with a `{model}` parameter answers 404 for a hidden model
//! and otherwise goes on to be forwarded as usual. An upstream 4xx passes
//! through unchanged.

use super::guard;
use super::sender::{Inbound, Outcome, Probed, Sender};
use crate::error::RelayError;
use crate::model_list::{ModelList, builtin_models, models_of};
use crate::policy::consumer::Consumer;
use crate::table::Route;

/// The answer of a model route, or `None` to forward the request.
pub async fn answer<S: Sender>(
    route_index: usize,
    route: &Route,
    list: &ModelList,
    inbound: &Inbound<'_>,
    params: &[&str],
    sender: &S,
    consumer: Option<&Consumer>,
) -> Result<Option<Outcome<S::Answer>>, RelayError> {
    let request_id = inbound.request_id;
    let consumer = consumer.filter(|consumer| consumer.needs_model());
    if !list.has_rules() && consumer.is_none() {
        return Ok(None);
    }
    let allowed = |id: &str| consumer.is_none_or(|consumer| consumer.may_use(id));
    if let Some(model) = params.first() {
        return match list.filter.shows(model) {
            true => Ok(None),
            false => Err(RelayError::model_not_found(model)),
        };
    }
    if let Some(local) = &list.local {
        tracing::info!(request_id, route = route.id, file = local.file, "model list served from the local file");
        return Ok(Some(Outcome::Local(list.list_body(&local.models, allowed))));
    }
    let reason = match guard::probe(route, inbound, &route.upstream_path, params, sender).await {
        Ok(Probed::Json(answer)) => match models_of(answer) {
            Some(models) => {
                tracing::info!(request_id, route = route.id, "model list served from the upstream, filtered");
                return Ok(Some(Outcome::Local(list.list_body(&models, allowed))));
            }
            None => "the upstream answer is not a model list".to_owned(),
        },
        Ok(Probed::Failed(failed)) if S::head(&failed).0.is_client_error() => {
            return Ok(Some(Outcome::Upstream { route: route_index, answer: failed, translate: None }));
        }
        Ok(Probed::Failed(failed)) => format!("the upstream answered {}", S::head(&failed).0),
        Ok(Probed::NotSent) => "the upstream was not asked (dry run)".to_owned(),
        Err(error) => error.message,
    };
    tracing::warn!(request_id, route = route.id, "model list served from the built-in list: {reason}");
    Ok(Some(Outcome::Local(list.list_body(&builtin_models(), allowed))))
}
