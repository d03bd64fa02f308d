//! Compiling one `[[route]]` with its file's `[defaults]` and its
//! directory's `_defaults.toml`, merged (see [`crate::spec::merge`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::http::Method;
use toml::Spanned;

use super::{examples, path, policies, values, websocket};
use crate::diagnostics::{Source, SpecError, nearest};
use crate::env::Env;
use crate::matcher::Segment;
use crate::spec::merge::{Merge, merged};
use crate::spec::provenance::{self, Layer};
use crate::spec::{RouteDefaults, RouteSpec};
use std::path::Path;

use crate::policy::guard::Guard;
use crate::policy::retry::RetryPolicy;
use crate::spec::guard::GuardSpec;
use crate::spec::retry::RetrySpec;
use crate::table::{Origin, Protocol, Route, RouteDocs, Upstream};
use crate::transforms::{Pipeline, Transform, TransformSpec};

/// What a route is compiled against.
pub struct Context<'a> {
    pub source: &'a Source,
    pub env: &'a Env,
    pub defaults: &'a RouteDefaults,
    /// The `_defaults.toml` of the file's directory, if there is one.
    pub dir_defaults: Option<&'a crate::spec::SourceFile>,
    pub upstreams: &'a HashMap<String, Arc<Upstream>>,
    /// Upstreams that failed to compile; routes using them fail silently.
    pub broken_upstreams: &'a HashSet<String>,
    /// The schema files named in `openapi = {...}`, loaded once per build.
    pub schemas: &'a super::schemas::SchemaStore,
}

/// A compiled route and its pattern's segments (for the matcher).
pub struct Compiled {
    pub route: Route,
    pub segments: Vec<Segment>,
}

/// Checks one route; every problem found is pushed to `errors`.
pub fn compile_route(spec: &Spanned<RouteSpec>, cx: &Context<'_>, errors: &mut Vec<SpecError>) -> Option<Compiled> {
    let src = cx.source;
    let at = spec.span().start;
    // The directory's defaults lie under the file's; they are located at
    // the route, as their own file is not this one.
    let layered = cx.dir_defaults.map(|dir| cx.defaults.over(&dir.spec.defaults.located_at(at)));
    let defaults = layered.as_ref().unwrap_or(cx.defaults);
    let spec = spec.get_ref();
    let before = errors.len();

    let id = super::keep(errors, route_id(src, &spec.id));
    let methods = super::keep(errors, methods(src, &spec.method));
    let pattern = path::parse_pattern(spec.path.get_ref());
    let segments =
        super::keep(errors, pattern.map_err(|(msg, hint)| src.error_at(spec.path.span().start, msg).with_hint(hint)));
    let params: Vec<String> = segments.iter().flatten().filter_map(param_name).collect();
    let upstream = match upstream(src, spec, defaults, cx, at) {
        Ok(upstream) => Some(upstream),
        Err(Some(error)) => super::keep(errors, Err(error)),
        Err(None) => None,
    };
    let (template, template_at) = match &spec.upstream_path {
        Some(p) => (p.get_ref().as_str(), p.span().start),
        None => (path::default_upstream_path(spec.path.get_ref()), spec.path.span().start),
    };
    let upstream_path = match segments {
        Some(_) => super::keep(
            errors,
            path::parse_template(template, &params)
                .map_err(|(msg, hint)| src.error_at(template_at, msg).with_hint(hint)),
        ),
        None => None,
    };
    let timeout = spec.timeout.as_ref().or(defaults.timeout.as_ref());
    let timeout = match &upstream {
        Some(u) => super::keep(errors, values::duration_or(src, timeout, "timeout", u.timeout)),
        None => None,
    };
    let idle = spec.idle_timeout.as_ref().or(defaults.idle_timeout.as_ref());
    let idle_timeout = match &upstream {
        Some(u) => super::keep(errors, values::duration_or(src, idle, "idle_timeout", u.idle_timeout)),
        None => None,
    };
    let headers = merged(spec.headers.as_ref(), defaults.headers.as_ref());
    let headers = super::keep(errors, policies::header_policy(src, cx.env, headers.as_ref(), at));
    let response_headers = merged(spec.response_headers.as_ref(), defaults.response_headers.as_ref());
    let response_headers =
        super::keep(errors, policies::response_header_policy(src, cx.env, response_headers.as_ref(), at));
    let body = merged(spec.body.as_ref(), defaults.body.as_ref());
    let body = super::keep(errors, policies::body_rules(src, body.as_ref(), at));
    let transforms = super::keep(errors, transforms(src, &spec.transforms, at));
    let guards = super::keep(errors, guards(src, &spec.guards, &params));
    let retry = merged(spec.retry.as_ref(), defaults.retry.as_ref());
    let retry = super::keep(errors, retry_policy(src, retry.as_ref(), &params));
    let listeners = super::keep(errors, listeners(src, spec.listeners.as_ref().or(defaults.listeners.as_ref())));
    let models = super::keep(errors, model_list(src, spec.models.as_ref()));
    let protocol = super::keep(errors, websocket::protocol(src, spec, methods.as_deref(), at));
    let openapi = spec.openapi.as_ref().map(|o| o.get_ref().clone()).unwrap_or_default();
    let schemas = cx.schemas.route_schemas(src, &openapi, errors);
    let examples = match (&methods, &segments) {
        (Some(methods), Some(segments)) => {
            let shape = examples::RouteShape { methods, path: spec.path.get_ref(), segments };
            examples::compile(src, &spec.examples, &shape, errors)
        }
        _ => None,
    };

    if errors.len() > before || upstream.is_none() {
        return None;
    }
    let (line, column) = src.line_col(at);
    let route = Route {
        id: id?,
        methods: methods?,
        path: spec.path.get_ref().clone(),
        params,
        upstream: upstream?,
        upstream_path: upstream_path?,
        timeout: timeout?,
        idle_timeout: idle_timeout?,
        response_mode: spec.response.unwrap_or_default(),
        public: spec.public.or(defaults.public).unwrap_or(false),
        headers: headers?,
        query_defaults: query_defaults(spec.query.as_ref()),
        stream_usage: spec.stream_usage.unwrap_or(false),
        form_may_name_model: schemas.multipart.as_ref().is_none_or(|form| form.may_have_field("model")),
        response_headers: response_headers?,
        body: body?,
        transforms: transforms?,
        retry: retry?,
        guards: guards?,
        models: models?,
        listeners: listeners?,
        docs: docs(src, spec, defaults, openapi, schemas, protocol?),
        protocol: protocol?,
        origin: Origin { file: src.path.clone(), line, column },
        defaulted: defaulted(spec, cx),
        examples: examples?,
    };
    Some(Compiled { route, segments: segments? })
}

