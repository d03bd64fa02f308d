//! `relay serve`: load the routes, bind every listener, serve until stopped,
//! and reload on file changes and SIGHUP.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::print_errors;
use crate::compile::RELAY_KEYS_VAR;
use crate::env::Env;
use crate::live::Live;
use crate::reload::Reloader;
use crate::table::{DEFAULT_LISTENER, Table, UpstreamAuth, WhenKeyMissing};
use crate::traffic_log::{DEFAULT_BODY_MAX, LogFile, TrafficLog};
use crate::{server, watcher};

/// The address of the `default` listener when neither `--listen` nor the
/// routes give one.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8080";

/// What `relay serve` was asked for.
pub struct ServeArgs {
    pub routes: PathBuf,
    pub listen: Option<SocketAddr>,
    pub allow_open: bool,
    pub workers: Option<usize>,
    pub watch: bool,
    /// `--log`: the traffic log of every listener without its own.
    pub log: Option<PathBuf>,
    /// `--log-body-max`.
    pub log_body_max: Option<u64>,
    /// `--head-timeout`.
    pub head_timeout: Option<std::time::Duration>,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    init_tracing();
    let routes = args.routes.as_path();
    let reloader = match Reloader::start(routes, Box::new(Env::from_process)) {
        Ok(reloader) => reloader,
        Err(errors) => {
            print_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    let live = reloader.live().load_full();
    let table = &live.table;
    let addresses = addresses(table, args.listen);
    if let Some(open) = addresses.iter().find(|(_, addr)| !addr.ip().is_loopback())
        && !table.client_keys.is_enabled()
        && !args.allow_open
    {
        eprintln!(
            "error: refusing to listen on {} without relay keys: anyone could spend your API key.\n  \
             hint: set {RELAY_KEYS_VAR}=key1,key2 (clients send X-Relay-Key or Authorization: Bearer), or pass --allow-open",
            open.1
        );
        return ExitCode::FAILURE;
    }
    log_upstream_keys(&live);
    let mut logs = match open_logs(table, &addresses, &args) {
        Ok(logs) => logs,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(routes = table.routes.len(), listeners = addresses.len(), dir = %routes.display(), "relay starting");
    drop(live);
    let mut bound = Vec::with_capacity(addresses.len());
    for (name, addr) in addresses {
        match TcpListener::bind(addr) {
            Ok(listener) => bound.push((name, listener)),
            Err(e) => {
                eprintln!("error: cannot listen on {addr} (listener `{name}`): {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let watched = vec![routes.to_path_buf(), routes.with_file_name("schemas")];
    let result = actix_web::rt::System::new().block_on(async move {
        // Watch before anything is announced, then look once more: a change
        // made between the first load and the watch is not missed.
        let (signal, mut signals) = tokio::sync::mpsc::channel(1);
        let _watcher = args.watch.then(|| watcher::watch(&watched, signal.clone())).and_then(|w| {
            w.map_err(|e| tracing::warn!("Not watching {} for changes: {e}", routes_display(&watched))).ok()
        });
        reloader.reload();
        let mut servers = Vec::with_capacity(bound.len());
        for (name, listener) in bound {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(listener = %name, "relay listening on http://{addr}");
            }
            let options = server::Options {
                workers: args.workers,
                reloader: Some(reloader.clone()),
                traffic_log: logs.remove(&name),
                listener: Some(name),
                head_timeout: args.head_timeout,
                ..Default::default()
            };
            servers.push(server::run(listener, reloader.live(), &options)?);
        }
        actix_web::rt::spawn(forward_sighup(signal));
        actix_web::rt::spawn(async move {
            while signals.recv().await.is_some() {
                reloader.reload();
            }
        });
        futures_util::future::try_join_all(servers).await.map(drop)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The listeners to open, `default` first: `default` at `--listen`, else at
/// its declared address, else at [`DEFAULT_ADDRESS`] if it serves any route
/// (a configuration whose routes all name other listeners does not open it).
fn addresses(table: &Table, listen: Option<SocketAddr>) -> Vec<(String, SocketAddr)> {
    let mut addresses = Vec::with_capacity(table.listeners.len());
    let serves_default = table.routes.iter().any(|r| r.listeners.iter().any(|name| name == DEFAULT_LISTENER));
    let fallback = serves_default.then(|| DEFAULT_ADDRESS.parse().ok()).flatten();
    let declared = table.listener(DEFAULT_LISTENER).and_then(|l| l.listen);
    if let Some(addr) = listen.or(declared).or(fallback) {
        addresses.push((DEFAULT_LISTENER.to_owned(), addr));
    }
    for listener in table.listeners.iter().filter(|l| l.name != DEFAULT_LISTENER) {
        if let Some(addr) = listener.listen {
            addresses.push((listener.name.clone(), addr));
        }
    }
    addresses
}

/// Opens (truncates) the traffic log files: a listener's own `log`, else
/// `--log`. Listeners naming the same file share its writer. The files are
/// opened once; a reload does not reopen them.
fn open_logs(
    table: &Table,
    addresses: &[(String, SocketAddr)],
    args: &ServeArgs,
) -> Result<HashMap<String, TrafficLog>, String> {
    let mut files: HashMap<PathBuf, Arc<LogFile>> = HashMap::new();
    let mut logs = HashMap::new();
    for (name, _) in addresses {
        let listener = table.listener(name);
        let Some(path) = listener.and_then(|l| l.log.clone()).or_else(|| args.log.clone()) else { continue };
        let file = match files.get(&path) {
            Some(file) => file.clone(),
            None => {
                let file = LogFile::open(&path, known_secrets(table))
                    .map_err(|e| format!("cannot open the traffic log {}: {e}", path.display()))?;
                files.insert(path.clone(), file.clone());
                file
            }
        };
        let body_max = listener.and_then(|l| l.log_body_max).or(args.log_body_max).unwrap_or(DEFAULT_BODY_MAX);
        tracing::info!(listener = %name, file = %path.display(), body_max, "traffic log on");
        logs.insert(name.clone(), TrafficLog::new(file, name, body_max));
    }
    Ok(logs)
}

/// The secrets the traffic log masks wherever they appear: the relay keys
/// and the upstream keys of the startup table.
fn known_secrets(table: &Table) -> Vec<String> {
    let relay_keys = std::env::var(RELAY_KEYS_VAR).unwrap_or_default();
    let mut secrets: Vec<String> =
        relay_keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect();
    for upstream in &table.upstreams {
        if let UpstreamAuth::Bearer { header: Some(value), .. } = &upstream.auth
            && let Some(token) = value.to_str().ok().and_then(crate::auth::bearer_token)
        {
            secrets.push(token.to_owned());
        }
    }
    secrets
}

fn log_upstream_keys(live: &Live) {
    for upstream in &live.table.upstreams {
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
    for warning in &live.documents.warnings {
        tracing::warn!("{warning}");
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
