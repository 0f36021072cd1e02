//! `cached`: answers a message from a cache resource when its key is there,
//! and otherwise runs child processors and stores what they produced, as
//! Benthos's: an expensive lookup (an `http` call, say) is made once per key.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Interpolation, Mapping, Root, Value};
use sluice_core::cache::{Cache, CacheError};
use sluice_core::component::processor::{Failed, Processor, run_processors};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use crate::caches::parse_ttl;

use super::one_batch;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CachedConfig {
    /// The label of the cache resource.
    cache: String,
    /// The key results are stored under; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    key: String,
    /// How long a stored result lives; supports interpolation.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    ttl: Option<String>,
    /// A Bloblang query over the result: when true, it is not stored.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::MappingText>")]
    skip_on: Option<Node>,
    /// The processors that compute a result on a miss.
    #[schemars(with = "Vec<sluice_core::config::json_schema::ProcessorNode>")]
    processors: Vec<Node>,
}

struct CachedProcessor {
    cache: Arc<dyn Cache>,
    key: Interpolation,
    ttl: Option<Interpolation>,
    skip_on: Option<Mapping>,
    processors: Vec<Box<dyn Processor>>,
}

impl CachedProcessor {
    async fn one(&self, batch: &[Message], index: usize) -> Vec<Message> {
        let mut msg = batch[index].clone();
        let key = match self.key.render(batch, index) {
            Ok(key) => key,
            Err(err) => {
                msg.set_error(format!("cached key: {err}"));
                return vec![msg];
            }
        };
        match self.cache.get(&key).await {
            Ok(hit) => {
                msg.set_content(hit);
                return vec![msg];
            }
            Err(CacheError::NotFound) => {}
            Err(err) => {
                // The cache is down: the result is computed, as on a miss.
                tracing::warn!(error = %err, "Cached lookup failed.");
            }
        }
        let ttl = match self.ttl.as_ref().map(|t| t.render(batch, index)) {
            None => None,
            Some(Ok(text)) => match parse_ttl(&text) {
                Ok(ttl) => ttl,
                Err(err) => {
                    msg.set_error(format!("cached ttl: {err}"));
                    return vec![msg];
                }
            },
            Some(Err(err)) => {
                msg.set_error(format!("cached ttl: {err}"));
                return vec![msg];
            }
        };
        let results: Vec<Message> = run_processors(&self.processors, Batch::from(msg))
            .await
            .into_iter()
            .flatten()
            .collect();
        if let [result] = &results[..]
            && result.error().is_none()
            && !self.skip(result)
            && let Err(err) = self.cache.set(&key, result.bytes(), ttl).await
        {
            tracing::warn!(error = %err, "Storing a cached result failed.");
        }
        results
    }

    fn skip(&self, result: &Message) -> bool {
        let Some(skip_on) = &self.skip_on else {
            return false;
        };
        match skip_on.exec(std::slice::from_ref(result), 0) {
            Ok(out) => matches!(out.root, Root::Value(Value::Bool(true))),
            Err(err) => {
                tracing::warn!(error = %err, "cached skip_on failed, result not stored.");
                true
            }
        }
    }
}

#[async_trait]
impl Processor for CachedProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let messages = batch.into_messages();
        let mut out = Vec::with_capacity(messages.len());
        for index in 0..messages.len() {
            out.extend(self.one(&messages, index).await);
        }
        Ok(one_batch(out))
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: CachedConfig = builder.config(node)?;
    Ok(Box::new(CachedProcessor {
        cache: builder.cache_resource(&config.cache, node.mark)?,
        key: builder.interpolation(&config.key, node.mark)?,
        ttl: config
            .ttl
            .as_deref()
            .map(|t| builder.interpolation(t, node.mark))
            .transpose()?,
        skip_on: config
            .skip_on
            .as_ref()
            .map(|n| builder.mapping(n))
            .transpose()?,
        processors: builder.processor_list(&config.processors)?,
    }))
}
