//! CORS as spec data: which browser origins may call a listener's routes.
//!
//! Off unless a `[listener.NAME]` has `cors = {...}`; a route may replace the
//! listener's settings with its own `cors = {...}` or turn CORS off with
//! `cors = false`. With a policy in force:
//!
//! - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//!   is answered by the relay, without a relay key: 204 with the
//!   `Access-Control-Allow-*` headers when the origin and method are allowed,
//!   403 (OpenAI error shape, no CORS headers) when they are not;
//! - any other request from an allowed origin gets
//!   `Access-Control-Allow-Origin` (the origin itself, with `Vary: Origin`),
//!   `Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers` on
//!   its answer, whatever the status. Other origins get no CORS headers.
//!
//! The route of a request is the one the table matches for its path and
//! method (for a preflight: the method it asks for); a path no route serves
//! falls back to the listener's settings.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};

use crate::error::{ErrorType, RelayError};

/// One compiled `cors = {...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `None`: any origin (`"*"`).
    pub origins: Option<Vec<String>>,
    /// `None`: whatever method the preflight asks for.
    pub methods: Option<Vec<Method>>,
    /// `None`: the headers the preflight asks for; `*` is kept as written.
    pub headers: Option<Vec<String>>,
    pub expose_headers: Vec<HeaderName>,
    pub credentials: bool,
    /// Seconds a browser may cache a preflight answer.
    pub max_age: Option<u64>,
}

/// The CORS settings of a table: by listener, and the routes' own.
#[derive(Debug, Default)]
pub struct CorsTable {
    pub listeners: HashMap<String, Arc<Cors>>,
    /// By route id: `Some` for a route's own settings, `None` for `cors = false`.
    pub routes: HashMap<String, Option<Arc<Cors>>>,
}

impl CorsTable {
    /// Whether any listener or route has CORS settings.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty() && self.routes.values().all(Option::is_none)
    }

    /// The settings for a request on `listener` that matched `route` (its id),
    /// or no route.
    pub fn policy(&self, listener: &str, route: Option<&str>) -> Option<&Arc<Cors>> {
        match route.and_then(|id| self.routes.get(id)) {
            Some(own) => own.as_ref(),
            None => self.listeners.get(listener),
        }
    }
}

/// The requested method of a preflight, if the request is one.
pub fn preflight_method(method: &Method, headers: &HeaderMap) -> Option<Method> {
    if method != Method::OPTIONS || !headers.contains_key(header::ORIGIN) {
        return None;
    }
    let requested = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(requested.as_bytes()).ok()
}

impl Cors {
    fn allows_origin(&self, origin: &str) -> bool {
        self.origins.as_ref().is_none_or(|list| list.iter().any(|o| o.eq_ignore_ascii_case(origin)))
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let text = origin.to_str().ok()?;
        if !self.allows_origin(text) {
            return None;
        }
        // "*" answers "*" unless credentials need the origin named.
        Some(if self.origins.is_none() && !self.credentials { HeaderValue::from_static("*") } else { origin.clone() })
    }

    /// The answer to a preflight for `requested` from the request's origin.
    pub fn preflight(&self, headers: &HeaderMap, requested: &Method) -> HttpResponse {
        let allowed = headers.get(header::ORIGIN).and_then(|origin| self.allow_origin(origin));
        let method_ok = self.methods.as_ref().is_none_or(|list| list.contains(requested));
        let Some(allow_origin) = allowed.filter(|_| method_ok) else {
            return refused(headers, requested).response();
        };
        let mut response = HttpResponse::NoContent().finish();
        let out = response.headers_mut();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        out.append(header::VARY, HeaderValue::from_static("Origin"));
        out.append(header::VARY, HeaderValue::from_static("Access-Control-Request-Method"));
        out.append(header::VARY, HeaderValue::from_static("Access-Control-Request-Headers"));
        let methods = match &self.methods {
            Some(list) => list.iter().map(Method::as_str).collect::<Vec<_>>().join(", "),
            None => requested.as_str().to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&methods) {
            out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        let asked = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
        let allow_headers = match &self.headers {
            Some(list) => HeaderValue::from_str(&list.join(", ")).ok(),
            None => asked,
        };
        if let Some(value) = allow_headers.filter(|v| !v.is_empty()) {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if self.credentials {
            out.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(seconds) = self.max_age {
            out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(seconds));
        }
        response
    }

    /// Adds the CORS headers of an answer to a request from `origin`.
    pub fn decorate(&self, origin: &HeaderValue, out: &mut HeaderMap) {
        out.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(allow_origin) = self.allow_origin(origin) else { return };
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if !self.expose_headers.is_empty() {
            let list = self.expose_headers.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", ");
            if let Ok(value) = HeaderValue::from_str(&list) {
                out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
            }
        }
    }
}

/// 403 for a preflight whose origin or method is not allowed.
fn refused(headers: &HeaderMap, requested: &Method) -> RelayError {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("?");
    RelayError::new(
        StatusCode::FORBIDDEN,
        ErrorType::Permission,
        "cors_not_allowed",
        format!("The origin {origin} may not send {requested} requests here (CORS)."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: Option<&[&str]>, credentials: bool) -> Cors {
        Cors {
            origins: origins.map(|list| list.iter().map(|o| (*o).to_owned()).collect()),
            methods: Some(vec![Method::GET, Method::POST]),
            headers: None,
            expose_headers: vec![HeaderName::from_static("x-request-id")],
            credentials,
            max_age: Some(600),
        }
    }

    fn request(origin: &str, method: &str, headers: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        map.insert(header::ACCESS_CONTROL_REQUEST_METHOD, HeaderValue::from_str(method).unwrap());
        if let Some(h) = headers {
            map.insert(header::ACCESS_CONTROL_REQUEST_HEADERS, HeaderValue::from_str(h).unwrap());
        }
        map
    }

    #[test]
    fn an_allowed_preflight_gets_the_allow_headers() {
        let policy = cors(Some(&["https://chat.example.com"]), true);
        let head = request("https://chat.example.com", "POST", Some("authorization, content-type"));
        let response = policy.preflight(&head, &Method::POST);
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let h = response.headers();
        assert_eq!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(), "https://chat.example.com");
        assert_eq!(h.get(header::ACCESS_CONTROL_ALLOW_METHODS).unwrap(), "GET, POST");
        assert_eq!(h.get(header::ACCESS_CONTROL_ALLOW_HEADERS).unwrap(), "authorization, content-type");
        assert_eq!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).unwrap(), "true");
        assert_eq!(h.get(header::ACCESS_CONTROL_MAX_AGE).unwrap(), "600");
    }

    #[test]
    fn an_unknown_origin_or_method_is_refused_without_cors_headers() {
        let policy = cors(Some(&["https://chat.example.com"]), false);
        for (origin, method) in [("https://evil.example", "POST"), ("https://chat.example.com", "DELETE")] {
            let response =
                policy.preflight(&request(origin, method, None), &Method::from_bytes(method.as_bytes()).unwrap());
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        }
    }

    #[test]
    fn any_origin_answers_a_star_unless_credentials_need_the_name() {
        let origin = HeaderValue::from_static("https://a.example");
        let mut out = HeaderMap::new();
        cors(None, false).decorate(&origin, &mut out);
        assert_eq!(out.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(), "*");
        let mut out = HeaderMap::new();
        cors(Some(&["https://b.example"]), false).decorate(&origin, &mut out);
        assert!(out.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(out.get(header::VARY).unwrap(), "Origin");
    }
}
