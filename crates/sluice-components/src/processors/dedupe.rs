//! `dedupe`: drops messages whose key was seen before, by adding each key
//! to a cache resource: a key the cache already holds is a duplicate.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

use super::one_batch;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DedupeConfig {
    /// The label of the cache resource that remembers keys.
    cache: String,
    /// The key messages are compared by; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    key: String,
    /// Whether a message is dropped when the cache fails (rather than
    /// passed on as if new).
    #[serde(default = "default_true")]
    drop_on_err: bool,
}

const fn default_true() -> bool {
    true
}

struct DedupeProcessor {
    cache: Arc<dyn Cache>,
    key: Interpolation,
    drop_on_err: bool,
}

#[async_trait]
impl Processor for DedupeProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let messages = batch.into_messages();
        let mut keep = Vec::with_capacity(messages.len());
        for index in 0..messages.len() {
            let key = match self.key.render(&messages[..], index) {
                Ok(key) => key,
                Err(err) => {
                    tracing::error!(error = %err, "Dedupe key failed.");
                    keep.push(!self.drop_on_err);
                    continue;
                }
            };
            keep.push(
                match self.cache.add(&key, Bytes::from_static(b"t"), None).await {
                    Ok(()) => true,
                    Err(CacheError::AlreadyExists) => false,
                    Err(err) => {
                        tracing::error!(error = %err, "Dedupe cache failed.");
                        !self.drop_on_err
                    }
                },
            );
        }
        let out: Vec<_> = messages
            .into_iter()
            .zip(keep)
            .filter_map(|(msg, keep)| keep.then_some(msg))
            .collect();
        Ok(one_batch(out))
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: DedupeConfig = builder.config(node)?;
    Ok(Box::new(DedupeProcessor {
        cache: builder.cache_resource(&config.cache, node.mark)?,
        key: builder.interpolation(&config.key, node.mark)?,
        drop_on_err: config.drop_on_err,
    }))
}
