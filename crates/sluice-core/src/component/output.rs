//! The output contract.

use async_trait::async_trait;

use super::BoxError;
use crate::message::Batch;

/// Why an output could not write a batch.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Not (or no longer) connected; the runtime reconnects.
    #[error("not connected")]
    NotConnected,
    /// The output refuses the batch by design (`reject`), with its reason.
    #[error("{reason}")]
    Rejected {
        /// The text the caller sees.
        reason: String,
    },
    /// The write failed.
    #[error(transparent)]
    Failed(BoxError),
}

/// A destination for batches. Up to `max_in_flight` writes run concurrently,
/// so methods take `&self`.
#[async_trait]
pub trait Output: Send + Sync {
    /// Establishes the connection; retried with backoff until it succeeds.
    /// No batch is written before it has.
    async fn connect(&self) -> Result<(), OutputError> {
        Ok(())
    }

    /// Writes one batch. `Ok` means the destination confirmed it.
    async fn write(&self, batch: &Batch) -> Result<(), OutputError>;

    /// Flushes and disconnects on shutdown.
    async fn close(&self) -> Result<(), OutputError> {
        Ok(())
    }

    /// Whether the output is currently connected (for `/ready`).
    fn connected(&self) -> bool {
        true
    }
}
