//! The sluice command line.

mod cli;

// Requests allocate many small, short-lived buffers; mimalloc's thread-local
// free lists make that markedly cheaper than glibc malloc under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
