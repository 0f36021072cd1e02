//! `mutation`: changes each message in place with Bloblang. Unlike
//! `mapping`, the new document starts as the message's own, so `root.x = 1`
//! adds a field and leaves the rest, and metadata not assigned is kept.

use async_trait::async_trait;
use sluice_bloblang::{Mapping, Root};
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use super::mapping::apply_result;
use super::one_batch;

pub(crate) struct MutationProcessor {
    mapping: Mapping,
}

#[async_trait]
impl Processor for MutationProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let batch = batch.into_messages();
        // As with `mapping`, every result is computed before any message
        // changes: a mutation may read the batch's other messages.
        let results: Vec<_> = (0..batch.len())
            .map(|index| {
                let root = document_of(&batch[index]);
                self.mapping.exec_onto(&batch[..], index, root, None)
            })
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for (mut msg, result) in batch.into_iter().zip(results) {
            if apply_result(&mut msg, result) {
                out.push(msg);
            }
        }
        Ok(one_batch(out))
    }
}

/// The document a mapping that changes a message in place starts from (a
/// mutation, a branch's `result_map`): the message's structured form, or
/// nothing for content that does not parse (a mapping that only sets
/// metadata then leaves the bytes alone).
pub(crate) fn document_of(msg: &Message) -> Root {
    match msg.structured() {
        Ok(value) => Root::Value(value.clone()),
        Err(_) => Root::Nothing,
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let mapping = builder.mapping(node)?;
    Ok(Box::new(MutationProcessor { mapping }))
}
