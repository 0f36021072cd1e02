//! `stdin`: standard input, split into messages by a scanner (lines unless
//! told otherwise).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;
use sluice_core::transaction::{Ack, Transaction};

use crate::codec::{ScanReader, Scanner};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StdinConfig {
    /// Deprecated: how the input is split into messages (lines, delim:x,
    /// csv, csv:x or all-bytes); when set it wins over scanner.
    #[serde(default)]
    codec: Option<String>,
    /// Deprecated: the longest message the codec reads, in bytes.
    #[serde(default = "default_max_buffer")]
    max_buffer: usize,
    /// How the input is split into messages: lines (the default), csv or
    /// to_the_end.
    #[serde(default)]
    #[schemars(with = "Option<crate::codec::ScannerSchema>", extend("default" = {"lines": {}}))]
    scanner: Option<Node>,
}

impl Default for StdinConfig {
    fn default() -> Self {
        Self {
            codec: None,
            max_buffer: default_max_buffer(),
            scanner: None,
        }
    }
}

/// Benthos's default for the deprecated `max_buffer` field.
pub(crate) const fn default_max_buffer() -> usize {
    1_000_000
}

struct StdinInput {
    reader: ScanReader<tokio::io::Stdin>,
}

#[async_trait]
impl Input for StdinInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        match self.reader.next().await {
            Ok(Some(msg)) => Ok(Transaction::new(Batch::from(msg), Ack::detached())),
            Ok(None) => Err(InputError::EndOfInput),
            // The reader yields nothing after an error, so the next read ends
            // the input.
            Err(err) => Err(InputError::Failed(Box::new(err))),
        }
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: StdinConfig = builder.config(node)?;
    let scanner = Scanner::for_input(
        builder,
        config.codec.as_deref(),
        config.max_buffer,
        config.scanner.as_ref(),
        node.get("codec").map_or(node.mark, |codec| codec.mark),
    )?;
    Ok(Box::new(StdinInput {
        reader: ScanReader::new(tokio::io::stdin(), scanner),
    }))
}
