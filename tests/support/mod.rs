//! Shared parts of the real-socket tests: a recording test upstream
//! ([`upstream`]) and a relay started in-process or as the real binary
//! ([`relay`]), a raw HTTP/1.1 client ([`raw`]), golden files
//! ([`golden`]), a WebSocket test upstream ([`ws_upstream`]), a test
//! certificate authority ([`tls`]) and reading a log file as it is
//! written ([`log_file`]). Everything listens on 127.0.0.1 with port 0.

#![allow(dead_code)] // each test crate uses a different part

pub mod golden;
pub mod log_file;
pub mod raw;
pub mod relay;
pub mod tls;
pub mod upstream;
pub mod ws_upstream;
