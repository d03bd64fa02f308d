//! The shipped `routes.d/` serves every operation of the public OpenAI REST
//! API, and nothing else.
//!
//! The operations are listed in `tests/data/openai_operations.tsv`, one row
//! per operation of the OpenAI API description (columns: method, path,
//! request_kind, response_kind, group, operationId, tags, deprecated, auth,
//! stream_switch, spec_2xx_content). Each test checks every operation before
//! it fails, so one run lists every gap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code fails loudly

use std::collections::HashSet;
use std::path::Path;

use actix_web::http::Method;
use relay::env::Env;
use relay::table::{Route, Table};

/// The upstream base URL the table is compiled with.
const BASE_URL: &str = "http://upstream.test/v1";

/// Shipped routes that match no described operation, as (method, path).
/// Every entry needs a comment saying why it is shipped.
const EXTRA_ROUTES: &[(&str, &str)] = &[
    // The streaming alias of `POST /responses` that ChatGPT Actions clients use.
    ("POST", "/v1/responses:stream"),
    // JSON forms of the image uploads for ChatGPT Actions (json_to_multipart).
    ("POST", "/v1/actions/images/edits"),
    ("POST", "/v1/actions/images/variations"),
    // The file list for ChatGPT Actions, with a small default page (query.default).
    ("GET", "/v1/actions/files"),
    // The allowlisted JSON envelope for clients with one endpoint (envelope).
    ("POST", "/v1/proxy"),
    // Chat Completions served by the Responses API (chat_to_responses).
    ("POST", "/v1/bridge/chat/completions"),
    // The bridge's own model list, for chat clients whose base URL is /v1/bridge.
    ("GET", "/v1/bridge/models"),
    ("GET", "/v1/bridge/models/{model}"),
    // WebSocket routes (Realtime, and the Responses API's WebSocket mode).
    ("GET", "/v1/realtime"),
    ("GET", "/v1/responses"),
    // Kept for clients of the replaced FastAPI Actions relay: an alias of
    // `POST /v1/images/generations`, the Realtime WebSocket at its path, and
    // `GET /v1/uploads/{id}`, which the API answers but does not describe.
    ("POST", "/v1/images"),
    ("GET", "/v1/realtime/ws"),
    ("GET", "/v1/uploads/{upload_id}"),
];

/// Operations that need the admin key although their `auth` column says
/// `api_key`. The description declares the normal key for these, but its
/// text says "This endpoint requires an admin API key".
const ADMIN_BY_DESCRIPTION: &[&str] = &[
    "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions",
    "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions/{permission_id}",
];

const COLUMNS: [&str; 11] = [
    "method",
    "path",
    "request_kind",
    "response_kind",
    "group",
    "operationId",
    "tags",
    "deprecated",
    "auth",
    "stream_switch",
    "spec_2xx_content",
];

/// One row of the operation list.
struct Operation {
    line: usize,
    method: String,
    /// As listed, relative to the API base; may end in a query (`?beta=true`).
    path: String,
    request_kind: String,
    group: String,
    operation_id: String,
    auth: String,
}

impl Operation {
    /// The path without its query, e.g. `/files/{file_id}`.
    fn pattern(&self) -> &str {
        self.path.split_once('?').map_or(self.path.as_str(), |(path, _)| path)
    }

    fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, query)| query)
    }

    /// The path with every `{name}` replaced by `p_name`.
    fn sample_path(&self) -> String {
        let segments: Vec<String> = self
            .pattern()
            .split('/')
            .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("p_{name}"),
                None => segment.to_owned(),
            })
            .collect();
        segments.join("/")
    }

    fn label(&self) -> String {
        format!("{} /v1{} ({}, tsv line {})", self.method, self.path, self.operation_id, self.line)
    }

    /// Whether the operation must go to the `openai_admin` upstream.
    fn needs_admin_key(&self) -> Result<bool, String> {
        match self.auth.as_str() {
            "admin_key" => Ok(true),
            "api_key" => Ok(ADMIN_BY_DESCRIPTION.contains(&self.pattern())),
            other => Err(format!("unknown auth {other:?}")),
        }
    }

    /// The `OpenAI-Beta` value the upstream needs, if any.
    fn beta_header(&self) -> Option<&'static str> {
        match self.group.as_str() {
            "assistants_beta" => Some("assistants=v2"),
            "chatkit_beta" => Some("chatkit_beta=v1"),
            _ => None,
        }
    }

    /// The media types the route must accept; `None` when it takes no body.
    fn accepted_media(&self) -> Result<Option<Vec<&'static str>>, String> {
        if self.request_kind == "none" {
            return Ok(None);
        }
        let mut media = Vec::new();
        for kind in self.request_kind.split('|') {
            media.push(match kind {
                "json" => "application/json",
                "multipart" => "multipart/form-data",
                "sdp" => "application/sdp",
                other => return Err(format!("unknown request kind {other:?}")),
            });
        }
        media.sort_unstable();
        Ok(Some(media))
    }
}

