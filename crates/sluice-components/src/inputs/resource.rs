//! `resource` input: the input resource with that label. The builder
//! resolves it, since the resource brings its own processors.

use sluice_core::component::input::Input;
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};

pub(crate) fn build(node: &Node, _builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    Err(vec![Lint::error(
        node.mark,
        "a resource input is resolved where an input is expected",
    )])
}
