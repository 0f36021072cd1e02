//! Output-level batching: merges transactions until a count, size or period
//! is reached, then hands one merged transaction on.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::component::output::{Output, OutputError};
use crate::component::processor::{Processor, run_processors};
use crate::config::Node;
use crate::environment::BuiltOutput;
use crate::message::{Batch, Message};
use crate::transaction::{Ack, DeliveryError, Outcome, Transaction};

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

/// An output with its own `batching`, used where it is the child of
/// another output (a broker's, a switch's case, a fallback's tier): each
/// write joins the pending batch and returns once the merged batch it went
/// out in is written, with that write's result. Up to `max_in_flight`
/// merged batches are written at once; writes waiting to join are not
/// limited, so that a batch can fill from concurrent callers.
pub struct BatchedOutput {
    inner: Arc<dyn Output>,
    policy: std::sync::Mutex<Option<BatchPolicy>>,
    max_in_flight: usize,
    // Started with the first write, inside the runtime.
    sender: tokio::sync::OnceCell<mpsc::Sender<Transaction>>,
}

impl BatchedOutput {
    /// Wraps `built` when it batches; returns it as it is otherwise.
    pub fn wrap(built: BuiltOutput) -> BuiltOutput {
        let Some(policy) = built.batching else {
            return built;
        };
        BuiltOutput {
            output: Arc::new(BatchedOutput {
                inner: built.output,
                policy: std::sync::Mutex::new(Some(policy)),
                max_in_flight: built.max_in_flight.max(1),
                sender: tokio::sync::OnceCell::new(),
            }),
            // Writes wait in the batch, not for a slot.
            max_in_flight: tokio::sync::Semaphore::MAX_PERMITS,
            batching: None,
        }
    }

    fn start(&self) -> mpsc::Sender<Transaction> {
        let policy = self
            .policy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .expect("the batcher starts once");
        let (sender, receiver) = mpsc::channel(self.max_in_flight);
        let (inner, slots) = (
            Arc::clone(&self.inner),
            Arc::new(tokio::sync::Semaphore::new(self.max_in_flight)),
        );
        tokio::spawn(run_batcher(policy, receiver, move |tx| {
            let (inner, slots) = (Arc::clone(&inner), Arc::clone(&slots));
            async move {
                let slot = slots.acquire_owned().await.expect("never closed");
                tokio::spawn(async move {
                    let outcome = match inner.write(&tx.batch).await {
                        Ok(()) => Outcome::Delivered,
                        Err(err) => Outcome::Failed(DeliveryError::Output(Arc::new(err))),
                    };
                    tx.ack.resolve(outcome);
                    drop(slot);
                });
            }
        }));
        sender
    }
}

#[async_trait::async_trait]
impl Output for BatchedOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        self.inner.connect().await
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let sender = self.sender.get_or_init(|| async { self.start() }).await;
        let (ack, delivery) = Ack::pair();
        sender
            .send(Transaction::new(batch.clone(), ack))
            .await
            .map_err(|_| OutputError::NotConnected)?;
        match delivery.await {
            Outcome::Delivered => Ok(()),
            Outcome::Failed(DeliveryError::Output(err)) => Err(match &*err {
                OutputError::NotConnected => OutputError::NotConnected,
                OutputError::Rejected { reason } => OutputError::Rejected {
                    reason: reason.clone(),
                },
                OutputError::Failed(_) => OutputError::Failed(err.to_string().into()),
            }),
            Outcome::Failed(other) => Err(OutputError::Failed(other.to_string().into())),
        }
    }

    async fn close(&self) -> Result<(), OutputError> {
        self.inner.close().await
    }

    fn connected(&self) -> bool {
        self.inner.connected()
    }
}
