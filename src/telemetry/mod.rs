//! What an operator sees of the running relay: Prometheus metrics
//! ([`metrics`]) and the access log ([`access`]), one line per finished
//! request. Both are fed by the executor when an answer's last byte has gone
//! out ([`Finished`]) and by the rare events along the way (reloads,
//! refusals, upstream failures); neither ever blocks or changes a request.

pub mod access;
pub mod finished;
pub mod metrics;

pub use finished::Finished;
