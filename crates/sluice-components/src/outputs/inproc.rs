//! `inproc` output: hands transactions to the `inproc` inputs of the same
//! name in this process. A write completes when the reading stream's output
//! delivered the batch, and fails with its error when it did not.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;
use sluice_core::transaction::{Ack, Outcome, Transaction};

use crate::inproc::{InprocPipes, PipeReceiver};

/// How many writes wait on readers at once: Benthos forwards transactions
/// without waiting for their acknowledgements, so its limit is the
/// pipeline's, not the output's.
const MAX_IN_FLIGHT: usize = 64;

struct InprocOutput {
    name: String,
    pipes: Arc<InprocPipes>,
    sender: async_channel::Sender<Transaction>,
    receiver: PipeReceiver,
}

#[async_trait]
impl Output for InprocOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        self.pipes.set(&self.name, self.receiver.clone());
        tracing::info!(pipe = %self.name, "Sending inproc messages to ID: {}.", self.name);
        Ok(())
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let (ack, delivery) = Ack::pair();
        self.sender
            .send(Transaction::new(batch.clone(), ack))
            .await
            .map_err(|_| OutputError::NotConnected)?;
        match delivery.await {
            Outcome::Delivered => Ok(()),
            Outcome::Failed(err) => Err(OutputError::Failed(Box::new(err))),
        }
    }

    async fn close(&self) -> Result<(), OutputError> {
        self.pipes.unset(&self.name, &self.receiver);
        // Readers finish what is queued, then look for the name's next pipe.
        self.sender.close();
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let name: Option<String> = builder.config(node)?;
    let pipes = builder.resources().get::<InprocPipes>().unwrap_or_default();
    // The smallest buffer there is: Benthos's pipe is unbuffered.
    let (sender, receiver) = async_channel::bounded(1);
    Ok(BuiltOutput {
        output: Arc::new(InprocOutput {
            name: name.unwrap_or_default(),
            pipes,
            sender,
            receiver,
        }),
        max_in_flight: MAX_IN_FLIGHT,
        batching: None,
    })
}
