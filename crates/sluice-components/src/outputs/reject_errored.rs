//! `reject_errored`: messages flagged with a processing error are refused
//! with that error (a caller sees it, a broker redelivers), and the rest
//! go to the output, as Benthos's.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::{Batch, Message};

use super::broker::Child;

struct RejectErroredOutput {
    child: Child,
}

#[async_trait]
impl Output for RejectErroredOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        self.child.connect().await
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let (failed, ok): (Vec<&Message>, Vec<&Message>) =
            batch.iter().partition(|m| m.error().is_some());
        if !ok.is_empty() {
            let part: Batch = ok.into_iter().cloned().collect();
            self.child.write_once(&part).await?;
        }
        match failed.first().and_then(|m| m.error()) {
            Some(reason) => Err(OutputError::Rejected {
                reason: format!("rejected due to failed processing: {reason}"),
            }),
            None => Ok(()),
        }
    }

    async fn close(&self) -> Result<(), OutputError> {
        self.child.output.close().await
    }

    fn connected(&self) -> bool {
        self.child.output.connected()
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let child = Child::build(node, builder)?;
    Ok(BuiltOutput {
        output: Arc::new(RejectErroredOutput { child }),
        max_in_flight: 64,
        batching: None,
    })
}
