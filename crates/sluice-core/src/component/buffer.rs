//! The buffer contract: an optional stage between the input (with its own
//! processors) and the pipeline, which takes over the input's
//! acknowledgements (Benthos `buffer`).

use async_trait::async_trait;

use super::BoxError;
use crate::transaction::Transaction;

/// Why a buffer refused a write or has nothing more to read.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// `end_of_input` was called and everything buffered has been read and
    /// acknowledged; the stream drains and ends.
    #[error("end of buffer")]
    EndOfBuffer,
    /// The batch alone is larger than the buffer's whole limit.
    #[error("message body larger than buffer space")]
    TooLarge,
    /// The buffer was closed while the write waited for space.
    #[error("buffer was closed")]
    Closed,
    /// The stream stopped before the message's window was complete.
    #[error("message rejected as window did not complete")]
    WindowIncomplete,
    /// A message's timestamp could not be worked out.
    #[error("{0}")]
    Timestamp(#[source] BoxError),
}

/// A write the buffer did not take: the transaction is handed back and the
/// runtime nacks it with the error.
#[derive(Debug)]
pub struct WriteRejected {
    /// The transaction, ack unresolved.
    pub tx: Transaction,
    /// Why it was refused.
    pub error: BufferError,
}

/// A buffer. One instance per stream, shared by the tasks that write to it
/// and the one task that reads from it.
#[async_trait]
pub trait Buffer: Send + Sync {
    /// Called for every transaction the input's processors let through, by
    /// as many tasks at once as there are pipeline threads. On `Ok` the
    /// buffer owns the transaction's ack and resolves it when its guarantee
    /// holds: once stored (`memory`), or once the batch it ends up in was
    /// delivered (`system_window`). May wait for space (back pressure).
    async fn write(&self, tx: Transaction) -> Result<(), WriteRejected>;

    /// Called in a loop by one task: the next batch for the pipeline. Its
    /// ack tells the buffer how delivery went (a nack may make the buffer
    /// hand the messages out again). Cancel-safe: dropping the future loses
    /// no message. After `end_of_input`, ends with `EndOfBuffer` once the
    /// buffer is empty.
    async fn read(&self) -> Result<Transaction, BufferError>;

    /// The input has ended and every write into the buffer has finished:
    /// nothing more will be written. Idempotent.
    fn end_of_input(&self);

    /// Called once when the stream is asked to stop, before the input lets
    /// its accepted work finish. A buffer that holds acknowledgements until
    /// something later happens (a window closing) gives them up here, so
    /// that callers are not kept waiting until the shutdown timeout.
    fn stopping(&self) {}
}
