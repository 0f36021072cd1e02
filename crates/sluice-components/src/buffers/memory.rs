//! `memory` buffer: keeps batches in memory up to `limit` bytes and
//! acknowledges each one to the input as soon as it is stored. Batches
//! leave one at a time, or merged by `batch_policy`; a batch the output
//! nacks goes back to the front and is read again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::buffer::{Buffer, BufferError, WriteRejected};
use sluice_core::component::processor::{Processor, run_processors};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use sluice_core::runtime::batching::{BatchPolicy, BatchPolicyConfig};
use sluice_core::transaction::{Ack, Outcome, Transaction};
use tokio::sync::Notify;
use tokio::time::Instant;

const fn default_limit() -> usize {
    524_288_000
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoryConfig {
    /// The most bytes of message content held before writes wait (back pressure upstream).
    #[serde(default = "default_limit")]
    limit: usize,
    /// Merges buffered messages into batches as they are read.
    #[serde(default)]
    batch_policy: MemoryBatchPolicy,
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct MemoryBatchPolicy {
    /// Whether messages are batched as they leave the buffer.
    enabled: bool,
    /// Flush after this many messages (0 = no limit).
    count: usize,
    /// Flush after this many bytes (0 = no limit).
    byte_size: usize,
    /// Flush an incomplete batch after this long ("" = never).
    #[schemars(with = "sluice_core::config::GoDuration")]
    period: String,
    /// A Bloblang condition ending a batch (not supported yet).
    #[schemars(with = "sluice_core::config::json_schema::MappingText")]
    check: String,
    /// Processors applied to each flushed batch; everything they return leaves as one batch.
    #[schemars(with = "Vec<sluice_core::config::json_schema::ProcessorNode>")]
    processors: Vec<Node>,
}

/// When a read may hand out what is queued.
struct Flush {
    count: usize,
    byte_size: usize,
    period: Option<Duration>,
    processors: Vec<Box<dyn Processor>>,
}

/// A stored input batch and its size in bytes.
struct Stored {
    batch: Batch,
    size: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Stored>,
    /// Bytes held, read or not, until the output acknowledges them.
    bytes: usize,
    /// Batches read and not yet acknowledged.
    unacked: usize,
    ended: bool,
}

struct Shared {
    limit: usize,
    state: Mutex<State>,
    /// Woken on every change of `state`.
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory buffer lock poisoned")
    }

    /// Settles a read batch: delivered frees its bytes, anything else puts
    /// it back at the front to be read again.
    fn settle(&self, sources: Vec<Stored>, outcome: &Outcome) {
        let mut state = self.lock();
        state.unacked -= 1;
        if outcome.is_delivered() {
            state.bytes -= sources.iter().map(|s| s.size).sum::<usize>();
        } else {
            for source in sources.into_iter().rev() {
                state.queue.push_front(source);
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }
}

struct MemoryBuffer {
    shared: Arc<Shared>,
    flush: Flush,
}

impl MemoryBuffer {
    /// How many queued batches make a batch to hand out now, if any.
    fn ready(&self, state: &State, period_over: bool) -> Option<usize> {
        let (mut n_msgs, mut n_bytes) = (0, 0);
        for (taken, stored) in state.queue.iter().enumerate() {
            n_msgs += stored.batch.len();
            n_bytes += stored.size;
            let full = (self.flush.count > 0 && n_msgs >= self.flush.count)
                || (self.flush.byte_size > 0 && n_bytes >= self.flush.byte_size);
            if full {
                return Some(taken + 1);
            }
        }
        let rest = state.queue.len();
        (rest > 0 && (period_over || state.ended)).then_some(rest)
    }
}

#[async_trait]
impl Buffer for MemoryBuffer {
    async fn write(&self, tx: Transaction) -> Result<(), WriteRejected> {
        let size: usize = tx.batch.iter().map(|m| m.content().len()).sum();
        if size > self.shared.limit {
            return Err(WriteRejected {
                tx,
                error: BufferError::TooLarge,
            });
        }
        let Transaction { batch, ack } = tx;
        // The caller is answered once the batch is stored: its response
        // store and deadline mean nothing past this point.
        let batch = Batch::new(
            batch
                .into_messages()
                .into_iter()
                .map(|mut msg| {
                    let context = msg.context().without_request();
                    msg.set_context(context);
                    msg
                })
                .collect(),
        );
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.shared.lock();
                if state.bytes + size <= self.shared.limit {
                    state.bytes += size;
                    state.queue.push_back(Stored { batch, size });
                    drop(state);
                    self.shared.changed.notify_waiters();
                    ack.resolve(Outcome::Delivered);
                    return Ok(());
                }
            }
            changed.await;
        }
    }

    async fn read(&self) -> Result<Transaction, BufferError> {
        // The period counts from the start of this read, as Benthos's
        // batcher counts from its last flush.
        let mut deadline = self.flush.period.map(|p| Instant::now() + p);
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let period_over = deadline.is_some_and(|at| at <= Instant::now());
            let taken: Option<Vec<Stored>> = {
                let mut state = self.shared.lock();
                match self.ready(&state, period_over) {
                    Some(n) => {
                        state.unacked += 1;
                        Some(state.queue.drain(..n).collect())
                    }
                    None if state.ended && state.queue.is_empty() && state.unacked == 0 => {
                        return Err(BufferError::EndOfBuffer);
                    }
                    None => None,
                }
            };
            let Some(sources) = taken else {
                if period_over {
                    deadline = self.flush.period.map(|p| Instant::now() + p);
                }
                match deadline {
                    Some(at) => {
                        tokio::select! {
                            () = changed => {}
                            () = tokio::time::sleep_until(at) => {}
                        }
                    }
                    None => changed.await,
                }
                continue;
            };
            let messages: Vec<Message> = sources
                .iter()
                .flat_map(|s| s.batch.iter().cloned())
                .collect();
            let shared = Arc::clone(&self.shared);
            let ack = Ack::from_fn(move |outcome| shared.settle(sources, &outcome));
            let batch = if self.flush.processors.is_empty() {
                Batch::new(messages)
            } else {
                let results = run_processors(&self.flush.processors, Batch::new(messages)).await;
                Batch::new(results.into_iter().flatten().collect())
            };
            if batch.is_empty() {
                // Filtered to nothing: delivered.
                ack.resolve(Outcome::Delivered);
                deadline = self.flush.period.map(|p| Instant::now() + p);
                continue;
            }
            return Ok(Transaction::new(batch, ack));
        }
    }

    fn end_of_input(&self) {
        self.shared.lock().ended = true;
        self.shared.changed.notify_waiters();
    }
}

