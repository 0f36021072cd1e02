//! `broker` output: sends messages to several outputs with one of six
//! patterns (spec 5).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::{join_all, select_all, try_join_all};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;
use sluice_core::runtime::backoff::Backoff;
use sluice_core::runtime::batching::{BatchPolicy, BatchPolicyConfig, BatchedOutput};
use sluice_core::runtime::retries::{Retries, RetryPolicy};
use tokio::sync::Semaphore;

fn default_copies() -> usize {
    1
}
fn default_pattern() -> String {
    "fan_out".to_owned()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrokerConfig {
    /// How many copies of the child outputs to run.
    #[serde(default = "default_copies")]
    copies: usize,
    /// How messages are routed: fan_out, fan_out_fail_fast, fan_out_sequential, fan_out_sequential_fail_fast, round_robin or greedy.
    #[serde(default = "default_pattern")]
    pattern: String,
    /// The child outputs.
    #[serde(default)]
    #[schemars(with = "Vec<sluice_core::config::json_schema::OutputNode>")]
    outputs: Vec<Node>,
    /// How messages are batched before they are routed.
    #[serde(default)]
    batching: BatchPolicyConfig,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pattern {
    FanOut,
    FanOutFailFast,
    FanOutSequential,
    FanOutSequentialFailFast,
    RoundRobin,
    Greedy,
}

impl Pattern {
    fn parse(name: &str) -> Option<Pattern> {
        Some(match name {
            "fan_out" => Pattern::FanOut,
            "fan_out_fail_fast" => Pattern::FanOutFailFast,
            "fan_out_sequential" => Pattern::FanOutSequential,
            "fan_out_sequential_fail_fast" => Pattern::FanOutSequentialFailFast,
            "round_robin" => Pattern::RoundRobin,
            "greedy" => Pattern::Greedy,
            _ => return None,
        })
    }
}

/// One child with its own in-flight limit; also the child of `switch`,
/// `fallback`, `retry`, `drop_on` and `reject_errored`.
pub(crate) struct Child {
    pub(crate) output: Arc<dyn Output>,
    slots: Semaphore,
    /// The child's component type, for log lines.
    pub(crate) type_name: String,
}

impl Child {
    /// Builds the output of `node` as a child; a child with `batching` of
    /// its own batches the writes it is given.
    pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Child> {
        let built = BatchedOutput::wrap(builder.output(node)?);
        Ok(Child {
            output: built.output,
            slots: Semaphore::new(built.max_in_flight.max(1)),
            type_name: child_type(node),
        })
    }

    /// Connects the child, logging a failure.
    pub(crate) async fn connect(&self) -> Result<(), OutputError> {
        self.output.connect().await.inspect_err(|err| {
            tracing::error!(error = %err, "Failed to connect to {}: {err}", self.type_name);
        })
    }

    pub(crate) async fn write_once(&self, batch: &Batch) -> Result<(), OutputError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("child semaphore is never closed");
        let res = self.output.write(batch).await;
        if matches!(res, Err(OutputError::NotConnected)) {
            // The broker as a whole stays connected while one child lost its
            // connection: the child reconnects here, or its writes would fail
            // forever.
            if let Err(err) = self.output.connect().await {
                tracing::error!(error = %err, "Failed to connect to {}: {err}", self.type_name);
            }
        }
        res
    }

    /// Benthos wraps fan_out children in an indefinite retry: 500ms growing
    /// by 1.5x with jitter up to 3s. The batch is only given up once every
    /// caller of its messages has stopped waiting (a propagated deadline);
    /// retried on, it would be written after the caller's 408.
    pub(crate) async fn write_retrying(&self, batch: &Batch) -> Result<(), OutputError> {
        let forever = RetryPolicy {
            max_retries: 0,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(3))
                .with_factor(1.5)
                .with_jitter(0.5),
            max_elapsed: None,
        };
        let mut retries =
            Retries::start(&forever).announcing("Broker child failed to write, retrying.");
        loop {
            match self.write_once(batch).await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    if !retries.again(batch, &err).await {
                        return Err(err);
                    }
                }
            }
        }
    }
}

/// The component type of a child's config (its key other than the common
/// fields).
fn child_type(node: &Node) -> String {
    node.as_map()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str())
        .find(|k| !["label", "processors"].contains(k))
        .unwrap_or("output")
        .to_owned()
}

struct BrokerOutput {
    pattern: Pattern,
    children: Vec<Child>,
    next: AtomicUsize,
}

#[async_trait]
impl Output for BrokerOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        for child in &self.children {
            if let Err(err) = child.output.connect().await {
                tracing::error!(error = %err, "Failed to connect to {}: {err}", child.type_name);
                return Err(err);
            }
        }
        Ok(())
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        match self.pattern {
            Pattern::FanOut => {
                // A child gives up only for callers that have gone: the
                // write then counts as failed, not delivered.
                join_all(self.children.iter().map(|c| c.write_retrying(batch)))
                    .await
                    .into_iter()
                    .collect()
            }
            Pattern::FanOutFailFast => {
                try_join_all(self.children.iter().map(|c| c.write_once(batch))).await?;
                Ok(())
            }
            Pattern::FanOutSequential => {
                for child in &self.children {
                    child.write_retrying(batch).await?;
                }
                Ok(())
            }
            Pattern::FanOutSequentialFailFast => {
                for child in &self.children {
                    child.write_once(batch).await?;
                }
                Ok(())
            }
            Pattern::RoundRobin => {
                let index = self.next.fetch_add(1, Ordering::Relaxed) % self.children.len();
                self.children[index].write_once(batch).await
            }
            Pattern::Greedy => {
                // The first child with a free slot takes the batch; when all
                // are busy, whichever frees up first.
                for child in &self.children {
                    if let Ok(_slot) = child.slots.try_acquire() {
                        return child.output.write(batch).await;
                    }
                }
                let waits = self
                    .children
                    .iter()
                    .map(|c| Box::pin(async move { (c.slots.acquire().await, c) }));
                let ((slot, child), _, _) = select_all(waits).await;
                let _slot = slot.expect("child semaphore is never closed");
                child.output.write(batch).await
            }
        }
    }

    async fn close(&self) -> Result<(), OutputError> {
        for child in &self.children {
            child.output.close().await?;
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.children.iter().all(|c| c.output.connected())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: BrokerConfig = builder.config(node)?;
    let pattern = Pattern::parse(&config.pattern).ok_or_else(|| {
        vec![Lint::error(
            node.get("pattern").map_or(node.mark, |n| n.mark),
            format!("broker pattern '{}' was not recognised", config.pattern),
        )]
    })?;
    if config.outputs.is_empty() {
        return Err(vec![Lint::error(
            node.mark,
            "at least one child output must be specified",
        )]);
    }
    let mut lints = Vec::new();
    let mut children = Vec::new();
    for _ in 0..config.copies.max(1) {
        for child in &config.outputs {
            match Child::build(child, builder) {
                Ok(child) => children.push(child),
                Err(l) => lints.extend(l),
            }
        }
    }
    let batch_processors = builder
        .processor_list(&config.batching.processors)
        .map_err(|l| lints.extend(l))
        .unwrap_or_default();
    let batching = BatchPolicy::from_config(&config.batching, batch_processors)
        .map_err(|e| lints.push(Lint::error(node.mark, e)))
        .ok()
        .flatten();
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(BuiltOutput {
        output: Arc::new(BrokerOutput {
            pattern,
            children,
            next: AtomicUsize::new(0),
        }),
        max_in_flight: 64,
        batching,
    })
}
