//! `resource` output: the output resource with that label.

use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    builder.resource_output(node)
}
