//! `parallel`: runs its children on each message of a batch as a batch of
//! one, like `for_each`, but on up to `cap` messages at once. The results
//! keep the order of the messages they came from.

use async_trait::async_trait;
use futures::StreamExt as _;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::processor::{Failed, Processor, run_processors};
use sluice_core::config::Node;
use sluice_core::config::json_schema::ProcessorNode;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

use super::one_batch;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParallelConfig {
    /// The most messages processed at a time; 0 is the whole batch at once.
    #[serde(default)]
    cap: usize,
    /// The processors run on each message.
    #[schemars(with = "Vec<ProcessorNode>")]
    processors: Vec<Node>,
}

struct Parallel {
    cap: usize,
    children: Vec<Box<dyn Processor>>,
}

#[async_trait]
impl Processor for Parallel {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let width = match self.cap {
            0 => batch.len().max(1),
            cap => cap,
        };
        // `buffered` polls up to `width` runs concurrently and yields them in
        // the order they were started: the batch's order.
        let runs: Vec<Vec<Batch>> = futures::stream::iter(batch)
            .map(|msg| run_processors(&self.children, Batch::from(msg)))
            .buffered(width)
            .collect()
            .await;
        let out: Vec<_> = runs.into_iter().flatten().flatten().collect();
        Ok(one_batch(out))
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: ParallelConfig = builder.config(node)?;
    Ok(Box::new(Parallel {
        cap: config.cap,
        children: builder.processor_list(&config.processors)?,
    }))
}
