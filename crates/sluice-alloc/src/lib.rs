//! The process's global allocator: mimalloc, with every allocation and
//! deallocation counted against the thread that makes it.
//!
//! A mapping runs on one thread from start to end, so the change in
//! [`thread_net_bytes`] over an execution is the memory it holds; the
//! Bloblang budget stops an execution that holds too much. No allocator
//! crate counts per thread (`cap` and `stats_alloc` keep process-wide
//! atomics, which concurrent requests on other threads would move), and the
//! wrapper is a few forwarding calls.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

use mimalloc::MiMalloc;

thread_local! {
    /// Bytes this thread has allocated less those it has freed. Memory freed
    /// on another thread than the one that allocated it moves both threads'
    /// figures, so only a change over a stretch of work on one thread is
    /// meaningful. Const-initialised and without a destructor: the allocator
    /// may touch it at any point of a thread's life, and touching it never
    /// allocates.
    static THREAD_NET_BYTES: Cell<isize> = const { Cell::new(0) };
}

/// Bytes this thread has allocated less those it has freed, since it
/// started. Always 0 in a process that does not use [`CountingMiMalloc`].
#[inline]
pub fn thread_net_bytes() -> isize {
    THREAD_NET_BYTES.with(Cell::get)
}

#[inline]
fn count(allocated: usize, freed: usize) {
    THREAD_NET_BYTES.with(|net| {
        net.set(
            net.get()
                .wrapping_add_unsigned(allocated)
                .wrapping_sub_unsigned(freed),
        );
    });
}

/// mimalloc, counting what each thread holds (see [`thread_net_bytes`]).
///
/// Each call is counted before it is forwarded, so that the forward is a
/// tail call: two instructions more per allocation instead of a frame
/// around mimalloc's. A failed allocation is then counted as held; that only
/// overstates what a thread holds when an allocation fails, which ends the
/// process anyway unless the caller used `try_reserve`.
pub struct CountingMiMalloc;

// SAFETY: every method forwards to mimalloc's implementation with the same
// arguments and returns its result unchanged; the counting before it only
// touches a thread-local integer.
unsafe impl GlobalAlloc for CountingMiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 0);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { MiMalloc.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 0);
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, passed on.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(0, layout.size());
        // SAFETY: the caller upholds `dealloc`'s contract, passed on.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size, layout.size());
        // SAFETY: the caller upholds `realloc`'s contract, passed on.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static GLOBAL: CountingMiMalloc = CountingMiMalloc;

    #[test]
    fn a_thread_counts_what_it_holds_and_what_it_frees() {
        let before = thread_net_bytes();
        let held = vec![0u8; 1 << 20];
        let holding = thread_net_bytes() - before;
        assert!(holding >= 1 << 20, "holding {holding} bytes");
        drop(held);
        let after = thread_net_bytes() - before;
        assert!(after < 1 << 10, "still {after} bytes after the drop");
    }

    #[test]
    fn growing_a_buffer_counts_its_new_size_not_every_size_it_had() {
        let before = thread_net_bytes();
        let mut grown: Vec<u8> = Vec::with_capacity(16);
        for byte in (0..1 << 20).map(|i: u32| i as u8) {
            grown.push(byte);
        }
        let holding = thread_net_bytes() - before;
        assert!(
            (1 << 20..4 << 20).contains(&holding),
            "holding {holding} bytes for a {} byte buffer",
            grown.capacity()
        );
    }

    #[test]
    fn another_threads_allocations_are_not_counted_here() {
        let before = thread_net_bytes();
        let kept = std::thread::spawn(|| vec![0u8; 4 << 20]).join().unwrap();
        let here = thread_net_bytes() - before;
        assert!(here < 1 << 20, "this thread moved by {here} bytes");
        drop(kept);
    }
}
