//! `error_handling.strict` in a stage: a message that failed a step skips the
//! steps after it, so it reaches the output unchanged since its failure.

use async_trait::async_trait;

use crate::component::processor::{Failed, Processor, run_one};
use crate::message::{Batch, Message};

/// Runs the wrapped step on the messages of a batch that have not failed;
/// failed messages pass it by. The step's results come first, then the
/// messages that skipped it, as the `try` processor orders them.
pub struct SkipFailed {
    inner: Box<dyn Processor>,
}

impl SkipFailed {
    /// Wraps one stage step.
    pub fn new(inner: Box<dyn Processor>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Processor for SkipFailed {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        if batch.iter().all(|msg| msg.error().is_none()) {
            return self.inner.process(batch).await;
        }
        let (healthy, failed): (Vec<Message>, Vec<Message>) =
            batch.into_iter().partition(|msg| msg.error().is_none());
        let mut out = if healthy.is_empty() {
            Vec::new()
        } else {
            // A failure is flagged here, as a stage flags it, rather than
            // handed on, which would overwrite the skipped messages' errors.
            run_one(self.inner.as_ref(), Batch::new(healthy)).await
        };
        match out.last_mut() {
            Some(last) => last.extend(failed),
            None => out.push(Batch::new(failed)),
        }
        Ok(out)
    }

    async fn close(&self) -> Result<(), crate::component::processor::ProcessorError> {
        self.inner.close().await
    }
}
