//! Connections to upstreams: the one TCP connector ([`connect`]), the awc
//! clients built on it ([`client`]), shared by upstream requests, WebSocket
//! upstreams and the file fetcher, and the check that tells a chunked body
//! cut by a close from a complete one ([`eof`]).

pub mod client;
pub mod connect;
pub mod eof;
