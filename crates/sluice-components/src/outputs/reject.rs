//! `reject`: fails every write with an interpolated reason.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_bloblang::Interpolation;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;

struct RejectOutput {
    reason: Interpolation,
}

#[async_trait]
impl Output for RejectOutput {
    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let reason = self
            .reason
            .render(&batch[..], 0)
            .unwrap_or_else(|err| err.to_string());
        Err(OutputError::Rejected { reason })
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let text: String = builder.config(node)?;
    let reason = builder.interpolation(&text, node.mark)?;
    Ok(BuiltOutput {
        output: Arc::new(RejectOutput { reason }),
        max_in_flight: 64,
        batching: None,
    })
}
