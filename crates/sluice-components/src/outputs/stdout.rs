//! `stdout`: writes each message to standard output, one per line.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::codec::{Codec, encode};

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StdoutConfig {
    /// How messages are separated in the output, such as lines or delim:X.
    codec: Option<String>,
}

struct StdoutOutput {
    codec: Codec,
    stdout: Mutex<tokio::io::Stdout>,
}

#[async_trait]
impl Output for StdoutOutput {
    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let bytes = encode(self.codec, batch);
        let mut out = self.stdout.lock().await;
        out.write_all(&bytes)
            .await
            .map_err(|e| OutputError::Failed(Box::new(e)))?;
        out.flush()
            .await
            .map_err(|e| OutputError::Failed(Box::new(e)))
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: StdoutConfig = builder.config(node)?;
    let codec = Codec::parse(config.codec.as_deref(), node.mark)?;
    Ok(BuiltOutput {
        output: Arc::new(StdoutOutput {
            codec,
            stdout: Mutex::new(tokio::io::stdout()),
        }),
        max_in_flight: 1,
        batching: None,
    })
}
