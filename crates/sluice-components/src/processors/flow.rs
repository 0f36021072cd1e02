//! Processors that shape batches or run children over parts of them:
//! `noop`, `for_each`, `while`, `split`, `select_parts`, `bounds_check`,
//! `group_by` and `group_by_value`, each as Benthos's.

use std::collections::HashMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Interpolation, Mapping, Root, Value};
use sluice_core::component::processor::{Failed, Processor, run_processors};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use super::one_batch;

/// Whether `check` gives `true` for message `index` of `batch`; a failing
/// check counts as false, and is logged.
fn passes(check: &Mapping, batch: &[Message], index: usize, what: &str) -> bool {
    match check.exec(batch, index) {
        Ok(out) => matches!(out.root, Root::Value(Value::Bool(true))),
        Err(err) => {
            tracing::error!(error = %err, "{what} check failed.");
            false
        }
    }
}

/// `noop`: passes batches on unchanged.
struct Noop;

#[async_trait]
impl Processor for Noop {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        Ok(vec![batch])
    }
}

pub(crate) fn build_noop(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let _: sluice_core::config::json_schema::NoFields = builder.config(node)?;
    Ok(Box::new(Noop))
}

/// `for_each`: runs its children on each message alone, then puts the
/// results back together in one batch.
struct ForEach {
    children: Vec<Box<dyn Processor>>,
}

#[async_trait]
impl Processor for ForEach {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut out = Vec::with_capacity(batch.len());
        for msg in batch {
            for result in run_processors(&self.children, Batch::from(msg)).await {
                out.extend(result);
            }
        }
        Ok(one_batch(out))
    }
}