pub(crate) fn build(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Option<Arc<dyn Buffer>>> {
    let config: MemoryConfig = if node.is_null() {
        builder.config(&Node::new(Node::empty_map().kind, node.mark))?
    } else {
        builder.config(node)?
    };
    let policy = config.batch_policy;
    let flush = if policy.enabled {
        let processors = builder.processor_list(&policy.processors)?;
        let policy_config = BatchPolicyConfig {
            count: policy.count,
            byte_size: policy.byte_size,
            period: policy.period,
            check: policy.check,
            processors: Vec::new(),
        };
        let mark = node.get("batch_policy").map_or(node.mark, |n| n.mark);
        if policy_config.is_noop() {
            // `count: 1` alone is a policy too: one stored batch at a time.
            if policy_config.count != 1 {
                return Err(vec![Lint::error(
                    mark,
                    "batch policy must have at least one active trigger",
                )]);
            }
            Flush {
                count: 1,
                byte_size: 0,
                period: None,
                processors,
            }
        } else {
            let built = BatchPolicy::from_config(&policy_config, processors)
                .map_err(|message| vec![Lint::error(mark, message)])?
                .expect("a batch policy that is not a no-op is built");
            Flush {
                count: built.count,
                byte_size: built.byte_size,
                period: built.period,
                processors: built.processors,
            }
        }
    } else {
        // Without a policy each stored batch leaves as it came.
        Flush {
            count: 1,
            byte_size: 0,
            period: None,
            processors: Vec::new(),
        }
    };
    Ok(Some(Arc::new(MemoryBuffer {
        shared: Arc::new(Shared {
            limit: config.limit,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        }),
        flush,
    })))
}

#[cfg(test)]
mod tests {
    use sluice_core::transaction::DeliveryError;

    use super::*;

    fn buffer(limit: usize, count: usize) -> MemoryBuffer {
        MemoryBuffer {
            shared: Arc::new(Shared {
                limit,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
            }),
            flush: Flush {
                count,
                byte_size: 0,
                period: None,
                processors: Vec::new(),
            },
        }
    }

    /// Writes `text` and returns how its ack resolved.
    async fn write(buffer: &MemoryBuffer, text: &'static str) -> Outcome {
        let (ack, delivery) = Ack::pair();
        let tx = Transaction::new(Batch::from(Message::new(text)), ack);
        if let Err(rejected) = buffer.write(tx).await {
            rejected
                .tx
                .ack
                .resolve(Outcome::Failed(DeliveryError::Buffer(Arc::new(
                    rejected.error,
                ))));
        }
        delivery.await
    }

    fn contents(tx: &Transaction) -> Vec<String> {
        tx.batch
            .iter()
            .map(|m| String::from_utf8_lossy(m.content()).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn acks_on_write_reads_again_after_a_nack_and_ends_once_empty() {
        let buffer = buffer(8, 2);
        assert!(write(&buffer, "aaa").await.is_delivered());
        assert!(write(&buffer, "bbb").await.is_delivered());
        let refused = write(&buffer, "far too long").await;
        assert!(
            matches!(&refused, Outcome::Failed(err) if err.to_string() == "message body larger than buffer space"),
            "{refused:?}"
        );
        let first = buffer.read().await.unwrap();
        assert_eq!(contents(&first), ["aaa", "bbb"]);
        first
            .ack
            .resolve(Outcome::Failed(DeliveryError::ShuttingDown));
        buffer.end_of_input();
        let again = buffer.read().await.unwrap();
        assert_eq!(contents(&again), ["aaa", "bbb"]);
        again.ack.resolve(Outcome::Delivered);
        assert!(matches!(buffer.read().await, Err(BufferError::EndOfBuffer)));
        assert_eq!(buffer.shared.lock().bytes, 0);
    }
}
