//! Connections to upstreams: the one TCP connector ([`connect`]) and the
//! awc clients built on it ([`client`]), shared by upstream requests,
//! WebSocket upstreams and the file fetcher.

pub mod client;
pub mod connect;
