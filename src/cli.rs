//! The `relay` command line: `serve`, `check`, `explain`, `routes` and `openapi`.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::compile::{RELAY_KEYS_VAR, load_table};
use crate::diagnostics::SpecError;
use crate::env::Env;
use crate::openapi::PUBLIC_URL_VAR;
use crate::reload::Reloader;
use crate::table::{Table, UpstreamAuth, WhenKeyMissing};
use crate::{server, watcher};

#[derive(Debug, Parser)]
#[command(name = "relay", version, about = "A config-driven HTTP relay for the OpenAI API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the routes of a directory.
    Serve {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES")]
        routes: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080", env = "RELAY_LISTEN")]
        listen: SocketAddr,
        /// Allow listening on a non-loopback address without relay keys.
        #[arg(long)]
        allow_open: bool,
        /// Worker threads (default: one per core).
        #[arg(long, env = "RELAY_WORKERS")]
        workers: Option<usize>,
        /// Do not watch the routes directory; reload on SIGHUP only.
        #[arg(long)]
        no_watch: bool,
    },
    /// Compile the routes without serving; print every error and exit 1 if any.
    Check {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES")]
        routes: PathBuf,
    },
    /// Dry-run one request: the matching route and the exact upstream request.
    Explain {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES")]
        routes: PathBuf,
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
    },
    /// Print the OpenAPI document of the routes, or one ChatGPT Actions set's.
    Openapi {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES")]
        routes: PathBuf,
        /// An Actions set (`default` for the default set) instead of the full document.
        #[arg(long)]
        actions: Option<String>,
        /// The server URL written in the document (default: RELAY_PUBLIC_URL, else http://127.0.0.1:8080).
        #[arg(long)]
        server_url: Option<String>,
    },
    /// List the routes: id, methods, path, upstream, upstream path.
    Routes {
        #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES")]
        routes: PathBuf,
        /// Print a JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line; the process exit code is returned.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::from_process();
    match cli.command {
        Command::Serve { routes, listen, allow_open, workers, no_watch } => {
            serve(&routes, listen, allow_open, workers, !no_watch)
        }
        Command::Check { routes } => match load(&routes, &env) {
            Some(table) => {
                eprintln!(
                    "ok: {} routes, {} upstreams in {}",
                    table.routes.len(),
                    table.upstreams.len(),
                    routes.display()
                );
                print_warnings(&table);
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        },
        Command::Explain { routes, method, path, headers, body } => match load(&routes, &env) {
            Some(table) => explain(&table, &method, path, &headers, body.as_deref()),
            None => ExitCode::FAILURE,
        },
        Command::Routes { routes, json } => match load(&routes, &env) {
            Some(table) => print_routes(&table, json),
            None => ExitCode::FAILURE,
        },
        Command::Openapi { routes, actions, server_url } => {
            let env = match server_url {
                Some(url) => Env::from_pairs(std::env::vars().chain([(PUBLIC_URL_VAR.to_owned(), url)])),
                None => env,
            };
            match load(&routes, &env) {
                Some(table) => print_openapi(&table, actions.as_deref()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn print_warnings(table: &Table) {
    let mut stderr = std::io::stderr().lock();
    for warning in &table.documents.warnings {
        let _ = writeln!(stderr, "{warning}");
    }
}

fn print_openapi(table: &Table, actions: Option<&str>) -> ExitCode {
    let docs = &table.documents;
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
        print_warnings(table);
    }
    if writeln!(std::io::stdout().lock(), "{pretty}").is_err() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Loads a table, printing every error to stderr.
fn load(dir: &Path, env: &Env) -> Option<Table> {
    match load_table(dir, env) {
        Ok(table) => Some(table),
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

fn explain(table: &Table, method: &str, target: String, headers: &[String], body: Option<&Path>) -> ExitCode {
    let Ok(method) = actix_web::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
        eprintln!("error: {method:?} is not an HTTP method");
        return ExitCode::FAILURE;
    };
    let mut request = crate::explain::Request { method, target, ..Default::default() };
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
    let (report, matched) = crate::explain::explain(table, &request);
    if std::io::stdout().lock().write_all(report.as_bytes()).is_err() || !matched {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_routes(table: &Table, json: bool) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let result = if json {
        let list: Vec<_> = table
            .routes
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "methods": r.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "path": r.path,
                    "upstream": r.upstream.name,
                    "upstream_path": r.upstream_path.display(&r.params),
                    "public": r.public,
                    "file": r.origin.file,
                    "line": r.origin.line,
                })
            })
            .collect();
        writeln!(stdout, "{}", serde_json::Value::Array(list))
    } else {
        table.routes.iter().try_for_each(|r| {
            let methods: Vec<&str> = r.methods.iter().map(|m| m.as_str()).collect();
            let target = r.upstream_path.display(&r.params);
            writeln!(stdout, "{:<40} {:<12} {:<60} {} {}", r.id, methods.join(","), r.path, r.upstream.name, target)
        })
    };
    if result.is_err() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn serve(routes: &Path, listen: SocketAddr, allow_open: bool, workers: Option<usize>, watch: bool) -> ExitCode {
    init_tracing();
    let reloader = match Reloader::start(routes, Box::new(Env::from_process)) {
        Ok(reloader) => reloader,
        Err(errors) => {
            print_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    let table = reloader.table().load_full();
    if !table.client_keys.is_enabled() && !listen.ip().is_loopback() && !allow_open {
        eprintln!(
            "error: refusing to listen on {listen} without relay keys: anyone could spend your API key.\n  \
             hint: set {RELAY_KEYS_VAR}=key1,key2 (clients send X-Relay-Key or Authorization: Bearer), or pass --allow-open"
        );
        return ExitCode::FAILURE;
    }
    for upstream in &table.upstreams {
        match &upstream.auth {
            UpstreamAuth::Bearer { env: var, header: None, when_missing: WhenKeyMissing::Omit } => {
                tracing::warn!(upstream = upstream.name, "{var} is not set: requests to this upstream carry no key");
            }
            UpstreamAuth::Bearer { env: var, header: None, when_missing: WhenKeyMissing::Forbid } => {
                tracing::info!(upstream = upstream.name, "{var} is not set: routes to this upstream answer 403");
            }
            _ => {}
        }
    }
    for warning in &table.documents.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(routes = table.routes.len(), %listen, dir = %routes.display(), "relay starting");
    drop(table);
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "relay listening on http://{addr}");
    }
    let watched = vec![routes.to_path_buf(), routes.with_file_name("schemas")];
    let result = actix_web::rt::System::new().block_on(async move {
        let options = server::Options { workers, reloader: Some(reloader.clone()), ..Default::default() };
        let server = server::run(listener, reloader.table(), &options)?;
        let (signal, mut signals) = tokio::sync::mpsc::channel(1);
        let _watcher = watch.then(|| watcher::watch(&watched, signal.clone())).and_then(|w| {
            w.map_err(|e| tracing::warn!("Not watching {} for changes: {e}", routes_display(&watched))).ok()
        });
        actix_web::rt::spawn(forward_sighup(signal));
        actix_web::rt::spawn(async move {
            while signals.recv().await.is_some() {
                reloader.reload();
            }
        });
        server.await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn routes_display(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// SIGHUP asks for the same reload as a file change.
async fn forward_sighup(signal: tokio::sync::mpsc::Sender<()>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("SIGHUP cannot be handled here; reloads follow file changes only");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading routes");
        let _ = signal.try_send(());
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}
