//! The async runtime the commands run on.

use tokio::runtime::{Builder, Handle, RuntimeFlavor};

/// The stack of every thread that runs pipelines. A message may nest as
/// deep as Go's JSON decoder allows (10,000 levels), and parsing, mapping,
/// encoding and dropping such a value each recurse once per level; tokio's
/// default of 2 MiB overflows near 5,000. Stacks are reserved address space,
/// committed only as deep as a thread has reached, so this costs memory only
/// for the messages that need it.
pub(crate) const THREAD_STACK_BYTES: usize = 128 << 20;

/// A multi-threaded runtime builder with the deep stacks.
pub(crate) fn multi_thread() -> Builder {
    let mut builder = Builder::new_multi_thread();
    builder.thread_stack_size(THREAD_STACK_BYTES);
    builder
}

/// A current-thread runtime builder; its tasks run on the calling thread,
/// which `main` starts with the deep stack.
pub(crate) fn current_thread() -> Builder {
    let mut builder = Builder::new_current_thread();
    builder.thread_stack_size(THREAD_STACK_BYTES);
    builder
}

/// Lets a long-running mapping give up its worker: the worker's other tasks
/// (requests queued behind it, the accept loop) move to a fresh thread while
/// the mapping finishes on this one. Only a multi-threaded runtime can; on
/// a current-thread runtime there is no other worker to go to.
pub(crate) fn install_long_mapping_handoff() {
    sluice_bloblang::budget::on_long_run(|| {
        if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
            // Entering hands the worker's core to a new thread; leaving
            // takes it back unless that thread has picked it up, so the
            // closure gives it a millisecond to. This thread then carries
            // on as a blocking one until the task yields.
            tokio::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(1)));
        }
    });
}
