//! `generate`: creates messages from a Bloblang mapping on an interval.

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::{Lint, Node, parse_go_duration};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use sluice_core::transaction::{Ack, Transaction};

use crate::processors::mapping::MappingProcessor;

fn default_interval() -> String {
    "1s".to_owned()
}
fn default_batch_size() -> usize {
    1
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateConfig {
    /// The Bloblang mapping that creates each message.
    #[schemars(with = "sluice_core::config::json_schema::MappingText")]
    mapping: Node,
    /// How often a batch is created; empty or 0s creates them as fast as possible.
    #[serde(default = "default_interval")]
    #[schemars(with = "sluice_core::config::GoDuration")]
    interval: String,
    /// How many messages to create before the input ends; 0 means no limit.
    #[serde(default)]
    count: u64,
    /// How many messages each batch holds.
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    /// Whether rejected messages are delivered again.
    #[serde(default = "default_true")]
    auto_replay_nacks: bool,
}

fn default_true() -> bool {
    true
}

struct GenerateInput {
    mapping: MappingProcessor,
    interval: Option<Duration>,
    remaining: Option<u64>,
    batch_size: usize,
    first: bool,
}

#[async_trait]
impl Input for GenerateInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        if self.remaining == Some(0) {
            return Err(InputError::EndOfInput);
        }
        if let Some(interval) = self.interval
            && !self.first
        {
            tokio::time::sleep(interval).await;
        }
        self.first = false;
        let n = match self.remaining {
            Some(left) => {
                let n = left.min(self.batch_size as u64);
                self.remaining = Some(left - n);
                n as usize
            }
            None => self.batch_size,
        };
        let seeds: Vec<Message> = (0..n).map(|_| Message::new(Vec::new())).collect();
        let messages = self.mapping.apply(seeds);
        Ok(Transaction::new(Batch::new(messages), Ack::detached()))
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: GenerateConfig = builder.config(node)?;
    let _ = config.auto_replay_nacks;
    let mapping = builder.mapping(&config.mapping)?;
    let interval = if config.interval.is_empty() {
        None
    } else {
        let parsed = parse_go_duration(&config.interval).map_err(|e| {
            vec![Lint::error(
                node.mark,
                format!("interval '{}' is not supported: {e}", config.interval),
            )]
        })?;
        (!parsed.is_zero()).then_some(parsed)
    };
    Ok(Box::new(GenerateInput {
        mapping: MappingProcessor::new(mapping),
        interval,
        remaining: (config.count > 0).then_some(config.count),
        batch_size: config.batch_size.max(1),
        first: true,
    }))
}
