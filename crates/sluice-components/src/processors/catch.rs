//! `catch`, `try` and `switch`: processors that route messages through child
//! processors depending on their error flag or a condition.

use async_trait::async_trait;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use sluice_bloblang::{Mapping, Root, Value};
use sluice_core::component::processor::{Failed, Processor, run_processors};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use super::one_batch;

/// Runs its children only on failed messages, then clears their errors.
struct CatchProcessor {
    children: Vec<Box<dyn Processor>>,
}

#[async_trait]
impl Processor for CatchProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut out = Vec::with_capacity(batch.len());
        for msg in batch {
            if msg.error().is_none() {
                out.push(msg);
                continue;
            }
            for result in run_processors(&self.children, Batch::from(msg)).await {
                out.extend(result.into_iter().map(|mut m| {
                    m.clear_error();
                    m
                }));
            }
        }
        Ok(one_batch(out))
    }
}

/// Runs its children in order; a message that fails skips the rest.
struct TryProcessor {
    children: Vec<Box<dyn Processor>>,
}

#[async_trait]
impl Processor for TryProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let (mut ok, mut failed): (Vec<Message>, Vec<Message>) =
            batch.into_iter().partition(|m| m.error().is_none());
        for child in &self.children {
            if ok.is_empty() {
                break;
            }
            let results = run_processors(std::slice::from_ref(child), Batch::new(ok)).await;
            ok = Vec::new();
            for msg in results.into_iter().flatten() {
                if msg.error().is_some() {
                    failed.push(msg);
                } else {
                    ok.push(msg);
                }
            }
        }
        ok.extend(failed);
        Ok(one_batch(ok))
    }
}

pub(crate) fn build_catch(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let children: Vec<Node> = builder.config(node)?;
    Ok(Box::new(CatchProcessor {
        children: builder.processor_list(&children)?,
    }))
}

pub(crate) fn build_try(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let children: Vec<Node> = builder.config(node)?;
    Ok(Box::new(TryProcessor {
        children: builder.processor_list(&children)?,
    }))
}

/// The config schema of `switch`: a list of cases.
pub(crate) fn switch_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<Vec<SwitchCaseConfig>>();
    let description =
        "Cases tried in order; a message runs the processors of the first case whose check passes.";
    schema.insert("description".into(), description.into());
    schema
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SwitchCaseConfig {
    /// A Bloblang query that must return true for the case to run; without one the case matches every message.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::MappingText>")]
    check: Option<Node>,
    /// The processors run on messages that match the case.
    #[serde(default)]
    #[schemars(with = "Vec<sluice_core::config::json_schema::ProcessorNode>")]
    processors: Vec<Node>,
    /// Whether messages matching this case also run the processors of the next case.
    #[serde(default)]
    fallthrough: bool,
}

struct SwitchCase {
    check: Option<Mapping>,
    processors: Vec<Box<dyn Processor>>,
    fallthrough: bool,
}

/// Runs the processors of the first case whose check passes.
struct SwitchProcessor {
    cases: Vec<SwitchCase>,
}

impl SwitchCase {
    fn matches(&self, batch: &[Message], index: usize) -> bool {
        let Some(check) = &self.check else {
            return true;
        };
        match check.exec(batch, index) {
            Ok(out) => matches!(out.root, Root::Value(Value::Bool(true))),
            Err(err) => {
                tracing::error!(error = %err, "Switch check failed.");
                false
            }
        }
    }
}

#[async_trait]
impl Processor for SwitchProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let messages: Vec<Message> = batch.into_messages();
        let mut out = Vec::with_capacity(messages.len());
        for index in 0..messages.len() {
            let mut current = vec![messages[index].clone()];
            let mut falling = false;
            for case in &self.cases {
                if !falling && !case.matches(&messages, index) {
                    continue;
                }
                let mut next = Vec::new();
                for msg in current {
                    for result in run_processors(&case.processors, Batch::from(msg)).await {
                        next.extend(result);
                    }
                }
                current = next;
                falling = case.fallthrough;
                if !falling {
                    break;
                }
            }
            out.extend(current);
        }
        Ok(one_batch(out))
    }
}

pub(crate) fn build_switch(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let configs: Vec<SwitchCaseConfig> = builder.config(node)?;
    let mut cases = Vec::with_capacity(configs.len());
    for config in configs {
        let check = match &config.check {
            Some(n) if n.as_str().is_some_and(|s| !s.trim().is_empty()) => {
                let text = n.as_str().unwrap_or_default();
                let mapping = Mapping::parse(&format!("root = {text}")).map_err(|err| {
                    vec![sluice_core::config::Lint::error(
                        n.content_position(err.line(), err.column().saturating_sub(7).max(1)),
                        format!("failed to parse check: {err}"),
                    )]
                })?;
                Some(mapping)
            }
            _ => None,
        };
        cases.push(SwitchCase {
            check,
            processors: builder.processor_list(&config.processors)?,
            fallthrough: config.fallthrough,
        });
    }
    Ok(Box::new(SwitchProcessor { cases }))
}
