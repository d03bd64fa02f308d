//! How `relay serve` stops: SIGTERM or SIGINT starts a drain, a second
//! signal ends it at once.
//!
//! On the first signal `/ready` turns 503 ([`Drain::begin`]) and every
//! traffic listener stops gracefully: it accepts no new connections, closes
//! idle keep-alive ones, and lets requests in flight finish (their
//! connections close after the response). When all have finished the
//! process exits. When the drain timeout passes first, open event streams
//! end with an error event and WebSocket sessions with close code 1001
//! ([`Drain::reach_deadline`]); whatever is still open [`FINAL_GRACE`] later
//! is cut. The admin address keeps answering until the end.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use actix_web::dev::Server;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::drain::Drain;

/// After the drain deadline, how long the final events have to reach the
/// clients before the remaining connections are cut.
pub const FINAL_GRACE: Duration = Duration::from_secs(1);

/// How the relay stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every request finished (or ended at the deadline).
    Drained,
    /// A second signal ended the drain.
    Forced,
}

/// The two stop signals.
pub struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Takes over SIGTERM and SIGINT (from now on they no longer kill the process).
    pub fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Runs the traffic servers until they fail, or until a signal and the drain.
pub async fn serve_until_stopped(
    servers: Vec<Server>,
    mut signals: StopSignals,
    drain: Drain,
    timeout: Duration,
) -> std::io::Result<Stopped> {
    let handles: Vec<_> = servers.iter().map(Server::handle).collect();
    let mut running = pin!(futures_util::future::try_join_all(servers));
    let name = tokio::select! {
        result = &mut running => return result.map(|_| Stopped::Drained),
        name = signals.next() => name,
    };
    let shown = humantime::format_duration(timeout);
    tracing::info!("{name} received: draining, up to {shown} (a second signal stops at once)");
    drain.begin();
    for handle in handles {
        actix_web::rt::spawn(async move { handle.stop(true).await });
    }
    let stopped = race(&mut running, &mut signals, tokio::time::sleep(timeout)).await;
    if stopped.is_some() {
        return finish(stopped);
    }
    tracing::warn!("drain timeout ({shown}) passed: ending open streams");
    drain.reach_deadline();
    finish(race(&mut running, &mut signals, tokio::time::sleep(FINAL_GRACE)).await.or(Some(Stopped::Drained)))
}

/// `Some` when the servers stopped or a second signal came before `timer`.
async fn race(running: &mut (impl Future + Unpin), signals: &mut StopSignals, timer: impl Future) -> Option<Stopped> {
    tokio::select! {
        _ = running => Some(Stopped::Drained),
        name = signals.next() => {
            tracing::warn!("{name} received again: stopping now");
            Some(Stopped::Forced)
        }
        _ = timer => None,
    }
}

fn finish(stopped: Option<Stopped>) -> std::io::Result<Stopped> {
    let stopped = stopped.unwrap_or(Stopped::Drained);
    if stopped == Stopped::Drained {
        tracing::info!("relay stopped");
    }
    Ok(stopped)
}
