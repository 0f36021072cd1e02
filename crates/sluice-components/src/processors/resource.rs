//! `resource` processor: the processor resource with that label.

use sluice_core::component::processor::Processor;
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    builder.resource_processor(node)
}
