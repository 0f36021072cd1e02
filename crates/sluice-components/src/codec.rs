//! The byte framings shared by stream-like inputs and outputs.

use sluice_core::config::{Lint, Mark};
use sluice_core::environment::BuildResult;
use sluice_core::message::Batch;

/// How messages are framed in a byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    /// One message per line.
    Lines,
    /// Each message written as is (outputs) / the whole stream is one message (inputs).
    AllBytes,
}

impl Codec {
    /// Parses a Benthos codec name; absent means `lines`.
    pub(crate) fn parse(name: Option<&str>, mark: Mark) -> BuildResult<Codec> {
        match name.unwrap_or("lines") {
            "lines" => Ok(Codec::Lines),
            "all-bytes" | "to_the_end" => Ok(Codec::AllBytes),
            other => Err(vec![Lint::error(
                mark,
                format!("codec '{other}' is not supported yet"),
            )]),
        }
    }
}

/// Frames `batch` for writing.
pub(crate) fn encode(codec: Codec, batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    for msg in batch.iter() {
        out.extend_from_slice(msg.content());
        if codec == Codec::Lines {
            out.push(b'\n');
        }
    }
    out
}
