//! Output-level batching: merges transactions until a count, size or period
//! is reached, then hands one merged transaction on.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::component::processor::{Processor, run_processors};
use crate::config::Node;
use crate::message::{Batch, Message};
use crate::transaction::{Ack, Transaction};

/// The `batching` field of outputs and brokers (Benthos batch policy).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BatchPolicyConfig {
    /// Flush after this many messages (0 = no limit).
    pub count: usize,
    /// Flush after this many bytes (0 = no limit).
    pub byte_size: usize,
    /// Flush after this long since the first message ("" = never).
    #[schemars(with = "crate::config::GoDuration")]
    pub period: String,
    /// A Bloblang condition ending a batch (not supported yet).
    #[schemars(with = "crate::config::json_schema::MappingText")]
    pub check: String,
    /// Processors applied to each flushed batch.
    #[schemars(with = "Vec<crate::config::json_schema::ProcessorNode>")]
    pub processors: Vec<Node>,
}

impl BatchPolicyConfig {
    /// Whether the policy batches at all.
    pub fn is_noop(&self) -> bool {
        self.count <= 1 && self.byte_size == 0 && self.period.is_empty() && self.check.is_empty()
    }
}

/// A built batch policy.
pub struct BatchPolicy {
    /// Flush after this many messages (0 = no limit).
    pub count: usize,
    /// Flush after this many bytes (0 = no limit).
    pub byte_size: usize,
    /// Flush this long after the first message of a batch.
    pub period: Option<Duration>,
    /// Applied to each flushed batch.
    pub processors: Vec<Box<dyn Processor>>,
}

impl BatchPolicy {
    /// Builds a policy from its config; `None` when it does not batch.
    pub fn from_config(
        config: &BatchPolicyConfig,
        processors: Vec<Box<dyn Processor>>,
    ) -> Result<Option<BatchPolicy>, String> {
        if config.is_noop() {
            return Ok(None);
        }
        if !config.check.is_empty() {
            return Err("batching field check is not supported yet".to_owned());
        }
        let period = if config.period.is_empty() {
            None
        } else {
            Some(crate::config::parse_go_duration(&config.period)?)
        };
        Ok(Some(BatchPolicy {
            count: config.count,
            byte_size: config.byte_size,
            period,
            processors,
        }))
    }
}

struct Pending {
    messages: Vec<Message>,
    acks: Vec<Ack>,
    bytes: usize,
    deadline: Option<Instant>,
}

impl Pending {
    fn new() -> Self {
        Self {
            messages: Vec::new(),
            acks: Vec::new(),
            bytes: 0,
            deadline: None,
        }
    }

    fn take(&mut self) -> (Batch, Ack) {
        let batch = Batch::new(std::mem::take(&mut self.messages));
        let ack = Ack::merge(std::mem::take(&mut self.acks));
        self.bytes = 0;
        self.deadline = None;
        (batch, ack)
    }
}

/// Runs the batcher: reads transactions from `rx` until it closes, sends
/// merged transactions to `flush`. Pending messages are flushed at the end.
pub async fn run_batcher<F, Fut>(
    policy: BatchPolicy,
    mut rx: mpsc::Receiver<Transaction>,
    mut flush: F,
) where
    F: FnMut(Transaction) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut pending = Pending::new();
    loop {
        let deadline = pending.deadline;
        let received = tokio::select! {
            tx = rx.recv() => tx,
            () = sleep_until(deadline) => {
                flush_pending(&policy, &mut pending, &mut flush).await;
                continue;
            }
        };
        let Some(Transaction { batch, ack }) = received else {
            break;
        };
        if pending.messages.is_empty()
            && let Some(period) = policy.period
        {
            pending.deadline = Some(Instant::now() + period);
        }
        pending.bytes += batch.iter().map(|m| m.content().len()).sum::<usize>();
        pending.messages.extend(batch);
        pending.acks.push(ack);
        let full = (policy.count > 0 && pending.messages.len() >= policy.count)
            || (policy.byte_size > 0 && pending.bytes >= policy.byte_size);
        if full {
            flush_pending(&policy, &mut pending, &mut flush).await;
        }
    }
    if !pending.messages.is_empty() {
        flush_pending(&policy, &mut pending, &mut flush).await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn flush_pending<F, Fut>(policy: &BatchPolicy, pending: &mut Pending, flush: &mut F)
where
    F: FnMut(Transaction) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (batch, ack) = pending.take();
    let batches = run_processors(&policy.processors, batch).await;
    let acks = ack.split(batches.len());
    for (batch, ack) in batches.into_iter().zip(acks) {
        flush(Transaction::new(batch, ack)).await;
    }
}
