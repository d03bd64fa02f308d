//! The `relay` command line: `serve`, `demo`, `check`, `explain`, `test`,
//! `routes` and `openapi`.

mod demo;
mod keys;
mod serve;
mod shutdown;
mod test;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::diagnostics::SpecError;
use crate::env::Env;
use crate::live::Live;
use crate::openapi::PUBLIC_URL_VAR;

/// The help of every `--routes`.
pub(crate) const ROUTES_HELP: &str = "Routes directory; repeat it (or separate with `:`) to load several as one set";

#[derive(Debug, Parser)]
#[command(name = "relay", version, about = "A config-driven HTTP relay for the OpenAI API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the routes of one or more directories.
    Serve(serve::ServeArgs),
    /// Serve the routes in front of a built-in mock upstream: try the relay with no API key and no network.
    Demo {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES", value_delimiter = ':', help = ROUTES_HELP)]
        routes: Vec<PathBuf>,
        /// Address of the relay (the mock upstream takes a free loopback port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Compile the routes without serving; print every error (exit 1 if any), then the warnings.
    Check {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES", value_delimiter = ':', help = ROUTES_HELP)]
        routes: Vec<PathBuf>,
    },
    /// Dry-run one request: the matching route and the exact upstream request.
    Explain {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES", value_delimiter = ':', help = ROUTES_HELP)]
        routes: Vec<PathBuf>,
        /// HTTP method, e.g. POST.
        method: String,
        /// Path with optional query, e.g. '/v1/files?purpose=batch'.
        path: String,
        /// A client header, 'Name: value' (repeatable).
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
        /// A file holding the request body.
        #[arg(long)]
        body: Option<PathBuf>,
        /// The listener the request arrives on (default: `default`).
        #[arg(long)]
        listener: Option<String>,
        /// Also show which values of the route come from defaults, and from which file.
        #[arg(long)]
        sources: bool,
    },
    /// Run every route's examples offline; print a diff for each failure; exit 1 if one fails, 2 if the routes do not compile.
    Test {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES", value_delimiter = ':', help = ROUTES_HELP)]
        routes: Vec<PathBuf>,
    },
    /// Print the OpenAPI document of the routes, or one ChatGPT Actions set's.
    Openapi {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES", value_delimiter = ':', help = ROUTES_HELP)]
        routes: Vec<PathBuf>,
        /// An Actions set (`default` for the default set) instead of the full document.
        #[arg(long)]
        actions: Option<String>,
        /// The server URL written in the document (default: RELAY_PUBLIC_URL, else http://127.0.0.1:8080).
        #[arg(long)]
        server_url: Option<String>,
    },
    /// Make relay keys for `[consumer.NAME]` tables.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// List the routes: id, methods, path, listeners, upstream, upstream path.
    Routes {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES", value_delimiter = ':', help = ROUTES_HELP)]
        routes: Vec<PathBuf>,
        /// Print a JSON array instead of lines.
        #[arg(long)]
        json: bool,
        /// Also show which values of each route come from defaults, and from which file.
        #[arg(long)]
        sources: bool,
    },
    /// Print the JSON Schema of the spec files (committed as schemas/relay-routes.schema.json), for editors.
    Schema,
}

