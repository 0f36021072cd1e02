//! `workflow`: runs a set of `branch`es in tiers, the branches of a tier
//! at the same time, and records per message which branches succeeded,
//! were skipped or failed. The tiers come from `order`, or are worked out
//! from what each branch's `request_map` reads and the others'
//! `result_map`s write. A message whose record says a branch already
//! succeeded does not run it again, so a failed message can be retried
//! through the same workflow.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::targets::TargetPath;
use sluice_bloblang::{Map, Value};
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::json_schema::ProcessorNode;
use sluice_core::config::{ComponentKind, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use super::branch::{Branch, BranchResults, build_branch};
use super::doc_path;

fn default_meta_path() -> String {
    "meta.workflow".to_owned()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowConfig {
    /// The dot path in each document where the workflow's record is
    /// written; empty: no record, and a message is flagged with an error
    /// when a branch fails for it.
    #[serde(default = "default_meta_path")]
    meta_path: String,
    /// Tiers of branch names, run one tier after another; empty: worked
    /// out from the branches' request and result maps.
    #[serde(default)]
    order: Vec<Vec<String>>,
    /// Processor resources that are `branch`es, run as branches of the workflow.
    #[serde(default)]
    branch_resources: Vec<String>,
    /// The branches by name, each a `branch` processor's config.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ProcessorNode>")]
    branches: BTreeMap<String, Node>,
}

struct Workflow {
    meta_path: Vec<String>,
    tiers: Vec<Vec<String>>,
    branches: BTreeMap<String, Arc<Branch>>,
}

/// What happened to one message in the workflow.
struct Record {
    succeeded: BTreeSet<String>,
    skipped: BTreeSet<String>,
    failed: BTreeMap<String, String>,
}

impl Record {
    fn new(tiers: &[Vec<String>]) -> Self {
        Self {
            succeeded: tiers.iter().flatten().cloned().collect(),
            skipped: BTreeSet::new(),
            failed: BTreeMap::new(),
        }
    }

    fn skip(&mut self, id: &str) {
        self.succeeded.remove(id);
        self.skipped.insert(id.to_owned());
    }

    fn fail(&mut self, id: &str, why: &str) {
        self.succeeded.remove(id);
        self.skipped.remove(id);
        self.failed.insert(id.to_owned(), why.to_owned());
    }

    /// `{succeeded: [...], skipped: [...], failed: {id: why}}`, empty parts
    /// left out, names sorted.
    fn to_value(&self) -> Map {
        let names = |set: &BTreeSet<String>| {
            Value::Array(
                set.iter()
                    .map(|s| Value::String(s.as_str().into()))
                    .collect(),
            )
        };
        let mut out = Map::new();
        if !self.succeeded.is_empty() {
            out.insert("succeeded".to_owned(), names(&self.succeeded));
        }
        if !self.skipped.is_empty() {
            out.insert("skipped".to_owned(), names(&self.skipped));
        }
        if !self.failed.is_empty() {
            let failed = self
                .failed
                .iter()
                .map(|(k, v)| (k.as_str(), Value::String(v.as_str().into())))
                .collect();
            out.insert("failed".to_owned(), Value::Object(failed));
        }
        out
    }
}

fn string_list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl Workflow {
    /// The branches a message's existing record says not to run: those it
    /// skipped or already succeeded in, and all but those in `apply` when
    /// that list is given.
    fn skipped_by_record(&self, msg: &Message) -> HashSet<String> {
        let mut skip = HashSet::new();
        if self.meta_path.is_empty() {
            return skip;
        }
        let Ok(doc) = msg.structured() else {
            return skip;
        };
        let Some(record) = doc_path::get(doc, &self.meta_path) else {
            return skip;
        };
        let field = |name: &str| doc_path::get(record, &[name]);
        for id in string_list(field("skipped")) {
            if self.branches.contains_key(id) {
                skip.insert(id.to_owned());
            }
        }
        let apply = string_list(field("apply"));
        if !apply.is_empty() {
            skip.extend(self.branches.keys().cloned());
            for id in apply {
                skip.remove(id);
            }
        }
        for id in string_list(field("succeeded")) {
            if self.branches.contains_key(id) {
                skip.insert(id.to_owned());
            }
        }
        skip
    }

    /// Writes each message's record at `meta_path`, keeping an earlier one
    /// under `previous`; without a meta path, flags messages a branch
    /// failed for.
    fn finish(&self, msgs: &mut [Message], records: &[Record]) {
        for (msg, record) in msgs.iter_mut().zip(records) {
            if self.meta_path.is_empty() {
                if !record.failed.is_empty() {
                    let names: Vec<&str> = record.failed.keys().map(String::as_str).collect();
                    msg.set_error(format!("workflow branches failed: [{}]", names.join(" ")));
                }
                continue;
            }
            let mut doc = match msg.structured() {
                Ok(doc) => doc.clone(),
                Err(err) => {
                    tracing::error!(error = %err, "Failed to parse message for meta update.");
                    msg.set_error(err);
                    continue;
                }
            };
            let mut current = record.to_value();
            if let Some(previous) = doc_path::get(&doc, &self.meta_path) {
                current.insert("previous".to_owned(), previous.clone());
            }
            doc_path::set(&mut doc, &self.meta_path, Value::Object(current));
            msg.set_structured(doc);
        }
    }
}

#[async_trait]
impl Processor for Workflow {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut msgs = batch.into_messages();
        let skip_sets: Vec<HashSet<String>> =
            msgs.iter().map(|m| self.skipped_by_record(m)).collect();
        let mut records: Vec<Record> = msgs.iter().map(|_| Record::new(&self.tiers)).collect();
        for tier in &self.tiers {
            // The branches of a tier all read the messages as the tier
            // found them; their results are written on afterwards, in order.
            let runs = tier.iter().map(|id| {
                let skip: Vec<bool> = skip_sets.iter().map(|s| s.contains(id)).collect();
                let branch = &self.branches[id];
                let msgs = &msgs;
                async move { branch.create_results(msgs, &skip).await }
            });
            let outcomes = futures::future::join_all(runs).await;
            for (id, outcome) in tier.iter().zip(outcomes) {
                match outcome {
                    Ok(BranchResults { results, failures }) => {
                        for (index, result) in results.iter().enumerate() {
                            if result.is_none() {
                                records[index].skip(id);
                            }
                        }
                        for (index, err) in failures {
                            records[index].fail(id, &err);
                        }
                        let overlaid = self.branches[id].overlay_results(&mut msgs, &results);
                        for (index, err) in overlaid {
                            records[index].fail(id, &err);
                        }
                    }
                    Err((err, failures)) => {
                        tracing::error!("Failed to perform enrichment '{id}': {err}");
                        for (index, why) in failures {
                            records[index].fail(id, &why);
                        }
                        for record in &mut records {
                            record.fail(id, &err);
                        }
                    }
                }
            }
        }
        self.finish(&mut msgs, &records);
        Ok(vec![Batch::new(msgs)])
    }
}

/// Whether `wanted` starts with all of `provided`.
fn depends_on(wanted: &TargetPath, provided: &TargetPath) -> bool {
    wanted.kind == provided.kind && wanted.path.starts_with(&provided.path)
}

/// Tiers worked out from the branches' maps: a branch runs after every
/// branch that writes a path it reads. Names within a tier are sorted.
fn resolve_tiers(branches: &BTreeMap<String, Arc<Branch>>) -> Result<Vec<Vec<String>>, String> {
    let deps: BTreeMap<&str, BTreeSet<&str>> = branches
        .iter()
        .map(|(id, branch)| {
            let wanted = branch.targets_used();
            let on = branches
                .iter()
                .filter(|(other, _)| other != &id)
                .filter(|(_, other)| {
                    other
                        .targets_provided()
                        .iter()
                        .any(|p| wanted.iter().any(|w| depends_on(w, p)))
                })
                .map(|(other, _)| other.as_str())
                .collect();
            (id.as_str(), on)
        })
        .collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut tiers = Vec::new();
    while placed.len() < deps.len() {
        let tier: Vec<&str> = deps
            .iter()
            .filter(|(id, on)| !placed.contains(*id) && on.iter().all(|d| placed.contains(d)))
            .map(|(id, _)| *id)
            .collect();
        if tier.is_empty() {
            let stuck: Vec<&str> = deps
                .keys()
                .filter(|id| !placed.contains(*id))
                .copied()
                .collect();
            return Err(format!(
                "failed to automatically resolve DAG, circular dependencies detected for branches: [{}]",
                stuck.join(" ")
            ));
        }
        placed.extend(&tier);
        tiers.push(tier.into_iter().map(str::to_owned).collect());
    }
    Ok(tiers)
}

/// Checks an explicit `order` names every branch exactly once.
fn check_order(
    order: &[Vec<String>],
    branches: &BTreeMap<String, Arc<Branch>>,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (i, tier) in order.iter().enumerate() {
        if tier.is_empty() {
            return Err(format!("explicit order tier '{i}' was empty"));
        }
        for id in tier {
            if !seen.insert(id.as_str()) {
                return Err(format!(
                    "branch specified in order listed multiple times: {id}"
                ));
            }
        }
    }
    let missing: Vec<&str> = branches
        .keys()
        .map(String::as_str)
        .filter(|id| !seen.contains(id))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the following branches were missing from order: [{}]",
            missing.join(" ")
        ));
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Builds the `branch` processor resource labelled `label`.
fn branch_resource(
    label: &str,
    mark: sluice_core::config::Mark,
    builder: &mut Builder<'_>,
) -> BuildResult<Branch> {
    let mut label_node = Node::plain(label);
    label_node.mark = mark;
    builder.resource(
        ComponentKind::Processor,
        &label_node,
        |builder, node| match node.get("branch") {
            Some(config) => build_branch(config, builder),
            None => Err(vec![Lint::error(
                mark,
                format!("processor resource '{label}' is not a branch"),
            )]),
        },
    )
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: WorkflowConfig = builder.config(node)?;
    let lint = |text: String| vec![Lint::error(node.mark, text)];
    let mut branches = BTreeMap::new();
    for (name, branch) in &config.branches {
        if !valid_name(name) {
            return Err(lint(format!(
                "workflow branch name '{name}' contains invalid characters"
            )));
        }
        branches.insert(name.clone(), Arc::new(build_branch(branch, builder)?));
    }
    for label in &config.branch_resources {
        if config.branches.contains_key(label) {
            return Err(lint(format!(
                "branch resource name '{label}' collides with an explicit branch"
            )));
        }
    }
    // Names in `order` that are not branches of the workflow are branch
    // resources too, as in Benthos.
    for label in config
        .branch_resources
        .iter()
        .chain(config.order.iter().flatten())
    {
        if !branches.contains_key(label) {
            branches.insert(
                label.clone(),
                Arc::new(branch_resource(label, node.mark, builder)?),
            );
        }
    }
    let tiers = if config.order.is_empty() {
        let tiers = resolve_tiers(&branches).map_err(lint)?;
        tracing::info!("Automatically resolved workflow DAG: {tiers:?}");
        tiers
    } else {
        check_order(&config.order, &branches).map_err(lint)?;
        config.order
    };
    let meta_path = if config.meta_path.is_empty() {
        Vec::new()
    } else {
        config.meta_path.split('.').map(str::to_owned).collect()
    };
    Ok(Box::new(Workflow {
        meta_path,
        tiers,
        branches,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_bloblang::targets::TargetKind;

    #[test]
    fn branch_names_are_letters_digits_dashes_and_underscores() {
        assert!(valid_name("get-user_2"));
        assert!(!valid_name("get user"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn a_dependency_is_a_read_under_a_written_path() {
        let value = |p: &[&str]| TargetPath {
            kind: TargetKind::Value,
            path: p.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(depends_on(&value(&["user", "id"]), &value(&["user"])));
        assert!(!depends_on(&value(&["user"]), &value(&["user", "id"])));
        assert!(!depends_on(&value(&["order"]), &value(&["user"])));
        let meta = TargetPath {
            kind: TargetKind::Metadata,
            path: vec!["user".to_owned()],
        };
        assert!(!depends_on(&meta, &value(&["user"])));
    }
}
