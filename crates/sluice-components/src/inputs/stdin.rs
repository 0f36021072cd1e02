//! `stdin`: one message per line of standard input.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use sluice_core::transaction::{Ack, Transaction};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StdinConfig {
    /// How the input is split into messages, such as lines or delim:X.
    codec: Option<String>,
    /// The largest message size in bytes.
    max_buffer: Option<usize>,
}

/// Reads lines from any byte stream (shared with the `file` input).
pub(crate) struct LineReader<R> {
    lines: Lines<BufReader<R>>,
}

impl<R: AsyncRead + Unpin + Send> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            lines: BufReader::new(reader).lines(),
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Transaction, InputError> {
        loop {
            match self.lines.next_line().await {
                Ok(Some(line)) if line.is_empty() => continue,
                Ok(Some(line)) => {
                    return Ok(Transaction::new(
                        Batch::from(Message::new(line)),
                        Ack::detached(),
                    ));
                }
                Ok(None) => return Err(InputError::EndOfInput),
                Err(e) => return Err(InputError::Failed(Box::new(e))),
            }
        }
    }
}

struct StdinInput {
    reader: LineReader<tokio::io::Stdin>,
}

#[async_trait]
impl Input for StdinInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        self.reader.next().await
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: StdinConfig = builder.config(node)?;
    let _ = config.max_buffer;
    crate::codec::Codec::parse(config.codec.as_deref(), node.mark)?;
    Ok(Box::new(StdinInput {
        reader: LineReader::new(tokio::io::stdin()),
    }))
}
