//! The first handler of every request, around the executor: `/ready`, the
//! listener's CORS (preflights answered here, headers added to answers),
//! and event streams that must end at the drain deadline.

use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::http::Method;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::cors::{Cors, preflight_method};
use crate::drain::{Drain, SseUntilDeadline, is_sse};
use crate::executor::{self, Worker};

/// Serves one request.
pub async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    worker: web::Data<Worker>,
    drain: web::Data<Drain>,
) -> HttpResponse {
    if req.path() == "/ready" && matches!(*req.method(), Method::GET | Method::HEAD) {
        return drain.ready_response();
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut policy = None;
    if origin.is_some() {
        if let Some(requested) = preflight_method(req.method(), req.headers()) {
            if let Some(cors) = cors_policy(&req, &worker, &requested) {
                return cors.preflight(req.headers(), &requested);
            }
        } else {
            policy = cors_policy(&req, &worker, req.method());
        }
    }
    let mut response = executor::handle(req, payload, worker).await;
    if let (Some(origin), Some(cors)) = (origin, policy) {
        cors.decorate(&origin, response.headers_mut());
    }
    if is_sse(response.headers()) {
        response = response.map_body(|_, body| BoxBody::new(SseUntilDeadline::new(body, &drain)));
    }
    response
}

/// The CORS settings for `method` on the request's path: the matched
/// route's own, else the listener's; none when the table has no CORS at all.
fn cors_policy(req: &HttpRequest, worker: &Worker, method: &Method) -> Option<Arc<Cors>> {
    let live = worker.live.load();
    let table = &live.table;
    if table.cors.is_empty() {
        return None;
    }
    let handshake = crate::stages::resolve::is_handshake(method, req.headers());
    let route = table.resolve_handshake(&worker.listener, method, req.path(), None, handshake).ok();
    let id = route.map(|resolved| table.routes[resolved.route].id.as_str());
    table.cors.policy(&worker.listener, id).cloned()
}
