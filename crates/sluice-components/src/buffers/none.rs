//! `none` buffer: the input is coupled straight to the pipeline, so
//! acknowledgements travel from the output all the way back to the input.

use std::sync::Arc;

use sluice_core::component::buffer::Buffer;
use sluice_core::config::Node;
use sluice_core::config::json_schema::NoFields;
use sluice_core::environment::{BuildResult, Builder};

pub(crate) fn build(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Option<Arc<dyn Buffer>>> {
    if !node.is_null() {
        let _: NoFields = builder.config(node)?;
    }
    Ok(None)
}
