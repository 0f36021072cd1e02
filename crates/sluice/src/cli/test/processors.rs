//! Processor cases: builds the targeted processors from the config through
//! the real environment, feeds them the input batches and checks each
//! output message.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use sluice_bloblang::Value;
use sluice_core::component::processor::{Processor, run_processors};
use sluice_core::config::{Config, Node, NodeKind};
use sluice_core::environment::{Builder, Environment, Resources};
use sluice_core::message::{Batch, Message};
use sluice_core::metrics::Metrics;

use super::condition::Condition;
use super::definition::{Case, InputMessage, Target};
use super::tree;

/// Runs a processors case and returns its failures, one reason each.
pub(super) async fn run(
    env: &Environment,
    config_path: &Path,
    case: &Case,
    target: &Target,
    input_batches: &[Vec<InputMessage>],
    output_batches: &[Vec<Vec<(&'static str, Condition)>>],
    vars: &HashMap<String, String>,
) -> Vec<String> {
    let processors = match build(env, config_path, case, target, vars) {
        Ok(processors) => processors,
        Err(err) => return vec![format!("{err:#}")],
    };
    let mut outputs = Vec::new();
    for batch in input_batches {
        let messages = batch.iter().map(to_message).collect();
        outputs.extend(run_processors(&processors, Batch::new(messages)).await);
    }
    for processor in &processors {
        if let Err(err) = processor.close().await {
            tracing::warn!(error = %err, "Failed to close processor.");
        }
    }
    compare(&outputs, output_batches)
}

fn to_message(input: &InputMessage) -> Message {
    let mut msg = Message::new(input.content.clone());
    for (key, value) in &input.metadata {
        let value = Value::from_json_bytes(value.to_string().as_bytes())
            .expect("a serde_json value is valid JSON");
        msg.set_meta(key.clone(), value);
    }
    msg
}

fn build(
    env: &Environment,
    config_path: &Path,
    case: &Case,
    target: &Target,
    vars: &HashMap<String, String>,
) -> anyhow::Result<Vec<Box<dyn Processor>>> {
    let mut resources = Resources::new(Metrics::default(), false);
    match target {
        Target::Mapping(path) => {
            let mut builder = Builder::new(env, &resources);
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read Bloblang mapping {}", path.display()))?;
            // Run as a real `mapping` processor, so the file behaves exactly
            // as it would in a config.
            let node = Node::new(
                NodeKind::Map(vec![(Node::plain("mapping"), Node::plain(text))]),
                sluice_core::config::Mark::new(1, 1),
            );
            let processor = builder.processor(&node).map_err(|lints| {
                let reasons: Vec<String> = lints.iter().map(|l| l.message.clone()).collect();
                anyhow::anyhow!(
                    "failed to initialise Bloblang mapping '{}': {}",
                    path.display(),
                    reasons.join("; ")
                )
            })?;
            Ok(vec![processor])
        }
        Target::Processors(pointer) => {
            let (file, pointer) = match pointer.split_once('#') {
                Some((file, pointer)) if !file.is_empty() => {
                    let dir = config_path.parent().unwrap_or_else(|| Path::new(""));
                    (dir.join(file), pointer)
                }
                _ => (config_path.to_path_buf(), pointer.trim_start_matches('#')),
            };
            let mut root = tree::load(&file, vars)?;
            tree::apply_mocks(&mut root, &case.mocks)?;
            // The processors may name the config's resources (caches, rate
            // limits, processor resources), built as `run` builds them.
            if let Ok(config) = sluice_core::config::from_node::<Config>(&root) {
                let lints = super::super::load::add_resources(
                    env,
                    &config,
                    &mut resources,
                    &mut Vec::new(),
                );
                if !lints.is_empty() {
                    let reasons: Vec<String> = lints
                        .iter()
                        .map(|l| super::super::load::format_lint(&file, l))
                        .collect();
                    anyhow::bail!("failed to initialise resources: {}", reasons.join("; "));
                }
            }
            let mut builder = Builder::new(env, &resources);
            let node = tree::resolve(&root, pointer)
                .with_context(|| format!("failed to initialise processors '{pointer}'"))?;
            let built = match node.as_seq() {
                Some(nodes) => builder.stage_processor_list(nodes),
                None => builder.processor(node).map(|p| vec![p]),
            };
            built.map_err(|lints| {
                let reasons: Vec<String> = lints
                    .iter()
                    .map(|l| super::super::load::format_lint(&file, l))
                    .collect();
                anyhow::anyhow!(
                    "failed to initialise processors '{pointer}': {}",
                    reasons.join("; ")
                )
            })
        }
    }
}

/// Compares what came out with what was expected, in Benthos's words.
fn compare(outputs: &[Batch], expected: &[Vec<Vec<(&'static str, Condition)>>]) -> Vec<String> {
    let mut failures = Vec::new();
    if outputs.len() < expected.len() {
        failures.push(format!(
            "wrong batch count, expected {}, got {}",
            expected.len(),
            outputs.len()
        ));
    }
    for (batch_idx, batch) in outputs.iter().enumerate() {
        let Some(expected_batch) = expected.get(batch_idx) else {
            let contents: Vec<String> = batch
                .iter()
                .map(|m| String::from_utf8_lossy(m.content()).into_owned())
                .collect();
            failures.push(format!("unexpected batch: [{}]", contents.join(" ")));
            continue;
        };
        if expected_batch.len() != batch.len() {
            failures.push(format!(
                "mismatch of output batch {batch_idx} message counts, expected {}, got {}",
                expected_batch.len(),
                batch.len()
            ));
        }
        for (msg_idx, msg) in batch.iter().enumerate() {
            let Some(conditions) = expected_batch.get(msg_idx) else {
                failures.push(format!(
                    "unexpected message from batch {batch_idx}: {}",
                    String::from_utf8_lossy(msg.content())
                ));
                continue;
            };
            let mut failed = false;
            for (name, condition) in conditions {
                if let Err(reason) = condition.check(msg) {
                    failed = true;
                    failures.push(format!(
                        "batch {batch_idx} message {msg_idx}: {name}: {reason}"
                    ));
                }
            }
            // A processing error explains most failed checks: show it.
            if failed && let Some(error) = msg.error() {
                failures.push(format!(
                    "batch {batch_idx} message {msg_idx}: processing error: {error}"
                ));
            }
        }
    }
    failures
}
