//! `branch`: runs processors on a copy of each message shaped by
//! `request_map`, then folds what they produced back into the original with
//! `result_map`. The usual way to enrich a request from another service:
//! the original message survives whatever the branch does to its copy.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Mapping, Root};
use sluice_core::component::processor::{Failed, Processor, run_processors};
use sluice_core::config::json_schema::{MappingText, ProcessorNode};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use super::mapping::apply_result;
use super::mutation::document_of;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BranchConfig {
    /// A mapping that builds the message sent into the branch from the
    /// original; `root = deleted()` skips the branch for that message.
    /// Empty: the branch gets a copy of the original.
    #[serde(default)]
    #[schemars(with = "Option<MappingText>")]
    request_map: Option<Node>,
    /// The processors run on the branch's messages.
    #[schemars(with = "Vec<ProcessorNode>")]
    processors: Vec<Node>,
    /// A mapping that writes the branch's result onto the original: `this`
    /// and `metadata()` read the result, `@` reads the original's metadata,
    /// and `root` and `meta` assignments change the original. Empty: the
    /// result is discarded.
    #[serde(default)]
    #[schemars(with = "Option<MappingText>")]
    result_map: Option<Node>,
}

pub(crate) struct Branch {
    request_map: Option<Mapping>,
    children: Vec<Box<dyn Processor>>,
    result_map: Option<Mapping>,
}

/// What became of one original message on its way into the branch.
enum Request {
    /// Sent into the branch.
    Sent,
    /// `request_map` deleted it: the original passes unchanged.
    Skipped,
    /// `request_map` failed: the original is flagged with this error.
    Failed(String),
}

impl Branch {
    /// The branch's copy of message `index`: the original with its error
    /// cleared, or what `request_map` builds from it.
    fn request(&self, batch: &[Message], index: usize) -> (Request, Option<Message>) {
        let mut copy = batch[index].clone();
        copy.clear_error();
        let Some(request_map) = &self.request_map else {
            return (Request::Sent, Some(copy));
        };
        // As in Benthos, the mapping writes onto a copy whose content is
        // emptied and whose metadata is kept.
        copy.set_content(Vec::new());
        match request_map.exec(batch, index) {
            Ok(out) if matches!(out.root, Root::Deleted) => (Request::Skipped, None),
            result @ Ok(_) => {
                apply_result(&mut copy, result);
                (Request::Sent, Some(copy))
            }
            Err(err) => {
                tracing::debug!(error = %err, "Failed to map branch request.");
                (
                    Request::Failed(format!("request mapping failed: {err}")),
                    None,
                )
            }
        }
    }

    /// Writes the branch's result for message `index` onto `original`.
    fn overlay(&self, original: &mut Message, results: &[Message], index: usize) {
        let Some(result_map) = &self.result_map else {
            return;
        };
        let meta = Some(original.metadata().clone());
        match result_map.exec_onto(results, index, document_of(original), meta) {
            // Deleting the original from a result map is not filtering:
            // Benthos leaves the message as it was.
            Ok(out) if matches!(out.root, Root::Deleted) => {}
            Ok(out) => {
                apply_result(original, Ok(out));
            }
            Err(err) => {
                tracing::error!(error = %err, "Branch error: result mapping failed.");
                original.set_error(format!("result mapping failed: {err}"));
            }
        }
    }
}

#[async_trait]
impl Processor for Branch {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut originals = batch.into_messages();
        let mut outcomes = Vec::with_capacity(originals.len());
        let mut requests = Vec::with_capacity(originals.len());
        for index in 0..originals.len() {
            let (outcome, copy) = self.request(&originals, index);
            outcomes.push(outcome);
            requests.extend(copy);
        }
        let sent = requests.len();
        let mut results: Vec<Message> = Vec::with_capacity(sent);
        if sent > 0 {
            for out in run_processors(&self.children, Batch::new(requests)).await {
                results.extend(out.into_messages());
            }
        }
        let not_sent = originals.len() - sent;
        let failure = if sent > 0 && results.is_empty() {
            Some("child processors resulted in zero messages".to_owned())
        } else if results.len() + not_sent != originals.len() {
            Some(format!(
                "message count from branch processors does not match request, started with {} messages, finished with {}",
                results.len() + not_sent,
                originals.len()
            ))
        } else {
            None
        };
        if let Some(failure) = failure {
            tracing::error!("Branch error: {failure}");
            for (msg, outcome) in originals.iter_mut().zip(&outcomes) {
                match outcome {
                    Request::Failed(err) => msg.set_error(err),
                    _ => msg.set_error(&failure),
                }
            }
            return Ok(vec![Batch::new(originals)]);
        }
        // Realign: a result for each message sent, an empty placeholder
        // (never read) for the others, so indexes match the originals.
        let mut results = results.into_iter();
        let aligned: Vec<Message> = outcomes
            .iter()
            .map(|outcome| match outcome {
                Request::Sent => results.next().expect("counted above"),
                Request::Skipped | Request::Failed(_) => Message::new(Vec::new()),
            })
            .collect();
        for (index, (msg, outcome)) in originals.iter_mut().zip(&outcomes).enumerate() {
            match outcome {
                Request::Skipped => {}
                Request::Failed(err) => msg.set_error(err),
                Request::Sent => match aligned[index].error() {
                    Some(err) => msg.set_error(format!("processors failed: {err}")),
                    None => self.overlay(msg, &aligned, index),
                },
            }
        }
        Ok(vec![Batch::new(originals)])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: BranchConfig = builder.config(node)?;
    if config.processors.is_empty() {
        return Err(vec![Lint::error(
            node.mark,
            "the branch processor requires at least one child processor",
        )]);
    }
    let mapping = |field: &Option<Node>, builder: &Builder<'_>| -> BuildResult<Option<Mapping>> {
        match field {
            Some(n) if n.as_str().is_some_and(|s| !s.trim().is_empty()) => {
                builder.mapping(n).map(Some)
            }
            _ => Ok(None),
        }
    };
    let request_map = mapping(&config.request_map, builder)?;
    let result_map = mapping(&config.result_map, builder)?;
    Ok(Box::new(Branch {
        request_map,
        children: builder.processor_list(&config.processors)?,
        result_map,
    }))
}
