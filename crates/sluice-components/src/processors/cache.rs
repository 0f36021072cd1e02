//! `cache`: one operation per message on a cache resource (set, add, get,
//! delete, exists), with an interpolated key, value and TTL, as Benthos's.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use crate::caches::parse_ttl;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheProcessorConfig {
    /// The label of the cache resource.
    resource: String,
    /// `set`, `add`, `get`, `delete` or `exists`.
    operator: String,
    /// The key; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    key: String,
    /// The value stored by `set` and `add`; supports interpolation.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    value: Option<String>,
    /// How long a stored value lives, overriding the cache's default;
    /// supports interpolation.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    ttl: Option<String>,
}

#[derive(Clone, Copy)]
enum Operator {
    Set,
    Add,
    Get,
    Delete,
    Exists,
}

struct CacheProcessor {
    cache: Arc<dyn Cache>,
    operator: Operator,
    key: Interpolation,
    value: Option<Interpolation>,
    ttl: Option<Interpolation>,
}

impl CacheProcessor {
    /// Applies the operator to message `index`; an error flags the message.
    async fn apply(&self, batch: &[Message], index: usize) -> Result<Option<Bytes>, String> {
        let key = self.key.render(batch, index).map_err(|e| e.to_string())?;
        let ttl = match &self.ttl {
            Some(ttl) => parse_ttl(&ttl.render(batch, index).map_err(|e| e.to_string())?)?,
            None => None,
        };
        let value = || -> Result<Bytes, String> {
            match &self.value {
                Some(value) => value
                    .render(batch, index)
                    .map(Bytes::from)
                    .map_err(|e| e.to_string()),
                None => Ok(batch[index].bytes()),
            }
        };
        let outcome = match self.operator {
            Operator::Set => self.cache.set(&key, value()?, ttl).await.map(|()| None),
            Operator::Add => self.cache.add(&key, value()?, ttl).await.map(|()| None),
            Operator::Get => self.cache.get(&key).await.map(Some),
            Operator::Delete => self.cache.delete(&key).await.map(|()| None),
            Operator::Exists => match self.cache.get(&key).await {
                Ok(_) => Ok(Some(Bytes::from_static(b"true"))),
                Err(CacheError::NotFound) => Ok(Some(Bytes::from_static(b"false"))),
                Err(err) => Err(err),
            },
        };
        outcome.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Processor for CacheProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut messages = batch.into_messages();
        let mut results = Vec::with_capacity(messages.len());
        for index in 0..messages.len() {
            results.push(self.apply(&messages, index).await);
        }
        for (msg, result) in messages.iter_mut().zip(results) {
            match result {
                Ok(Some(content)) => msg.set_content(content),
                Ok(None) => {}
                Err(err) => {
                    tracing::debug!(error = %err, "Cache operation failed.");
                    msg.set_error(err);
                }
            }
        }
        Ok(vec![Batch::new(messages)])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: CacheProcessorConfig = builder.config(node)?;
    let operator = match config.operator.as_str() {
        "set" => Operator::Set,
        "add" => Operator::Add,
        "get" => Operator::Get,
        "delete" => Operator::Delete,
        "exists" => Operator::Exists,
        other => {
            return Err(vec![Lint::error(
                node.mark,
                format!("cache operator '{other}' is not one of set, add, get, delete or exists"),
            )]);
        }
    };
    let cache = builder.cache_resource(&config.resource, node.mark)?;
    let interpolation = |text: &str| builder.interpolation(text, node.mark);
    Ok(Box::new(CacheProcessor {
        cache,
        operator,
        key: interpolation(&config.key)?,
        value: config.value.as_deref().map(interpolation).transpose()?,
        ttl: config.ttl.as_deref().map(interpolation).transpose()?,
    }))
}
