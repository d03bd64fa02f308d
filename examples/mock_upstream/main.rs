//! The mock OpenAI upstream of `relay demo` ([`relay::demo::mock`]) on its
//! own, for tests that need a separate upstream (`tests/sdk/run.sh`,
//! `tests/node/run.sh`).
//!
//! ```text
//! cargo run --example mock_upstream -- --listen 127.0.0.1:4010
//! ```
//!
//! It prints `OPENAI_BASE_URL=http://ADDR/v1` once it listens (port 0 picks a
//! free port). With `MOCK_API_KEY` set, every request must carry
//! `Authorization: Bearer $MOCK_API_KEY`. One line per request goes to stderr.

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;

const USAGE: &str = "usage: mock_upstream [--listen 127.0.0.1:4010]";

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).init();
    let mut args = std::env::args().skip(1);
    let listen = match (args.next().as_deref(), args.next(), args.next()) {
        (None, ..) => "127.0.0.1:4010".to_owned(),
        (Some("--listen"), Some(addr), None) => addr,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (Ok(addr), Ok(server)) =
        (listener.local_addr(), relay::demo::mock::serve(listener, std::env::var("MOCK_API_KEY").ok(), 2))
    else {
        eprintln!("error: the mock upstream could not start");
        return ExitCode::FAILURE;
    };
    let _ = writeln!(std::io::stdout().lock(), "OPENAI_BASE_URL=http://{addr}/v1");
    match server.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
