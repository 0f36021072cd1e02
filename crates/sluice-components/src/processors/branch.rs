//! `branch`: runs processors on a copy of each message shaped by
//! `request_map`, then folds what they produced back into the original with
//! `result_map`. The usual way to enrich a request from another service:
//! the original message survives whatever the branch does to its copy.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::targets::TargetPath;
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
    /// The message paths the branch's `request_map` reads.
    pub(crate) fn targets_used(&self) -> Vec<TargetPath> {
        self.request_map
            .as_ref()
            .map(Mapping::query_targets)
            .unwrap_or_default()
    }

    /// The message paths the branch's `result_map` writes.
    pub(crate) fn targets_provided(&self) -> Vec<TargetPath> {
        self.result_map
            .as_ref()
            .map(Mapping::assignment_targets)
            .unwrap_or_default()
    }

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
    fn overlay(
        &self,
        original: &mut Message,
        results: &[Message],
        index: usize,
    ) -> Result<(), String> {
        let Some(result_map) = &self.result_map else {
            return Ok(());
        };
        let meta = Some(original.metadata().clone());
        match result_map.exec_onto(results, index, document_of(original), meta) {
            // Deleting the original from a result map is not filtering:
            // Benthos leaves the message as it was.
            Ok(out) if matches!(out.root, Root::Deleted) => Ok(()),
            Ok(out) => {
                apply_result(original, Ok(out));
                Ok(())
            }
            Err(err) => Err(format!("result mapping failed: {err}")),
        }
    }
}

/// What the branch's processors made of a batch: a result per original
/// message (`None` where the message was skipped or failed), and the
/// messages that failed on the way.
pub(crate) struct BranchResults {
    pub(crate) results: Vec<Option<Message>>,
    pub(crate) failures: Vec<(usize, String)>,
}

impl Branch {
    /// Runs the branch's processors on the requests made from `originals`;
    /// a message with `skip[i]` set is not sent. `Err` when the processors'
    /// output cannot be matched up with the requests (the whole batch
    /// failed), with the per-message failures found before that.
    pub(crate) async fn create_results(
        &self,
        originals: &[Message],
        skip: &[bool],
    ) -> Result<BranchResults, (String, Vec<(usize, String)>)> {
        let mut sent_to = Vec::with_capacity(originals.len());
        let mut requests = Vec::with_capacity(originals.len());
        let mut failures = Vec::new();
        for index in 0..originals.len() {
            if skip.get(index).copied().unwrap_or(false) {
                continue;
            }
            match self.request(originals, index) {
                (Request::Sent, Some(copy)) => {
                    sent_to.push(index);
                    requests.push(copy);
                }
                (Request::Failed(err), _) => failures.push((index, err)),
                _ => {}
            }
        }
        let sent = requests.len();
        let mut produced: Vec<Message> = Vec::with_capacity(sent);
        if sent > 0 {
            for out in run_processors(&self.children, Batch::new(requests)).await {
                produced.extend(out.into_messages());
            }
            if produced.is_empty() {
                return Err((
                    "child processors resulted in zero messages".to_owned(),
                    failures,
                ));
            }
        }
        let not_sent = originals.len() - sent;
        if produced.len() + not_sent != originals.len() {
            return Err((
                format!(
                    "message count from branch processors does not match request, started with {} messages, finished with {}",
                    produced.len() + not_sent,
                    originals.len()
                ),
                failures,
            ));
        }
        let mut results: Vec<Option<Message>> = (0..originals.len()).map(|_| None).collect();
        for (index, result) in sent_to.into_iter().zip(produced) {
            match result.error() {
                Some(err) => failures.push((index, format!("processors failed: {err}"))),
                None => results[index] = Some(result),
            }
        }
        Ok(BranchResults { results, failures })
    }

    /// Writes each result onto its original with `result_map`; the
    /// messages whose result map failed, with why.
    pub(crate) fn overlay_results(
        &self,
        originals: &mut [Message],
        results: &[Option<Message>],
    ) -> Vec<(usize, String)> {
        // The result map reads the results as a batch, so that indexes
        // match the originals; skipped places hold an empty placeholder.
        let aligned: Vec<Message> = results
            .iter()
            .map(|r| r.clone().unwrap_or_else(|| Message::new(Vec::new())))
            .collect();
        let mut failures = Vec::new();
        for (index, msg) in originals.iter_mut().enumerate() {
            if results[index].is_none() {
                continue;
            }
            if let Err(err) = self.overlay(msg, &aligned, index) {
                failures.push((index, err));
            }
        }
        failures
    }
}

#[async_trait]
impl Processor for Branch {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut originals = batch.into_messages();
        match self.create_results(&originals, &[]).await {
            Err((failure, failures)) => {
                tracing::error!("Branch error: {failure}");
                for msg in originals.iter_mut() {
                    msg.set_error(&failure);
                }
                for (index, err) in failures {
                    originals[index].set_error(err);
                }
            }
            Ok(BranchResults { results, failures }) => {
                for (index, err) in failures {
                    tracing::debug!("Branch error: {err}");
                    originals[index].set_error(err);
                }
                for (index, err) in self.overlay_results(&mut originals, &results) {
                    tracing::error!("Branch error: {err}");
                    originals[index].set_error(err);
                }
            }
        }
        Ok(vec![Batch::new(originals)])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    Ok(Box::new(build_branch(node, builder)?))
}

/// Builds a branch from its config, for the `branch` processor and for
/// each branch of a `workflow`.
pub(crate) fn build_branch(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Branch> {
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
    Ok(Branch {
        request_map,
        children: builder.processor_list(&config.processors)?,
        result_map,
    })
}
