//! The sluice command line.

mod cli;

// Requests allocate many small, short-lived buffers; mimalloc's thread-local
// free lists make that markedly cheaper than glibc malloc under load. The
// wrapper counts what each thread holds, which the Bloblang memory limit
// reads.
#[global_allocator]
static GLOBAL: sluice_alloc::CountingMiMalloc = sluice_alloc::CountingMiMalloc;

fn main() -> std::process::ExitCode {
    quiet_on_closed_stdout();
    cli::runtime::install_long_mapping_handoff();
    // The commands run on a thread with the same deep stack as the runtime's
    // workers: a single-core run drives its streams from this thread.
    std::thread::Builder::new()
        .name("sluice-main".to_owned())
        .stack_size(cli::runtime::THREAD_STACK_BYTES)
        .spawn(cli::main)
        .expect("the main thread starts")
        .join()
        .unwrap_or(std::process::ExitCode::FAILURE)
}

/// Rust ignores SIGPIPE, so printing to a pipe whose reader has gone (as in
/// `sluice list --format jsonschema | head`) panics in `println!`. Exit the
/// way a Go program such as Benthos does on SIGPIPE instead, without a
/// panic report. A panic a Bloblang method recovers from (and reports as
/// its error) is not reported either; every other panic keeps the default
/// report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if sluice_bloblang::recovered_panic::is_recovering() {
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            // 128 + SIGPIPE, the status a shell reports for a process it killed.
            std::process::exit(141);
        }
        default(info);
    }));
}
