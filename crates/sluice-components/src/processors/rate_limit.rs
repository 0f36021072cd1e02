//! `rate_limit`: holds each message until a rate limit resource grants it
//! an access, as Benthos's processor does.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;
use sluice_core::rate_limit::RateLimit;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitConfig {
    /// The label of the rate limit resource each message waits on.
    resource: String,
}

struct RateLimitProcessor {
    limit: Arc<dyn RateLimit>,
}

impl RateLimitProcessor {
    /// Waits until the limit grants one access. A limit that fails is
    /// logged and asked again a second later, as in Benthos.
    async fn wait_for_access(&self) {
        loop {
            let wait = match self.limit.access().await {
                Ok(wait) => wait,
                Err(err) => {
                    tracing::error!(error = %err, "Failed to access rate limit.");
                    Duration::from_secs(1)
                }
            };
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[async_trait]
impl Processor for RateLimitProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        // One access per message, as Benthos's per-message processor takes.
        for _ in 0..batch.len() {
            self.wait_for_access().await;
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: RateLimitConfig = builder.config(node)?;
    let limit = builder
        .resources()
        .rate_limit(&config.resource)
        .ok_or_else(|| {
            vec![Lint::error(
                node.mark,
                format!("rate limit resource '{}' was not found", config.resource),
            )]
        })?;
    Ok(Box::new(RateLimitProcessor { limit }))
}
