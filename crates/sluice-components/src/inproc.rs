//! The named in-process pipes that join `inproc` outputs to `inproc` inputs
//! of the streams of one process (Benthos's manager pipes).
//!
//! A pipe carries whole transactions, acknowledgement included: an `inproc`
//! output's write completes only once the reading stream's output has
//! delivered the batch, and fails when it did not.

use std::collections::HashMap;
use std::sync::Mutex;

use sluice_core::transaction::Transaction;

/// The receiving end of a pipe. Every input of the pipe's name holds a
/// clone, so transactions go to whichever is free first.
pub(crate) type PipeReceiver = async_channel::Receiver<Transaction>;

/// The pipes of a process, by name. One instance is shared by every stream
/// of the process (see `Resources::insert`); a build without one gets a
/// private instance, which joins nothing.
#[derive(Default)]
pub struct InprocPipes {
    pipes: Mutex<HashMap<String, PipeReceiver>>,
}

impl InprocPipes {
    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, PipeReceiver>> {
        self.pipes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `receiver` the pipe named `name`, replacing the pipe of an
    /// earlier output of that name (only one output holds a name).
    pub(crate) fn set(&self, name: &str, receiver: PipeReceiver) {
        self.locked().insert(name.to_owned(), receiver);
    }

    /// The pipe named `name`, if an output holds it.
    pub(crate) fn get(&self, name: &str) -> Option<PipeReceiver> {
        self.locked().get(name).cloned()
    }

    /// Removes the pipe named `name` if it is still `receiver`'s: an output
    /// that was replaced leaves its successor's pipe alone.
    pub(crate) fn unset(&self, name: &str, receiver: &PipeReceiver) {
        let mut pipes = self.locked();
        if pipes.get(name).is_some_and(|r| r.same_channel(receiver)) {
            pipes.remove(name);
        }
    }
}
