//! `relay demo`: the shipped routes in front of the built-in mock upstream,
//! in one process, with no API key and no network.
//!
//! The mock listens on a free loopback port and requires a key made up for
//! this run. The `openai` upstream reaches it through the normal mechanism:
//! `OPENAI_BASE_URL` and `OPENAI_API_KEY` are set for the routes (they win
//! over the shell's), so the relay injects the server key as it would for the
//! real API. `RELAY_KEYS` is ignored, so the printed requests work as they
//! are. Ctrl-C stops both servers.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use super::print_errors;
use crate::compile::RELAY_KEYS_VAR;
use crate::env::Env;
use crate::reload::Reloader;
use crate::{demo, server};

/// What `relay demo` was asked for.
pub struct DemoArgs {
    pub routes: Vec<PathBuf>,
    pub listen: SocketAddr,
}

pub fn demo(args: DemoArgs) -> ExitCode {
    super::serve::init_tracing(crate::telemetry::access::Format::Text);
    let (mock_listener, relay_listener) = match (TcpListener::bind("127.0.0.1:0"), TcpListener::bind(args.listen)) {
        (Ok(mock), Ok(relay)) => (mock, relay),
        (Err(e), _) => return fail(&format!("cannot open a loopback port for the mock upstream: {e}")),
        (_, Err(e)) => {
            return fail(&format!("cannot listen on {}: {e}\n  hint: pass --listen 127.0.0.1:PORT", args.listen));
        }
    };
    let (Ok(mock_addr), Ok(relay_addr)) = (mock_listener.local_addr(), relay_listener.local_addr()) else {
        return fail("cannot read the bound addresses");
    };
    let key = format!("sk-demo-{}", (0..24).map(|_| fastrand::alphanumeric()).collect::<String>());
    let overrides =
        [("OPENAI_BASE_URL".to_owned(), format!("http://{mock_addr}/v1")), ("OPENAI_API_KEY".to_owned(), key.clone())];
    let env =
        move || Env::from_pairs(std::env::vars().filter(|(name, _)| name != RELAY_KEYS_VAR).chain(overrides.clone()));
    let reloader = match Reloader::start(&args.routes, Box::new(env)) {
        Ok(reloader) => reloader,
        Err(errors) => {
            print_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    let result = actix_web::rt::System::new().block_on(async move {
        // Ctrl-C must stop the demo from the moment it is announced.
        let stop = stop_signals()?;
        let mock = demo::mock::serve(mock_listener, Some(key), 1)?;
        let options = server::Options { workers: Some(2), reloader: Some(reloader.clone()), ..Default::default() };
        let relay = server::run(relay_listener, reloader.live(), &options)?;
        let handles = [relay.handle(), mock.handle()];
        actix_web::rt::spawn(async move {
            stop.await;
            for handle in handles {
                handle.stop(true).await;
            }
        });
        tracing::info!("mock upstream listening on http://{mock_addr}");
        announce(&format!("http://{relay_addr}"));
        futures_util::future::try_join(mock, relay).await.map(drop)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM; the handlers are
/// installed when this returns.
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("stopping the demo");
    })
}

/// The URL and the requests to try, on stdout.
fn announce(base: &str) {
    let mut text = format!("\nrelay demo: the shipped routes at {base}/v1, in front of a built-in mock upstream.\n");
    text.push_str("No API key and no network needed. Try, in another terminal:\n");
    for (what, command) in demo::requests(base) {
        text.push_str(&format!("\n# {what}\n{command}\n"));
    }
    text.push_str(&format!(
        "\nOr point an OpenAI SDK at base URL {base}/v1 with any API key. Ctrl-C stops the demo.\n\n"
    ));
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
