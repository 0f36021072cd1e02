//! `file`: appends messages to a file whose path may be interpolated.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::codec::{Codec, encode};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The file messages are written to; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    path: String,
    /// How messages are separated in the file, such as lines or all-bytes.
    #[serde(default)]
    codec: Option<String>,
}

struct FileOutput {
    path: Interpolation,
    codec: Codec,
    // Serialises appends so lines from concurrent writes never interleave.
    lock: Mutex<()>,
}

#[async_trait]
impl Output for FileOutput {
    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let _guard = self.lock.lock().await;
        for (index, msg) in batch.iter().enumerate() {
            let path = self
                .path
                .render(&batch[..], index)
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
            if let Some(parent) = std::path::Path::new(&path).parent()
                && !parent.as_os_str().is_empty()
            {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| OutputError::Failed(Box::new(e)))?;
            }
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
            let bytes = encode(self.codec, &Batch::from(msg.clone()));
            file.write_all(&bytes)
                .await
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
            file.flush()
                .await
                .map_err(|e| OutputError::Failed(Box::new(e)))?;
        }
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: FileConfig = builder.config(node)?;
    Ok(BuiltOutput {
        output: Arc::new(FileOutput {
            path: builder.interpolation(&config.path, node.mark)?,
            codec: Codec::parse(config.codec.as_deref(), node.mark)?,
            lock: Mutex::new(()),
        }),
        max_in_flight: 1,
        batching: None,
    })
}
