//! The async runtime the commands run on.

use tokio::runtime::Builder;

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