fn operations() -> Vec<Operation> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/openai_operations.tsv");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    assert_eq!(header, COLUMNS, "unexpected columns in {}", file.display());
    let mut operations = Vec::new();
    for (index, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let line = index + 2;
        assert_eq!(fields.len(), COLUMNS.len(), "{}:{line}: expected {} columns", file.display(), COLUMNS.len());
        operations.push(Operation {
            line,
            method: fields[0].to_owned(),
            path: fields[1].to_owned(),
            request_kind: fields[2].to_owned(),
            group: fields[4].to_owned(),
            operation_id: fields[5].to_owned(),
            auth: fields[8].to_owned(),
        });
    }
    assert!(!operations.is_empty(), "{} lists no operations", file.display());
    operations
}

fn shipped_table() -> Table {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("routes.d");
    let env = Env::from_pairs([("OPENAI_BASE_URL", BASE_URL)]);
    match relay::compile::load_table(&dir, &env) {
        Ok(table) => table,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            panic!("routes.d does not compile:\n{}", list.join("\n"))
        }
    }
}

/// The route serving `op`, when it resolves to the operation's own upstream
/// URL.
fn serve<'t>(table: &'t Table, op: &Operation) -> Result<&'t Route, String> {
    let method = Method::from_bytes(op.method.as_bytes()).map_err(|e| format!("bad method: {e}"))?;
    let sample = op.sample_path();
    let inbound = format!("/v1{sample}");
    let resolved = table.resolve("default", &method, &inbound, op.query()).map_err(|e| format!("not served: {e}"))?;
    let route = &table.routes[resolved.route];
    let mut expected = format!("{BASE_URL}{sample}");
    if let Some(query) = op.query() {
        expected.push('?');
        expected.push_str(query);
    }
    if resolved.url != expected {
        return Err(format!("route `{}` ({}) sends it to {}, not {expected}", route.id, route.origin, resolved.url));
    }
    Ok(route)
}

/// Fails with every problem found, one per line.
fn assert_none(what: &str, failures: &[String]) {
    assert!(failures.is_empty(), "{} {what}:\n  {}\n", failures.len(), failures.join("\n  "));
}

#[test]
fn every_operation_reaches_its_upstream_url() {
    let (table, ops) = (shipped_table(), operations());
    let failures: Vec<String> =
        ops.iter().filter_map(|op| serve(&table, op).err().map(|e| format!("{}: {e}", op.label()))).collect();
    let what = format!("of {} operations are missing or misrouted (tests/data/openai_operations.tsv)", ops.len());
    assert_none(&what, &failures);
}

#[test]
fn admin_operations_use_the_admin_key_and_no_others_do() {
    let (table, ops) = (shipped_table(), operations());
    let mut failures = Vec::new();
    for op in &ops {
        let admin = match op.needs_admin_key() {
            Ok(admin) => admin,
            Err(e) => {
                failures.push(format!("{}: {e}", op.label()));
                continue;
            }
        };
        let admin_path = op.pattern().starts_with("/organization/") || op.pattern().starts_with("/projects/");
        if admin_path && !admin {
            failures.push(format!("{}: an admin path without the admin key", op.label()));
        }
        // Operations that are not served are reported by the test above.
        let Ok(route) = serve(&table, op) else { continue };
        let expected = if admin { "openai_admin" } else { "openai" };
        if route.upstream.name != expected {
            failures.push(format!(
                "{}: route `{}` ({}) uses upstream `{}`, expected `{expected}`",
                op.label(),
                route.id,
                route.origin,
                route.upstream.name
            ));
        }
    }
    for path in ADMIN_BY_DESCRIPTION {
        if !ops.iter().any(|op| op.pattern() == *path) {
            failures.push(format!("ADMIN_BY_DESCRIPTION lists {path}, which is no operation of the list"));
        }
    }
    assert_none("operations use the wrong upstream", &failures);
}

