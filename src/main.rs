//! The `relay` binary; see [`relay::cli`].

fn main() -> std::process::ExitCode {
    relay::cli::main()
}
