//! `crash`: logs an interpolated message at the highest level and ends the
//! process with exit status 1, as Benthos's fatal log does. For configs
//! that treat a message reaching some branch as a bug worth a restart.

use async_trait::async_trait;
use sluice_bloblang::Interpolation;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

struct Crash {
    message: Interpolation,
}

#[async_trait]
impl Processor for Crash {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let text = match self.message.render(&batch[..], 0) {
            Ok(text) => text,
            Err(err) => format!("failed to interpolate crash message: {err}"),
        };
        tracing::error!(fatal = true, "{text}");
        // The log writer is synchronous: the line is out before the exit.
        std::process::exit(1);
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let message: String = builder.config(node)?;
    Ok(Box::new(Crash {
        message: builder.interpolation(&message, node.mark)?,
    }))
}
