//! `sync_response` processor: stores the batch as it is now as the response
//! of the request it came from, and passes it on unchanged.

use async_trait::async_trait;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;
use sluice_core::response::store_responses;

struct SyncResponseProcessor;

#[async_trait]
impl Processor for SyncResponseProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let missing = store_responses(&batch);
        if missing > 0 {
            tracing::debug!(messages = missing, "No response store in message context.");
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let _: sluice_core::config::json_schema::NoFields = builder.config(node)?;
    Ok(Box::new(SyncResponseProcessor))
}
