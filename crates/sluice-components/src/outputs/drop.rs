//! `drop`: acknowledges and discards every message.

use async_trait::async_trait;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;

struct DropOutput;

#[async_trait]
impl Output for DropOutput {
    async fn write(&self, _batch: &Batch) -> Result<(), OutputError> {
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let _: sluice_core::config::json_schema::NoFields = builder.config(node)?;
    Ok(BuiltOutput {
        output: std::sync::Arc::new(DropOutput),
        max_in_flight: 64,
        batching: None,
    })
}
