//! `relay serve`: load the routes, bind every listener, serve until stopped,
//! and reload on file changes and SIGHUP.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::print_errors;
use super::shutdown::{self, StopSignals, Stopped};
use crate::compile::RELAY_KEYS_VAR;
use crate::drain::Drain;
use crate::env::Env;
use crate::live::Live;
use crate::reload::Reloader;
use crate::table::{DEFAULT_LISTENER, Table, UpstreamAuth, WhenKeyMissing};
use crate::telemetry::access::{AccessLog, Format, Writer};
use crate::tls::ReloadingCert;
use crate::traffic_log::{DEFAULT_BODY_MAX, LogFile, TrafficLog};
use crate::{admin, server, watcher};

/// The address of the `default` listener when neither `--listen` nor the
/// routes give one.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8080";

/// What `relay serve` was asked for.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "routes.d", env = "RELAY_ROUTES", value_delimiter = ':', help = super::ROUTES_HELP)]
    pub routes: Vec<PathBuf>,
    /// Address of the `default` listener (default: its `[listener.default]`, else 127.0.0.1:8080).
    #[arg(long, env = "RELAY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Allow listening on a non-loopback address without relay keys.
    #[arg(long)]
    pub allow_open: bool,
    /// Worker threads (default: one per core).
    #[arg(long, env = "RELAY_WORKERS")]
    pub workers: Option<usize>,
    /// Do not watch the routes directory; reload on SIGHUP only.
    #[arg(long)]
    pub no_watch: bool,
    /// Write a traffic log (JSON lines, secrets redacted) of every listener to FILE, truncated at start.
    #[arg(long, value_name = "FILE", env = "RELAY_LOG")]
    pub log: Option<PathBuf>,
    /// Cut logged bodies longer than SIZE, e.g. 64KiB (default; a listener's `log_body_max` wins).
    #[arg(long, value_name = "SIZE", value_parser = super::parse_size)]
    pub log_body_max: Option<u64>,
    /// Where the access log goes, one line per finished request: `-` (stdout), a FILE (appended), or `off`.
    #[arg(long, value_name = "FILE", default_value = "-", env = "RELAY_ACCESS_LOG")]
    pub access_log: String,
    /// Format of the access log and the relay's own logs: text or json.
    #[arg(long, value_name = "FORMAT", default_value = "text", env = "RELAY_LOG_FORMAT")]
    pub log_format: crate::telemetry::access::Format,
    /// Serve /health, /ready and /relay/status on this address, without a relay key (a bare PORT means loopback).
    #[arg(long, value_name = "ADDR", env = "RELAY_ADMIN_LISTEN", value_parser = crate::admin::parse_address)]
    pub admin_listen: Option<SocketAddr>,
    /// After SIGTERM or SIGINT, how long requests and streams may finish before they are ended.
    #[arg(long, value_name = "DURATION", env = "RELAY_DRAIN_TIMEOUT", default_value = "5m", value_parser = super::parse_duration)]
    pub drain_timeout: Duration,
    /// Answer 408 and close a connection whose request head takes longer than DURATION, e.g. 5s (default 10s).
    #[arg(long, value_name = "DURATION", env = "RELAY_HEAD_TIMEOUT", value_parser = super::parse_duration)]
    pub head_timeout: Option<Duration>,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    init_tracing(args.log_format);
    crate::telemetry::metrics::install();
    let (access_log, access_writer) = match open_access_log(&args.access_log, args.log_format) {
        Ok(Some((access_log, writer))) => (Some(access_log), Some(writer)),
        Ok(None) => (None, None),
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let env = Env::from_process();
    for note in &env.findings().notes {
        tracing::info!("{note}");
    }
    let routes = args.routes.as_slice();
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
        && !table.consumers.is_enabled()
        && !args.allow_open
    {
        eprintln!(
            "error: refusing to listen on {} without relay keys: anyone could spend your API key.\n  \
             hint: set {RELAY_KEYS_VAR}=key1,key2 or RELAY_KEY=key (clients send X-Relay-Key or Authorization: Bearer), or pass --allow-open",
            open.1
        );
        return ExitCode::FAILURE;
    }
    log_upstream_keys(&live);
    crate::reload::warnings::log_at_start(&live, &env);
    let logs = match open_logs(table, &addresses, &args, &env) {
        Ok(logs) => logs,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(routes = table.routes.len(), listeners = addresses.len(), dirs = %super::display_dirs(routes), "relay starting");
    drop(live);
    let certs = match load_certs(&reloader.live().load().table, &addresses) {
        Ok(certs) => certs,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut bound = Vec::with_capacity(addresses.len());
    let admin_address = args.admin_listen.map(|addr| ("--admin-listen".to_owned(), addr));
    for (name, addr) in addresses.into_iter().chain(admin_address) {
        match TcpListener::bind(addr) {
            Ok(listener) => bound.push((name, listener)),
            Err(e) => {
                eprintln!("error: cannot listen on {addr} (listener `{name}`): {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let admin_listener = args.admin_listen.and_then(|_| bound.pop()).map(|(_, listener)| listener);

    // The routes directories, and the `schemas/` folder beside each with its subfolders.
    let (dirs, trees): (Vec<PathBuf>, Vec<PathBuf>) =
        (routes.to_vec(), routes.iter().map(|dir| dir.with_file_name("schemas")).collect());
    let watched: Vec<PathBuf> = dirs.iter().chain(&trees).cloned().collect();
    let result = actix_web::rt::System::new().block_on(async move {
        // Watch before anything is announced, then look once more: a change
        // made between the first load and the watch is not missed.
        let (signal, mut reloads) = tokio::sync::mpsc::channel(1);
        let _watcher = (!args.no_watch).then(|| watcher::watch(&dirs, &trees, signal.clone())).and_then(|w| {
            w.map_err(|e| tracing::warn!("Not watching {} for changes: {e}", super::display_dirs(&watched))).ok()
        });
        reloader.reload();
        let signals = StopSignals::install()?;
        let drain = Drain::default();
        let mut servers = Vec::with_capacity(bound.len());
        let state = reloader.live().load().table.consumers.state.clone();
        let meter = crate::quota::Meter::new(&state).map_err(|e| std::io::Error::other(format!("[state]: {e}")))?;
        if state.redis.is_some() {
            tracing::info!("consumers' limits are counted in Redis, shared by every replica");
        }
        for (name, listener) in bound {
            let tls = certs.get(&name).cloned();
            if let Ok(addr) = listener.local_addr() {
                let scheme = if tls.is_some() { "https" } else { "http" };
                tracing::info!(listener = %name, "relay listening on {scheme}://{addr}");
            }
            let options = server::Options {
                workers: args.workers,
                reloader: Some(reloader.clone()),
                traffic_log: logs.get(&name).cloned(),
                access_log: access_log.clone(),
                listener: Some(name),
                tls,
                drain: drain.clone(),
                shutdown_timeout: Some(args.drain_timeout + shutdown::FINAL_GRACE * 2),
                head_timeout: args.head_timeout,
                meter: Some(meter.clone()),
                ..Default::default()
            };
            servers.push(server::run(listener, reloader.live(), &options)?);
        }
        if let Some(listener) = admin_listener {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!("admin listening on http://{addr}");
            }
            let traffic_logs = logs.into_iter().collect();
            let state =
                admin::Admin { reloader: reloader.clone(), drain: drain.clone(), traffic_logs, meter: meter.clone() };
            actix_web::rt::spawn(admin::run(listener, state)?);
        }
        actix_web::rt::spawn(forward_sighup(signal));
        actix_web::rt::spawn(async move {
            while reloads.recv().await.is_some() {
                reloader.reload();
            }
        });
        let stopped = shutdown::serve_until_stopped(servers, signals, drain, args.drain_timeout).await;
        meter.counters.save();
        stopped
    });
    crate::telemetry::traces::shutdown();
    if let Some(writer) = access_writer {
        // The servers are gone, and with them every handle on the log.
        writer.finish(Duration::from_secs(2));
    }
    match result {
        Ok(Stopped::Drained) => ExitCode::SUCCESS,
        Ok(Stopped::Forced) => ExitCode::FAILURE,
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

/// Loads the certificate of each TLS listener that will be opened, and
/// starts polling its files for changes.
fn load_certs(
    table: &Table,
    addresses: &[(String, SocketAddr)],
) -> Result<HashMap<String, Arc<ReloadingCert>>, String> {
    let mut certs = HashMap::new();
    for (name, _) in addresses {
        if let Some(files) = table.listener(name).and_then(|l| l.tls.clone()) {
            let cert = ReloadingCert::load(files).map_err(|e| format!("listener `{name}`: {e}"))?;
            cert.watch();
            certs.insert(name.clone(), cert);
        }
    }
    Ok(certs)
}

/// Opens (truncates) the traffic log files: a listener's own `log`, else
/// `--log`. Listeners naming the same file share its writer. The files are
/// opened once; a reload does not reopen them.
fn open_logs(
    table: &Table,
    addresses: &[(String, SocketAddr)],
    args: &ServeArgs,
    env: &Env,
) -> Result<HashMap<String, TrafficLog>, String> {
    let mut files: HashMap<PathBuf, Arc<LogFile>> = HashMap::new();
    let mut logs = HashMap::new();
    for (name, _) in addresses {
        let listener = table.listener(name);
        let Some(path) = listener.and_then(|l| l.log.clone()).or_else(|| args.log.clone()) else { continue };
        let file = match files.get(&path) {
            Some(file) => file.clone(),
            None => {
                let file = LogFile::open(&path, known_secrets(table, env))
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
fn known_secrets(table: &Table, env: &Env) -> Vec<String> {
    let relay_keys = env.get(RELAY_KEYS_VAR).unwrap_or_default();
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

/// The relay's own logs go to stderr, as text or JSON lines; spans are
/// exported too when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
pub(super) fn init_tracing(format: Format) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        Format::Json => stderr.json().flatten_event(true).boxed(),
        Format::Text => stderr.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).boxed(),
    };
    let traces = crate::telemetry::traces::layer().unwrap_or_else(|e| {
        eprintln!("warning: traces are not exported: {e}");
        None
    });
    let _ = tracing_subscriber::registry().with(logs).with(traces).with(filter).try_init();
}

/// Starts the access log's writer: stdout for `-`, a file (appended), or
/// none for `off`.
fn open_access_log(target: &str, format: Format) -> Result<Option<(AccessLog, Writer)>, String> {
    let output: Box<dyn std::io::Write + Send> = match target {
        "off" => return Ok(None),
        "-" => Box::new(std::io::stdout()),
        path => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the access log {path}: {e}"))?,
        ),
    };
    AccessLog::start(output, format).map(Some).map_err(|e| format!("cannot start the access log: {e}"))
}
