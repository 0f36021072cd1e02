//! `retry`: writes to its output again after a failure, with backoff, as
//! Benthos's: at most `max_retries` times (0 is forever) and, when set, for
//! at most `backoff.max_elapsed_time`.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::{GoDuration, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;
use sluice_core::runtime::backoff::Backoff;
use sluice_core::runtime::retries::{Retries, RetryPolicy};

use super::broker::Child;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryConfig {
    /// The most retries of a batch; 0 retries forever.
    #[serde(default)]
    max_retries: u64,
    /// The waits between attempts.
    #[serde(default)]
    backoff: RetryBackoff,
    /// The output written to.
    #[schemars(with = "sluice_core::config::json_schema::OutputNode")]
    output: Node,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryBackoff {
    /// The first wait.
    #[serde(default = "default_initial")]
    initial_interval: GoDuration,
    /// The longest wait.
    #[serde(default = "default_max")]
    max_interval: GoDuration,
    /// How long a batch is retried in all; 0s is no limit.
    #[serde(default)]
    max_elapsed_time: Option<GoDuration>,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            initial_interval: default_initial(),
            max_interval: default_max(),
            max_elapsed_time: None,
        }
    }
}

fn default_initial() -> GoDuration {
    GoDuration::from_millis(500)
}

fn default_max() -> GoDuration {
    GoDuration::from_secs(3)
}

struct RetryOutput {
    child: Child,
    policy: RetryPolicy,
}

#[async_trait]
impl Output for RetryOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        self.child.connect().await
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let mut retries = Retries::start(&self.policy);
        loop {
            let err = match self.child.write_once(batch).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if !retries.again(batch, &err).await {
                return Err(err);
            }
        }
    }

    async fn close(&self) -> Result<(), OutputError> {
        self.child.output.close().await
    }

    fn connected(&self) -> bool {
        self.child.output.connected()
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: RetryConfig = builder.config(node)?;
    let child = Child::build(&config.output, builder)?;
    Ok(BuiltOutput {
        output: Arc::new(RetryOutput {
            child,
            policy: RetryPolicy {
                max_retries: config.max_retries,
                backoff: Backoff::new(
                    config.backoff.initial_interval.0,
                    config.backoff.max_interval.0,
                )
                .with_factor(1.5)
                .with_jitter(0.5),
                max_elapsed: config
                    .backoff
                    .max_elapsed_time
                    .map(|d| d.0)
                    .filter(|d| !d.is_zero()),
            },
        }),
        max_in_flight: 64,
        batching: None,
    })
}