#[test]
fn beta_operations_default_their_openai_beta_header() {
    let (table, ops) = (shipped_table(), operations());
    let mut failures = Vec::new();
    for op in &ops {
        let Ok(route) = serve(&table, op) else { continue };
        let expected: Vec<&str> = op.beta_header().into_iter().collect();
        let actual: Vec<&str> = route
            .headers
            .default
            .iter()
            .filter(|(name, _)| name == "openai-beta")
            .map(|(_, value)| value.to_str().unwrap_or("(not text)"))
            .collect();
        if actual != expected {
            failures.push(format!(
                "{}: route `{}` ({}) defaults OpenAI-Beta to {actual:?}, expected {expected:?}",
                op.label(),
                route.id,
                route.origin
            ));
        }
        // A client that sends its own OpenAI-Beta keeps it: never `set` it.
        if route.headers.set.iter().any(|(name, _)| name == "openai-beta") {
            failures.push(format!("{}: route `{}` ({}) overrides OpenAI-Beta", op.label(), route.id, route.origin));
        }
    }
    assert_none("operations have the wrong OpenAI-Beta default", &failures);
}

/// Operations without a body are not checked: an empty body without a
/// content type passes whatever `body.accept` says.
#[test]
fn request_bodies_of_the_described_kinds_are_accepted() {
    let (table, ops) = (shipped_table(), operations());
    let mut failures = Vec::new();
    for op in &ops {
        let expected = match op.accepted_media() {
            Ok(Some(media)) => media,
            Ok(None) => continue,
            Err(e) => {
                failures.push(format!("{}: {e}", op.label()));
                continue;
            }
        };
        let Ok(route) = serve(&table, op) else { continue };
        let mut actual: Vec<&str> = route.body.accept.iter().map(String::as_str).collect();
        // A JSON form added by a json_to_multipart transform is an extra.
        if route.transforms.multipart().is_some() && !expected.contains(&"application/json") {
            actual.retain(|media| *media != "application/json");
        }
        actual.sort_unstable();
        if actual != expected {
            failures.push(format!(
                "{}: route `{}` ({}) accepts {actual:?}, expected {expected:?} (request kind {})",
                op.label(),
                route.id,
                route.origin,
                op.request_kind
            ));
        }
    }
    assert_none("operations' request bodies are not accepted as described", &failures);
}

#[test]
fn every_route_is_a_described_operation() {
    let (table, ops) = (shipped_table(), operations());
    let described: HashSet<(&str, String)> =
        ops.iter().map(|op| (op.method.as_str(), format!("/v1{}", op.pattern()))).collect();
    let mut failures = Vec::new();
    let mut shipped = HashSet::new();
    for route in &table.routes {
        for method in &route.methods {
            let key = (method.as_str(), route.path.clone());
            shipped.insert((method.as_str().to_owned(), route.path.clone()));
            if !described.contains(&key) && !EXTRA_ROUTES.contains(&(key.0, key.1.as_str())) {
                failures.push(format!(
                    "route `{}` ({}): {} {} is no operation of the list and not in EXTRA_ROUTES",
                    route.id, route.origin, key.0, key.1
                ));
            }
        }
    }
    for (method, path) in EXTRA_ROUTES {
        if !shipped.contains(&((*method).to_owned(), (*path).to_owned())) {
            failures.push(format!("EXTRA_ROUTES lists {method} {path}, which no route serves"));
        }
    }
    assert_none("shipped routes are not described operations", &failures);
}

/// A consumer's model rule reads a form only where it may name a model:
/// the shipped file uploads stream past it, the model forms do not.
#[test]
fn only_forms_that_may_name_a_model_are_read_for_it() {
    let table = shipped_table();
    let route = |id: &str| table.routes.iter().find(|route| route.id == id).unwrap();
    for id in ["files.upload", "uploads.parts.create"] {
        assert!(!route(id).form_may_name_model, "{id}");
    }
    for id in ["audio.transcriptions.create", "images.edits.create"] {
        assert!(route(id).form_may_name_model, "{id}");
    }
}
