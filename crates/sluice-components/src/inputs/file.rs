//! `file`: reads files one after another, split into messages by a scanner
//! (lines unless told otherwise).

use std::collections::VecDeque;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Value;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;
use sluice_core::transaction::{Ack, Transaction};

use crate::codec::{ScanReader, Scanner};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The files to read; glob patterns are expanded.
    paths: Vec<String>,
    /// Deprecated: how files are split into messages (lines, delim:x, csv,
    /// csv:x or all-bytes); when set it wins over scanner.
    #[serde(default)]
    codec: Option<String>,
    /// Deprecated: the longest message the codec reads, in bytes.
    #[serde(default = "super::stdin::default_max_buffer")]
    max_buffer: usize,
    /// How files are split into messages: lines (the default), csv or
    /// to_the_end.
    #[serde(default)]
    #[schemars(with = "Option<crate::codec::ScannerSchema>", extend("default" = {"lines": {}}))]
    scanner: Option<Node>,
    /// Whether each file is deleted once it has been read.
    #[serde(default)]
    delete_on_finish: bool,
}

struct FileInput {
    pending: VecDeque<String>,
    current: Option<(String, ScanReader<tokio::fs::File>)>,
    scanner: Scanner,
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
                    Ok(Some(mut msg)) => {
                        msg.set_meta("path", Value::from(path.as_str()));
                        return Ok(Transaction::new(Batch::from(msg), Ack::detached()));
                    }
                    Ok(None) => {
                        if self.delete_on_finish
                            && let Err(err) = tokio::fs::remove_file(&*path).await
                        {
                            tracing::warn!(error = %err, path = %path, "Failed to delete consumed file.");
                        }
                        self.current = None;
                    }
                    // As in Benthos, the rest of a file that fails to scan
                    // is dropped and the next file follows.
                    Err(err) => {
                        let failed = format!("{path}: {err}");
                        self.current = None;
                        return Err(InputError::Failed(failed.into()));
                    }
                }
            }
            let Some(path) = self.pending.pop_front() else {
                return Err(InputError::EndOfInput);
            };
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| InputError::Failed(format!("{path}: {e}").into()))?;
            self.current = Some((path, ScanReader::new(file, self.scanner.clone())));
        }
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: FileConfig = builder.config(node)?;
    let scanner = Scanner::for_input(
        builder,
        config.codec.as_deref(),
        config.max_buffer,
        config.scanner.as_ref(),
        node.get("codec").map_or(node.mark, |codec| codec.mark),
    )?;
    Ok(Box::new(FileInput {
        pending: config.paths.into(),
        current: None,
        scanner,
        delete_on_finish: config.delete_on_finish,
    }))
}
