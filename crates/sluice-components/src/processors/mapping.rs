//! `mapping` (and its older alias `bloblang`): builds a new document from
//! each message with a Bloblang mapping.

use async_trait::async_trait;
use sluice_bloblang::{ExecError, Mapping, MappingOutput, Root};
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

pub(crate) struct MappingProcessor {
    mapping: Mapping,
}

impl MappingProcessor {
    pub(crate) fn new(mapping: Mapping) -> Self {
        Self { mapping }
    }

    /// Applies the mapping to every message of `batch`; the batch view lets
    /// mappings read other messages and `batch_index()`.
    pub(crate) fn apply(&self, mut batch: Vec<Message>) -> Vec<Message> {
        // Every result is computed before any message changes, since a
        // mapping may read the other messages of the batch. A lone message
        // has no others, so it is mapped in place without the lists.
        if batch.len() == 1 {
            let result = self.mapping.exec(&batch[..], 0);
            if !apply_result(&mut batch[0], result) {
                batch.clear();
            }
            return batch;
        }
        let results: Vec<_> = (0..batch.len())
            .map(|index| self.mapping.exec(&batch[..], index))
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for (mut msg, result) in batch.into_iter().zip(results) {
            if apply_result(&mut msg, result) {
                out.push(msg);
            }
        }
        out
    }
}

/// Applies one mapping result to its message; false when the mapping
/// deleted the message.
pub(crate) fn apply_result(msg: &mut Message, result: Result<MappingOutput, ExecError>) -> bool {
    match result {
        Ok(result) => {
            if let Some(metadata) = result.metadata {
                msg.set_metadata(metadata);
            }
            match result.root {
                Root::Nothing => {}
                Root::Deleted => return false,
                Root::Value(value) => match value {
                    sluice_bloblang::Value::String(_) | sluice_bloblang::Value::Bytes(_) => {
                        msg.set_content(value.to_message_bytes());
                    }
                    other => msg.set_structured(other),
                },
            }
            true
        }
        Err(err) => {
            tracing::error!(error = %err, "Mapping failed.");
            msg.set_error(&err);
            true
        }
    }
}

#[async_trait]
impl Processor for MappingProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let out = self.apply(batch.into_messages());
        if out.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![Batch::new(out)])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let mapping = builder.mapping(node)?;
    Ok(Box::new(MappingProcessor::new(mapping)))
}
