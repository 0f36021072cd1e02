//! Panics that a method recovers from on purpose (a third-party decoder
//! tripping over corrupt input): the method turns them into its error, so
//! the process's panic report on stderr would only alarm the operator.

use std::any::Any;
use std::cell::Cell;
use std::panic::UnwindSafe;

thread_local! {
    static RECOVERING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, returning its panic payload instead of unwinding further.
pub(crate) fn recover<R>(f: impl FnOnce() -> R + UnwindSafe) -> Result<R, Box<dyn Any + Send>> {
    let outer = RECOVERING.replace(true);
    let result = std::panic::catch_unwind(f);
    RECOVERING.set(outer);
    result
}

/// Whether the panic under way on this thread will be recovered from; a
/// panic hook leaves such panics unreported.
pub fn is_recovering() -> bool {
    RECOVERING.get()
}
