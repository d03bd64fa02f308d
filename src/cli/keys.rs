//! `relay keys`: fresh relay keys and their digests, printed with the TOML
//! to paste into a `[consumer.NAME]` table. Only the digest goes in the
//! file; the key itself is shown once, for the consumer.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use base64::Engine;
use clap::Subcommand;

use crate::policy::consumer::written_digest;

/// `relay keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a fresh key for consumer NAME and the TOML that admits it.
    New {
        /// The consumer's name, e.g. `alice` or `support-gpt`.
        name: String,
    },
    /// Print the `sha256:` digest of each key read from standard input (one per line).
    Hash,
}

/// Runs `relay keys ...`.
pub fn run(command: KeysCommand) -> ExitCode {
    match command {
        KeysCommand::New { name } => {
            let mut random = [0u8; 24];
            if let Err(e) = getrandom::fill(&mut random) {
                eprintln!("error: the system's random generator failed: {e}");
                return ExitCode::FAILURE;
            }
            let slug: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            let key = format!("rk-{slug}-{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random));
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "# The key, for {name} only (it is not stored anywhere):\n#   {key}\n");
            let _ = writeln!(out, "[consumer.{}]\nkeys = [\"{}\"]", toml_key(&name), written_digest(&key));
            ExitCode::SUCCESS
        }
        KeysCommand::Hash => {
            let mut out = std::io::stdout().lock();
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                let key = line.trim();
                if !key.is_empty() {
                    let _ = writeln!(out, "{}", written_digest(key));
                }
            }
            ExitCode::SUCCESS
        }
    }
}

/// A table name as TOML writes it: bare when it can be, else quoted.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare { name.to_owned() } else { format!("{name:?}") }
}
