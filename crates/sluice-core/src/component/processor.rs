//! The processor contract (Benthos `public/service/processor.go`).

use async_trait::async_trait;

use super::BoxError;
use crate::message::{Batch, Message};

/// Why a processor failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// A Bloblang mapping failed while executing.
    #[error("{0}")]
    Mapping(#[from] sluice_bloblang::ExecError),
    /// A component-specific failure.
    #[error(transparent)]
    Failed(BoxError),
}

/// The input of a failed processing step handed back with the error, so
/// nothing is lost.
#[derive(Debug)]
pub struct Failed<T> {
    /// What the processor was given.
    pub input: T,
    /// Why it failed.
    pub error: ProcessorError,
}

/// Transforms batches. One instance is shared by every pipeline worker, so
/// `process` takes `&self` and may run concurrently.
///
/// Returns the resulting batches: none means the input was filtered out.
/// A per-message failure is recorded on the message (`set_error`) and the
/// message carries on; `Err` means the whole batch failed and the runtime
/// flags every message with the error.
#[async_trait]
pub trait Processor: Send + Sync {
    /// Processes one batch.
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>>;

    /// Releases resources on shutdown.
    async fn close(&self) -> Result<(), ProcessorError> {
        Ok(())
    }
}

/// A processor that handles one message at a time; [`PerMessage`] lifts it
/// into a [`Processor`].
#[async_trait]
pub trait MessageProcessor: Send + Sync {
    /// Processes one message into zero or more messages.
    async fn process(&self, msg: Message) -> Result<Vec<Message>, Failed<Message>>;
}

/// Adapts a [`MessageProcessor`] to the batch-level [`Processor`] trait.
pub struct PerMessage<P>(pub P);

#[async_trait]
impl<P: MessageProcessor> Processor for PerMessage<P> {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut out = Vec::with_capacity(batch.len());
        for msg in batch {
            match self.0.process(msg).await {
                Ok(msgs) => out.extend(msgs),
                Err(Failed { mut input, error }) => {
                    input.set_error(&error);
                    out.push(input);
                }
            }
        }
        if out.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![Batch::new(out)])
    }
}

/// Runs `processors` in order over `batch`, as a pipeline stage does:
/// each processor sees every batch the previous one produced.
pub async fn run_processors(processors: &[Box<dyn Processor>], batch: Batch) -> Vec<Batch> {
    let Some((first, rest)) = processors.split_first() else {
        return vec![batch];
    };
    let mut batches = run_one(first.as_ref(), batch).await;
    for processor in rest {
        batches = match batches.len() {
            0 => break,
            // The usual case: the processor's own list becomes the next
            // stage's, with no list of our own to fill.
            1 => {
                let only = batches.pop().expect("one batch");
                run_one(processor.as_ref(), only).await
            }
            n => {
                let mut next = Vec::with_capacity(n);
                for batch in batches {
                    next.extend(run_one(processor.as_ref(), batch).await);
                }
                next
            }
        };
    }
    batches
}

/// One processor over one batch: empty results are dropped, and a failed
/// batch goes on with every message flagged.
pub(crate) async fn run_one(processor: &dyn Processor, batch: Batch) -> Vec<Batch> {
    match processor.process(batch).await {
        Ok(mut out) => {
            out.retain(|b| !b.is_empty());
            out
        }
        Err(Failed { mut input, error }) => {
            tracing::error!(error = %error, "Processor failed.");
            for msg in input.iter_mut() {
                msg.set_error(&error);
            }
            vec![input]
        }
    }
}