pub(crate) fn build_for_each(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let children: Vec<Node> = builder.config(node)?;
    Ok(Box::new(ForEach {
        children: builder.processor_list(&children)?,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhileConfig {
    /// Whether the children run once before the check is first made.
    #[serde(default)]
    at_least_once: bool,
    /// The most times the children run; 0 is no limit.
    #[serde(default)]
    max_loops: u64,
    /// A Bloblang query over the batch's first message: while true, the
    /// children run again.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::MappingText>")]
    check: Option<Node>,
    /// The processors run on each loop.
    #[schemars(with = "Vec<sluice_core::config::json_schema::ProcessorNode>")]
    processors: Vec<Node>,
}

/// `while`: runs its children over the batch for as long as the check
/// holds (of the batch's first message), at most `max_loops` times.
struct While {
    at_least_once: bool,
    max_loops: u64,
    check: Option<Mapping>,
    children: Vec<Box<dyn Processor>>,
}

impl While {
    fn holds(&self, batch: &[Message]) -> bool {
        match &self.check {
            None => false,
            Some(_) if batch.is_empty() => false,
            Some(check) => passes(check, batch, 0, "while"),
        }
    }
}

#[async_trait]
impl Processor for While {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut messages = batch.into_messages();
        let mut loops = 0;
        while (loops == 0 && self.at_least_once) || self.holds(&messages) {
            if self.max_loops > 0 && loops >= self.max_loops {
                break;
            }
            messages = run_processors(&self.children, Batch::new(messages))
                .await
                .into_iter()
                .flatten()
                .collect();
            loops += 1;
            if messages.is_empty() {
                break;
            }
        }
        Ok(one_batch(messages))
    }
}

pub(crate) fn build_while(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: WhileConfig = builder.config(node)?;
    Ok(Box::new(While {
        at_least_once: config.at_least_once,
        max_loops: config.max_loops,
        check: config
            .check
            .as_ref()
            .map(|n| builder.mapping(n))
            .transpose()?,
        children: builder.processor_list(&config.processors)?,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SplitConfig {
    /// The most messages in each resulting batch.
    #[serde(default = "default_split_size")]
    size: usize,
    /// The most bytes in each resulting batch; 0 is no limit.
    #[serde(default)]
    byte_size: usize,
}

const fn default_split_size() -> usize {
    1
}

/// `split`: breaks a batch into batches of at most `size` messages (and
/// `byte_size` bytes).
struct Split {
    size: usize,
    byte_size: usize,
}

#[async_trait]
impl Processor for Split {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut out = Vec::new();
        let mut current: Vec<Message> = Vec::new();
        let mut bytes = 0;
        for msg in batch {
            let len = msg.content().len();
            let full = (self.size > 0 && current.len() >= self.size)
                || (self.byte_size > 0 && !current.is_empty() && bytes + len > self.byte_size);
            if full {
                out.push(Batch::new(std::mem::take(&mut current)));
                bytes = 0;
            }
            bytes += len;
            current.push(msg);
        }
        if !current.is_empty() {
            out.push(Batch::new(current));
        }
        Ok(out)
    }
}

pub(crate) fn build_split(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: SplitConfig = builder.config(node)?;
    Ok(Box::new(Split {
        size: config.size,
        byte_size: config.byte_size,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectPartsConfig {
    /// The indexes of the messages kept, in order; negative ones count
    /// from the end (-1 is the last).
    #[serde(default)]
    parts: Vec<i64>,
}

/// `select_parts`: keeps the messages at the given indexes.
struct SelectParts {
    parts: Vec<i64>,
}

#[async_trait]
impl Processor for SelectParts {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let len = batch.len() as i64;
        let picked: Vec<Message> = self
            .parts
            .iter()
            .filter_map(|&i| {
                let i = if i < 0 { len + i } else { i };
                (0..len).contains(&i).then(|| batch[i as usize].clone())
            })
            .collect();
        Ok(one_batch(picked))
    }
}

pub(crate) fn build_select_parts(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: SelectPartsConfig = builder.config(node)?;
    Ok(Box::new(SelectParts {
        parts: config.parts,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoundsCheckConfig {
    /// The largest message, in bytes.
    #[serde(default = "default_max_part_size")]
    max_part_size: usize,
    /// The smallest message, in bytes.
    #[serde(default = "default_one")]
    min_part_size: usize,
    /// The most messages in a batch.
    #[serde(default = "default_max_parts")]
    max_parts: usize,
    /// The fewest messages in a batch.
    #[serde(default = "default_one")]
    min_parts: usize,
}

const fn default_max_part_size() -> usize {
    1 << 30
}

const fn default_one() -> usize {
    1
}

const fn default_max_parts() -> usize {
    100
}

/// `bounds_check`: drops batches whose size, or any of whose messages'
/// sizes, is out of bounds.
struct BoundsCheck(BoundsCheckConfig);

#[async_trait]
impl Processor for BoundsCheck {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let c = &self.0;
        let parts = batch.len();
        if parts < c.min_parts || parts > c.max_parts {
            tracing::debug!(parts, "Batch dropped: its size is out of bounds.");
            return Ok(Vec::new());
        }
        if let Some(size) = batch
            .iter()
            .map(|m| m.content().len())
            .find(|&size| size < c.min_part_size || size > c.max_part_size)
        {
            tracing::debug!(size, "Batch dropped: a message size is out of bounds.");
            return Ok(Vec::new());
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build_bounds_check(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    Ok(Box::new(BoundsCheck(builder.config(node)?)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupByValueConfig {
    /// The value messages are grouped by; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    value: String,
}

/// `group_by_value`: one batch per distinct value, in the order values are
/// first seen.
struct GroupByValue {
    value: Interpolation,
}

#[async_trait]
impl Processor for GroupByValue {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut order: Vec<String> = Vec::new();
        let mut groups: HashMap<String, Vec<Message>> = HashMap::new();
        for index in 0..batch.len() {
            let mut msg = batch[index].clone();
            let key = match self.value.render(&batch[..], index) {
                Ok(key) => key,
                Err(err) => {
                    msg.set_error(format!("group_by_value: {err}"));
                    String::new()
                }
            };
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push(msg);
        }
        Ok(order
            .into_iter()
            .filter_map(|k| groups.remove(&k))
            .map(Batch::new)
            .collect())
    }
}

pub(crate) fn build_group_by_value(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: GroupByValueConfig = builder.config(node)?;
    Ok(Box::new(GroupByValue {
        value: builder.interpolation(&config.value, node.mark)?,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupConfig {
    /// A Bloblang query: messages for which it is true join this group.
    #[schemars(with = "sluice_core::config::json_schema::MappingText")]
    check: Node,
    /// Processors run on the group's batch.
    #[serde(default)]
    #[schemars(with = "Vec<sluice_core::config::json_schema::ProcessorNode>")]
    processors: Vec<Node>,
}

struct Group {
    check: Mapping,
    children: Vec<Box<dyn Processor>>,
}

/// `group_by`: each message joins the first group whose check passes; each
/// group becomes a batch run through that group's processors, and messages
/// of no group form a last batch.
struct GroupBy {
    groups: Vec<Group>,
}

#[async_trait]
impl Processor for GroupBy {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut grouped: Vec<Vec<Message>> = vec![Vec::new(); self.groups.len()];
        let mut rest = Vec::new();
        for index in 0..batch.len() {
            let msg = batch[index].clone();
            match self
                .groups
                .iter()
                .position(|g| passes(&g.check, &batch[..], index, "group_by"))
            {
                Some(g) => grouped[g].push(msg),
                None => rest.push(msg),
            }
        }
        let mut out = Vec::new();
        for (group, messages) in self.groups.iter().zip(grouped) {
            if !messages.is_empty() {
                out.extend(run_processors(&group.children, Batch::new(messages)).await);
            }
        }
        if !rest.is_empty() {
            out.push(Batch::new(rest));
        }
        Ok(out)
    }
}

pub(crate) fn build_group_by(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let configs: Vec<GroupConfig> = builder.config(node)?;
    let mut groups = Vec::with_capacity(configs.len());
    for config in configs {
        groups.push(Group {
            check: builder.mapping(&config.check)?,
            children: builder.processor_list(&config.processors)?,
        });
    }
    Ok(Box::new(GroupBy { groups }))
}
