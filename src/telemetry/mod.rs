//! What an operator sees of the running relay: Prometheus metrics
//! ([`metrics`]), the access log ([`access`]), one line per finished
//! request, and traces exported over OTLP ([`traces`]). Both are fed by the executor when an answer's last byte has gone
//! out ([`Finished`]) and by the rare events along the way (reloads,
//! refusals, upstream failures); neither ever blocks or changes a request.

pub mod access;
pub mod finished;
pub mod metrics;
pub mod traces;

pub use finished::Finished;