/// The keys a default supplies, with the file that holds it.
fn defaulted(spec: &RouteSpec, cx: &Context<'_>) -> Vec<(String, std::path::PathBuf)> {
    let dir = cx.dir_defaults.map(|file| &file.spec.defaults);
    let from = |layer| match (layer, cx.dir_defaults) {
        (Layer::Directory, Some(file)) => file.source.path.clone(),
        _ => cx.source.path.clone(),
    };
    provenance::defaulted(spec, cx.defaults, dir).into_iter().map(|(key, layer)| (key, from(layer))).collect()
}

/// Compiles `[[route.transforms]]`; schemas come from the `schemas/` folder
/// beside the routes directory.
fn transforms(src: &Source, specs: &[Spanned<TransformSpec>], at: usize) -> Result<Pipeline, SpecError> {
    let routes_dir = src.path.parent().unwrap_or(Path::new("."));
    let schemas_dir = routes_dir.with_file_name("schemas");
    let mut compiled = Vec::with_capacity(specs.len());
    for spec in specs {
        let transform = Transform::compile(spec.get_ref(), &schemas_dir)
            .map_err(|e| src.error_at(spec.span().start, format!("invalid transform: {e}")))?;
        compiled.push(transform);
    }
    Pipeline::new(compiled).map_err(|e| src.error_at(at, e))
}

/// `listeners = [...]`, or the `default` listener alone.
fn listeners(src: &Source, spec: Option<&Spanned<Vec<String>>>) -> Result<Vec<String>, SpecError> {
    match spec {
        None => Ok(vec![crate::table::DEFAULT_LISTENER.to_owned()]),
        Some(list) if list.get_ref().is_empty() => Err(src
            .error_at(list.span().start, "`listeners = []` serves the route nowhere")
            .with_hint("name at least one listener, or remove the key to use `default`")),
        Some(list) => Ok(list.get_ref().clone()),
    }
}

fn model_list(
    src: &Source,
    spec: Option<&Spanned<crate::model_list::ModelListSpec>>,
) -> Result<Option<crate::model_list::ModelList>, SpecError> {
    let Some(spec) = spec else { return Ok(None) };
    let routes_dir = src.path.parent().unwrap_or(Path::new("."));
    crate::model_list::ModelList::compile(spec.get_ref(), routes_dir)
        .map(Some)
        .map_err(|e| src.error_at(spec.span().start, format!("[route.models]: {e}")))
}

fn guards(src: &Source, specs: &[Spanned<GuardSpec>], params: &[String]) -> Result<Vec<Guard>, SpecError> {
    specs
        .iter()
        .map(|spec| {
            let at = spec.span().start;
            let probe = spec.get_ref().probe.as_ref().map(|p| path::parse_template(&p.path, params)).transpose();
            let probe = probe.map_err(|(msg, hint)| src.error_at(at, format!("guard probe: {msg}")).with_hint(hint))?;
            Guard::compile(spec.get_ref(), probe).map_err(|e| src.error_at(at, e))
        })
        .collect()
}

fn retry_policy(
    src: &Source,
    spec: Option<&Spanned<RetrySpec>>,
    params: &[String],
) -> Result<Option<RetryPolicy>, SpecError> {
    let Some(spec) = spec else { return Ok(None) };
    let at = spec.span().start;
    let verify = spec.get_ref().verify.as_ref().map(|v| path::parse_template(&v.path, params)).transpose();
    let verify = verify.map_err(|(msg, hint)| src.error_at(at, format!("retry.verify: {msg}")).with_hint(hint))?;
    RetryPolicy::compile(spec.get_ref(), verify).map(Some).map_err(|e| src.error_at(at, e))
}

