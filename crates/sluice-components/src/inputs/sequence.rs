//! `sequence` input: reads its child inputs one after another, each until it
//! ends, then ends itself.

use std::collections::VecDeque;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::{Input, InputError};
use sluice_core::component::processor::run_processors;
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltInput};
use sluice_core::transaction::Transaction;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SequenceConfig {
    /// Joins the messages of all inputs by an identifier (not supported
    /// yet: only type none).
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
    /// How many passes (shards) the join reads the inputs in.
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
    // The child being read, then the ones after it.
    current: Option<BuiltInput>,
    remaining: VecDeque<BuiltInput>,
    // Batches the current child's processors made from one read, not yet
    // handed on.
    pending: VecDeque<Transaction>,
}

impl SequenceInput {
    async fn close_current(&mut self) {
        if let Some(mut child) = self.current.take()
            && let Err(err) = child.input.close().await
        {
            tracing::warn!(error = %err, "Failed to close sequence child input.");
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
            let Some(child) = &mut self.current else {
                return Err(InputError::EndOfInput);
            };
            match child.input.read().await {
                Ok(Transaction { batch, ack }) => {
                    let batches = run_processors(&child.processors, batch).await;
                    let acks = ack.split(batches.len());
                    self.pending.extend(
                        batches
                            .into_iter()
                            .zip(acks)
                            .map(|(batch, ack)| Transaction::new(batch, ack)),
                    );
                }
                Err(InputError::EndOfInput) => {
                    self.close_current().await;
                    self.current = self.remaining.pop_front();
                    if self.current.is_none() {
                        tracing::info!("Exhausted all sequence inputs, shutting down.");
                        return Err(InputError::EndOfInput);
                    }
                    // The runtime connects the next child through `connect`.
                    return Err(InputError::NotConnected);
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
    let join_mark = node
        .get("sharded_join")
        .map(|join| join.get("type").map_or(join.mark, |kind| kind.mark))
        .unwrap_or(node.mark);
    match config.sharded_join.kind.as_str() {
        "none" => {}
        "full-outer" | "outer" | "full-outter" | "outter" => {
            lints.push(Lint::error(join_mark, "sharded_join is not supported yet"))
        }
        other => lints.push(Lint::error(
            join_mark,
            format!("join type '{other}' was not recognised"),
        )),
    }
    if config.inputs.is_empty() {
        lints.push(Lint::error(node.mark, "requires at least one child input"));
    }
    let mut children = VecDeque::new();
    for child in &config.inputs {
        match builder.input(child) {
            Ok(built) => children.push_back(built),
            Err(l) => lints.extend(l),
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(Box::new(SequenceInput {
        current: children.pop_front(),
        remaining: children,
        pending: VecDeque::new(),
    }))
}
