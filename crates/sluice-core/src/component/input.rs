//! The input contract.

use async_trait::async_trait;

use super::BoxError;
use crate::transaction::Transaction;

/// Why an input could not produce a transaction.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input lost its connection; the runtime reconnects with backoff.
    #[error("not connected")]
    NotConnected,
    /// The input has nothing more to read; the stream ends gracefully.
    #[error("end of input")]
    EndOfInput,
    /// Anything else; logged, then retried with backoff.
    #[error(transparent)]
    Failed(BoxError),
}

/// A source of transactions.
///
/// One reader task owns the input and calls `connect` (with backoff until it
/// succeeds), then `read` in a loop, then `close` on shutdown.
#[async_trait]
pub trait Input: Send {
    /// Establishes the connection. Called again after `NotConnected`.
    async fn connect(&mut self) -> Result<(), InputError>;

    /// Waits for the next transaction. Cancel-safe: dropping the future loses
    /// no message.
    async fn read(&mut self) -> Result<Transaction, InputError>;

    /// Stops accepting new data; called once, during shutdown.
    async fn close(&mut self) -> Result<(), InputError> {
        Ok(())
    }

    /// Offers a dispatcher for handing transactions to the pipeline
    /// directly. Inputs that receive requests on their own tasks may keep it
    /// and dispatch from there; `read` then only needs to wait for the end.
    /// Called once, before `connect`.
    fn attach_dispatcher(&mut self, dispatcher: crate::runtime::stream::Dispatcher) {
        drop(dispatcher);
    }

    /// Whether the input is currently connected (for `/ready`).
    fn connected(&self) -> bool {
        true
    }
}