/// A WebSocket route is hidden: the generated documents describe HTTP only.
fn docs(
    src: &Source,
    spec: &RouteSpec,
    defaults: &RouteDefaults,
    openapi: crate::spec::OpenApiSpec,
    schemas: crate::openapi::schemas::RouteSchemas,
    protocol: Protocol,
) -> RouteDocs {
    let openapi_origin = spec.openapi.as_ref().map(|o| {
        let (line, column) = src.line_col(o.span().start);
        Origin { file: src.path.clone(), line, column }
    });
    RouteDocs {
        summary: spec.summary.clone(),
        description: spec.description.clone(),
        tags: spec.tags.clone().or_else(|| defaults.tags.clone()).unwrap_or_default(),
        operation_id: openapi.operation_id.unwrap_or_else(|| spec.id.get_ref().replace(['.', '-'], "_")),
        actions: openapi.actions,
        consequential: openapi.consequential,
        deprecated: openapi.deprecated,
        response: openapi.response.unwrap_or_default(),
        hidden: openapi.hidden || protocol != Protocol::Http,
        openapi_origin,
        schemas,
    }
}

fn param_name(segment: &Segment) -> Option<String> {
    match segment {
        Segment::Param(name) | Segment::CatchAll(name) => Some(name.clone()),
        Segment::Literal(_) => None,
    }
}

fn route_id(src: &Source, id: &Spanned<String>) -> Result<String, SpecError> {
    let text = id.get_ref();
    let valid = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(text.clone())
    } else {
        Err(src
            .error_at(id.span().start, format!("route id {text:?} is not valid"))
            .with_hint("use letters, digits, `_`, `-` and `.`, e.g. \"files.upload\""))
    }
}

const KNOWN_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn methods(src: &Source, spec: &Spanned<crate::spec::Methods>) -> Result<Vec<Method>, SpecError> {
    let at = spec.span().start;
    let mut methods = Vec::new();
    for name in &spec.get_ref().0 {
        let upper = name.to_ascii_uppercase();
        if !KNOWN_METHODS.contains(&upper.as_str()) {
            let hint = match nearest(&upper, KNOWN_METHODS) {
                Some(best) => format!("did you mean \"{best}\"?"),
                None => format!("methods are {}", KNOWN_METHODS.join(", ")),
            };
            return Err(src.error_at(at, format!("unknown method {name:?}")).with_hint(hint));
        }
        let method = Method::from_bytes(upper.as_bytes()).map_err(|_| src.error_at(at, "invalid method"))?;
        if methods.contains(&method) {
            return Err(src.error_at(at, format!("method {upper} is listed twice")));
        }
        methods.push(method);
    }
    if methods.is_empty() {
        return Err(src.error_at(at, "a route needs at least one method").with_hint("write method = \"GET\""));
    }
    Ok(methods)
}

/// The route's upstream. `Err(None)`: it names an upstream that failed to
/// compile, whose errors are already reported.
fn upstream(
    src: &Source,
    spec: &RouteSpec,
    defaults: &RouteDefaults,
    cx: &Context<'_>,
    at: usize,
) -> Result<Arc<Upstream>, Option<SpecError>> {
    let upstreams = cx.upstreams;
    let mut defined: Vec<&str> = upstreams.keys().chain(cx.broken_upstreams).map(String::as_str).collect();
    defined.sort_unstable();
    let Some(name) = spec.upstream.as_ref().or(defaults.upstream.as_ref()) else {
        return match upstreams.values().next() {
            Some(only) if defined.len() == 1 => Ok(only.clone()),
            _ if defined.len() == 1 => Err(None),
            _ => Err(Some(src.error_at(at, "the route names no upstream").with_hint(if defined.is_empty() {
                "define one with an [upstream.NAME] table".to_owned()
            } else {
                format!("set `upstream` (here or in [defaults]) to one of: {}", defined.join(", "))
            }))),
        };
    };
    if cx.broken_upstreams.contains(name.get_ref()) {
        return Err(None);
    }
    upstreams.get(name.get_ref()).cloned().ok_or_else(|| {
        let hint = match nearest(name.get_ref(), defined.iter().copied()) {
            Some(best) => format!("did you mean \"{best}\"? defined upstreams: {}", defined.join(", ")),
            None if defined.is_empty() => "no upstream is defined; add an [upstream.NAME] table".to_owned(),
            None => format!("defined upstreams: {}", defined.join(", ")),
        };
        Some(src.error_at(name.span().start, format!("unknown upstream {:?}", name.get_ref())).with_hint(hint))
    })
}

/// `query.default`: each name, and its `name=value` pair encoded as a query
/// string writes it.
fn query_defaults(spec: Option<&crate::spec::QuerySpec>) -> Vec<(String, String)> {
    let pair =
        |name: &str, value: &str| form_urlencoded::Serializer::new(String::new()).append_pair(name, value).finish();
    spec.map(|q| q.default.iter().map(|(name, value)| (name.clone(), pair(name, value))).collect()).unwrap_or_default()
}