/// Runs the command line; the process exit code is returned.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::from_process();
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Demo { routes, listen } => demo::demo(demo::DemoArgs { routes, listen }),
        Command::Check { routes } => match load(&routes, &env) {
            Some(live) => {
                for note in &env.findings().notes {
                    eprintln!("note: {note}");
                }
                eprintln!(
                    "ok: {} routes, {} upstreams in {}",
                    live.table.routes.len(),
                    live.table.upstreams.len(),
                    display_dirs(&routes)
                );
                print_warnings(&live);
                if live.documents.has_actions_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
            }
            None => ExitCode::FAILURE,
        },
        Command::Explain { routes, method, path, headers, body, listener, sources } => match load(&routes, &env) {
            Some(live) => explain(
                &live,
                &method,
                crate::explain::Request { target: path, listener, sources, ..Default::default() },
                &headers,
                body.as_deref(),
            ),
            None => ExitCode::FAILURE,
        },
        Command::Test { routes } => test::run(&routes),
        Command::Keys(command) => keys::run(command),
        Command::Schema => {
            let text = crate::spec::schema::spec_file_schema_text();
            if write!(std::io::stdout().lock(), "{text}").is_err() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Command::Routes { routes, json, sources } => match load(&routes, &env) {
            Some(live) => print_routes(&live.table, json, sources),
            None => ExitCode::FAILURE,
        },
        Command::Openapi { routes, actions, server_url } => {
            let env = match server_url {
                Some(url) => Env::from_pairs(std::env::vars().chain([(PUBLIC_URL_VAR.to_owned(), url)])),
                None => env,
            };
            match load(&routes, &env) {
                Some(live) => print_openapi(&live, actions.as_deref()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// `--drain-timeout`, `--head-timeout`: a duration, by the spec's one
/// duration parser.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::spec::units::duration(text).map_err(|e| format!("{e}; write e.g. 10s or 5m"))
}

/// `--log-body-max`: a byte size, by the spec's one size parser.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    crate::spec::units::size(text).map_err(|e| format!("{e}; write e.g. 64KiB"))
}

fn print_warnings(live: &Live) {
    let mut stderr = std::io::stderr().lock();
    for warning in &live.table.warnings {
        let _ = writeln!(stderr, "{warning}");
    }
    for warning in &live.documents.warnings {
        let _ = writeln!(stderr, "{warning}");
    }
}

fn print_openapi(live: &Live, actions: Option<&str>) -> ExitCode {
    let docs = &live.documents;
    let document = match actions {
        None => &docs.full,
        Some(set) => match docs.actions_set(set) {
            Some(document) => document,
            None => {
                let known: Vec<&str> = docs.actions.keys().map(String::as_str).collect();
                eprintln!("error: no Actions set named {set:?}; the sets are: {}", known.join(", "));
                return ExitCode::FAILURE;
            }
        },
    };
    let pretty = serde_json::from_slice::<serde_json::Value>(document)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or_else(|_| String::from_utf8_lossy(document).into_owned());
    if actions.is_some() {
        print_warnings(live);
    }
    if writeln!(std::io::stdout().lock(), "{pretty}").is_err() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The directories, for messages: `routes.d, examples/two-ports`.
fn display_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Loads the routes and their documents, printing every error to stderr.
fn load(dirs: &[PathBuf], env: &Env) -> Option<Live> {
    match Live::load_dirs(dirs, env) {
        Ok(live) => Some(live),
        Err(errors) => {
            print_errors(&errors);
            None
        }
    }
}

fn print_errors(errors: &[SpecError]) {
    let mut stderr = std::io::stderr().lock();
    for error in errors {
        let _ = writeln!(stderr, "{error}");
    }
    let _ = writeln!(stderr, "{} error{} found", errors.len(), if errors.len() == 1 { "" } else { "s" });
}

fn explain(
    live: &Live,
    method: &str,
    mut request: crate::explain::Request,
    headers: &[String],
    body: Option<&Path>,
) -> ExitCode {
    let Ok(method) = actix_web::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
        eprintln!("error: {method:?} is not an HTTP method");
        return ExitCode::FAILURE;
    };
    request.method = method;
    for line in headers {
        if let Err(e) = request.add_header(line) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = body {
        match std::fs::read(path) {
            Ok(bytes) => request.body = Some(bytes),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let (report, matched) = crate::explain::explain(live, request);
    if std::io::stdout().lock().write_all(report.as_bytes()).is_err() || !matched {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_routes(table: &crate::table::Table, json: bool, sources: bool) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let result = if json {
        let list: Vec<_> = table
            .routes
            .iter()
            .map(|r| {
                let mut item = serde_json::json!({
                    "id": r.id,
                    "methods": r.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "path": r.path,
                    "upstream": r.upstream.name,
                    "upstream_path": r.upstream_path.display(&r.params),
                    "public": r.public,
                    "listeners": r.listeners,
                    "file": r.origin.file,
                    "line": r.origin.line,
                });
                if sources {
                    let from: serde_json::Map<String, serde_json::Value> = r
                        .defaulted
                        .iter()
                        .map(|(key, file)| (key.clone(), file.display().to_string().into()))
                        .collect();
                    item["defaults"] = from.into();
                }
                item
            })
            .collect();
        writeln!(stdout, "{}", serde_json::Value::Array(list))
    } else {
        let served = |r: &crate::table::Route| r.listeners.join(",");
        let wide = table.routes.iter().map(|r| served(r).len()).chain([9]).max().unwrap_or(9);
        let header = ("ID", "METHODS", "PATH", "LISTENERS", "UPSTREAM UPSTREAM_PATH");
        writeln!(stdout, "{:<40} {:<12} {:<60} {:<wide$} {}", header.0, header.1, header.2, header.3, header.4)
            .and_then(|()| {
                table.routes.iter().try_for_each(|r| {
                    let methods: Vec<&str> = r.methods.iter().map(|m| m.as_str()).collect();
                    let (path, target) = (&r.path, r.upstream_path.display(&r.params));
                    let (id, listeners, upstream) = (&r.id, served(r), &r.upstream.name);
                    writeln!(
                        stdout,
                        "{id:<40} {:<12} {path:<60} {listeners:<wide$} {upstream} {target}",
                        methods.join(",")
                    )?;
                    if sources {
                        for (file, keys) in r.defaulted_by_file() {
                            writeln!(stdout, "    from {}: {}", file.display(), keys.join(", "))?;
                        }
                    }
                    Ok(())
                })
            })
    };
    if result.is_err() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
