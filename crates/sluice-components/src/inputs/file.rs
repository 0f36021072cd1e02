//! `file`: reads files line by line, one message per line.

use std::collections::VecDeque;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Value;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::transaction::Transaction;

use super::stdin::LineReader;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The files to read; glob patterns are expanded.
    paths: Vec<String>,
    /// How files are split into messages, such as lines or all-bytes.
    #[serde(default)]
    codec: Option<String>,
    /// Whether each file is deleted once it has been read.
    #[serde(default)]
    delete_on_finish: bool,
}

struct FileInput {
    pending: VecDeque<String>,
    current: Option<(String, LineReader<tokio::fs::File>)>,
    delete_on_finish: bool,
}

#[async_trait]
impl Input for FileInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        loop {
            if let Some((path, reader)) = &mut self.current {
                match reader.next().await {
                    Ok(mut tx) => {
                        for msg in tx.batch.iter_mut() {
                            msg.set_meta("path", Value::from(path.as_str()));
                        }
                        return Ok(tx);
                    }
                    Err(InputError::EndOfInput) => {
                        if self.delete_on_finish
                            && let Err(err) = tokio::fs::remove_file(&*path).await
                        {
                            tracing::warn!(error = %err, path = %path, "Failed to delete consumed file.");
                        }
                        self.current = None;
                    }
                    Err(err) => return Err(err),
                }
            }
            let Some(path) = self.pending.pop_front() else {
                return Err(InputError::EndOfInput);
            };
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| InputError::Failed(format!("{path}: {e}").into()))?;
            self.current = Some((path, LineReader::new(file)));
        }
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: FileConfig = builder.config(node)?;
    crate::codec::Codec::parse(config.codec.as_deref(), node.mark)?;
    Ok(Box::new(FileInput {
        pending: config.paths.into(),
        current: None,
        delete_on_finish: config.delete_on_finish,
    }))
}
