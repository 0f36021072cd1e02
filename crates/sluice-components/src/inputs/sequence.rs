//! `sequence` input: reads its child inputs one after another, each until it
//! ends, then ends itself; with a `sharded_join` it merges their messages by
//! an identifier instead, in one pass over the inputs per shard.

mod join;

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::{Input, InputError};
use sluice_core::component::processor::run_processors;
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltInput};
use sluice_core::message::{Batch, Message};
use sluice_core::transaction::{Ack, Outcome, Transaction};

use join::{Joiner, MergeStrategy, dot_path};

/// The most shards a join may read in: the inputs of every shard are built
/// before the first is read.
const MAX_ITERATIONS: u64 = 1000;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SequenceConfig {
    /// Joins the messages of all inputs by an identifier, reading the inputs
    /// once per shard.
    #[serde(default)]
    sharded_join: ShardedJoinConfig,
    /// The inputs to read, in order; the next starts once one has ended.
    #[schemars(with = "Vec<sluice_core::config::json_schema::InputNode>")]
    inputs: Vec<Node>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct ShardedJoinConfig {
    /// The join: none, full-outer or outer (full-outter and outter are
    /// older spellings).
    #[serde(rename = "type")]
    kind: String,
    /// The dot path of the identifier that joins messages.
    id_path: String,
    /// How many passes (shards) the join reads the inputs in, at most 1000;
    /// more passes hold fewer messages at once.
    iterations: i64,
    /// How colliding values are joined: array, replace or keep.
    merge_strategy: String,
}

impl Default for ShardedJoinConfig {
    fn default() -> Self {
        Self {
            kind: "none".to_owned(),
            id_path: String::new(),
            iterations: 1,
            merge_strategy: "array".to_owned(),
        }
    }
}

struct SequenceInput {
    // The child being read, then the ones after it in this pass.
    current: Option<BuiltInput>,
    remaining: VecDeque<BuiltInput>,
    // Batches the current child's processors made from one read, not yet
    // handed on.
    pending: VecDeque<Transaction>,
    join: Option<ShardedJoin>,
}

/// What a sharded join waits for its sent messages to be acknowledged
/// before doing.
#[derive(Clone, Copy)]
enum Barrier {
    /// Sending the shard's joined messages.
    Flush,
    /// Reading the inputs again for the next shard, or ending after the
    /// last.
    NextShard { last: bool },
}

struct ShardedJoin {
    joiner: Joiner,
    // The inputs of each shard after the current one.
    shards: VecDeque<VecDeque<BuiltInput>>,
    // Joined messages to send, retries included.
    unsent: VecDeque<Message>,
    // Joined messages sent, with their outcomes to come.
    sent: FuturesUnordered<BoxFuture<'static, (Message, Outcome)>>,
    barrier: Option<Barrier>,
}

impl ShardedJoin {
    /// A transaction for `msg` whose outcome `sent` learns: a joined message
    /// has no source to redeliver it, so a failed one is sent again.
    fn dispatch(&mut self, msg: Message) -> Transaction {
        let (ack, delivery) = Ack::pair();
        let copy = msg.clone();
        self.sent
            .push(Box::pin(async move { (copy, delivery.await) }));
        Transaction::new(Batch::from(msg), ack)
    }
}

impl SequenceInput {
    async fn close_current(&mut self) {
        if let Some(mut child) = self.current.take()
            && let Err(err) = child.input.close().await
        {
            tracing::warn!(error = %err, "Failed to close sequence child input.");
        }
    }

    /// Moves the join on once its sent messages are acknowledged; `Some`
    /// when `read` should return that.
    async fn step_join(&mut self) -> Option<Result<Transaction, InputError>> {
        let join = self.join.as_mut()?;
        if let Some(msg) = join.unsent.pop_front() {
            return Some(Ok(join.dispatch(msg)));
        }
        let barrier = join.barrier?;
        if let Some((msg, outcome)) = join.sent.next().await {
            if let Outcome::Failed(err) = outcome {
                tracing::error!(error = %err, "Failed to send joined message: {err}");
                join.unsent.push_back(msg);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            return None;
        }
        join.barrier = None;
        match barrier {
            Barrier::Flush => {
                let (out, last) = join.joiner.finish_shard();
                join.unsent.extend(out);
                join.barrier = Some(Barrier::NextShard { last });
                None
            }
            Barrier::NextShard { last: true } => {
                tracing::info!(
                    "Finished all sharded iterations and exhausted all sequence inputs, shutting down."
                );
                Some(Err(InputError::EndOfInput))
            }
            Barrier::NextShard { last: false } => {
                let mut next = join
                    .shards
                    .pop_front()
                    .expect("a shard that is not the last has inputs built for it");
                self.current = next.pop_front();
                self.remaining = next;
                // The runtime connects the shard's first input.
                Some(Err(InputError::NotConnected))
            }
        }
    }
}

#[async_trait]
impl Input for SequenceInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        let Some(child) = &mut self.current else {
            return Err(InputError::EndOfInput);
        };
        child.input.connect().await
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        loop {
            if let Some(tx) = self.pending.pop_front() {
                return Ok(tx);
            }
            if self
                .join
                .as_ref()
                .is_some_and(|join| join.barrier.is_some() || !join.unsent.is_empty())
            {
                match self.step_join().await {
                    Some(res) => return res,
                    None => continue,
                }
            }
            let Some(child) = &mut self.current else {
                return Err(InputError::EndOfInput);
            };
            match child.input.read().await {
                Ok(Transaction { batch, ack }) => {
                    let batches = run_processors(&child.processors, batch).await;
                    let Some(join) = &mut self.join else {
                        let acks = ack.split(batches.len());
                        self.pending.extend(
                            batches
                                .into_iter()
                                .zip(acks)
                                .map(|(batch, ack)| Transaction::new(batch, ack)),
                        );
                        continue;
                    };
                    // Joined in, the messages are done with (as in Benthos).
                    let last_input = self.remaining.is_empty();
                    for msg in batches.iter().flat_map(|batch| batch.iter()) {
                        if let Some(joined) = join.joiner.add(msg, last_input) {
                            join.unsent.push_back(joined);
                        }
                    }
                    ack.resolve(Outcome::Delivered);
                }
                Err(InputError::EndOfInput) => {
                    self.close_current().await;
                    self.current = self.remaining.pop_front();
                    if self.current.is_some() {
                        // The runtime connects the next child through `connect`.
                        return Err(InputError::NotConnected);
                    }
                    match &mut self.join {
                        Some(join) => join.barrier = Some(Barrier::Flush),
                        None => {
                            tracing::info!("Exhausted all sequence inputs, shutting down.");
                            return Err(InputError::EndOfInput);
                        }
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn close(&mut self) -> Result<(), InputError> {
        self.close_current().await;
        Ok(())
    }

    fn connected(&self) -> bool {
        self.current
            .as_ref()
            .is_none_or(|child| child.input.connected())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: SequenceConfig = builder.config(node)?;
    let mut lints = Vec::new();
    let join_node = node.get("sharded_join");
    let join_mark = |field: &str| {
        join_node
            .and_then(|join| join.get(field))
            .map_or(join_node.map_or(node.mark, |join| join.mark), |n| n.mark)
    };
    let join = &config.sharded_join;
    let flush_on_last = match join.kind.as_str() {
        "none" => None,
        "full-outer" | "full-outter" => Some(false),
        "outer" | "outter" => Some(true),
        other => {
            lints.push(Lint::error(
                join_mark("type"),
                format!("join type '{other}' was not recognised"),
            ));
            None
        }
    };
    let mut joiner = None;
    if let Some(flush_on_last) = flush_on_last {
        if join.id_path.is_empty() {
            lints.push(Lint::error(
                join_mark("id_path"),
                "invalid sharded join config: the id path must not be empty",
            ));
        }
        let iterations = u64::try_from(join.iterations).ok().filter(|&n| n > 0);
        if iterations.is_none() {
            lints.push(Lint::error(
                join_mark("iterations"),
                format!(
                    "invalid sharded join config: invalid number of iterations: {}",
                    join.iterations
                ),
            ));
        }
        let strategy = MergeStrategy::parse(&join.merge_strategy);
        if strategy.is_none() {
            lints.push(Lint::error(
                join_mark("merge_strategy"),
                format!(
                    "invalid sharded join config: merge strategy '{}' was not recognised",
                    join.merge_strategy
                ),
            ));
        }
        if let (Some(iterations), Some(strategy)) = (iterations, strategy) {
            joiner = Some(Joiner::new(
                dot_path(&join.id_path),
                iterations,
                strategy,
                flush_on_last,
            ));
        }
    }
    if config.inputs.is_empty() {
        lints.push(Lint::error(node.mark, "requires at least one child input"));
    }
    // A join reads the inputs once per shard: each pass gets its own,
    // built here, so the number of passes has a budget.
    let passes = match (&joiner, u64::try_from(join.iterations)) {
        (Some(_), Ok(n)) => n,
        _ => 1,
    };
    if passes > MAX_ITERATIONS {
        return Err(vec![Lint::error(
            join_mark("iterations"),
            format!("sharded join iterations above {MAX_ITERATIONS} are not supported"),
        )]);
    }
    let mut shards = VecDeque::new();
    for _ in 0..passes {
        let mut children = VecDeque::new();
        for child in &config.inputs {
            match builder.input(child) {
                Ok(built) => children.push_back(built),
                Err(l) => lints.extend(l),
            }
        }
        shards.push_back(children);
        if !lints.is_empty() {
            break;
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    let mut first = shards.pop_front().unwrap_or_default();
    Ok(Box::new(SequenceInput {
        current: first.pop_front(),
        remaining: first,
        pending: VecDeque::new(),
        join: joiner.map(|joiner| ShardedJoin {
            joiner,
            shards,
            unsent: VecDeque::new(),
            sent: FuturesUnordered::new(),
            barrier: None,
        }),
    }))
}
