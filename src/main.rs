//! The `relay` binary; see [`relay::cli`].

/// mimalloc instead of glibc malloc: a request through the relay allocates
/// and frees many small buffers, and mimalloc does it in about 8 % fewer
/// instructions per request (bench/instructions.py). The memory freed after
/// building a table goes back to the system (`release_freed_memory` in
/// src/live.rs) and transparent huge pages are off (the `no_thp` feature),
/// so the idle RSS stays near glibc's. Only the binary sets it; the library
/// leaves the choice to whoever links it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    relay::cli::main()
}
