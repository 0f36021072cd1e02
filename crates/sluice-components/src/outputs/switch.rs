//! `switch` output: routes each message to the outputs of the cases whose
//! check it passes, as Benthos's: the first passing case takes it unless
//! that case says `continue`; a message no case takes is dropped, or with
//! `strict_mode` fails the batch. The batch is acknowledged once every
//! output it went to has acknowledged its part.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::join_all;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Mapping, Root, Value};
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::Node;
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::{Batch, Message};

use super::broker::Child;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchConfig {
    /// Whether a failed case output is retried until it succeeds, rather
    /// than failing the batch.
    #[serde(default)]
    retry_until_success: bool,
    /// Whether a message that passes no case fails the batch (instead of
    /// being dropped).
    #[serde(default)]
    strict_mode: bool,
    /// The cases, checked in order.
    #[serde(default)]
    cases: Vec<SwitchCaseConfig>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchCaseConfig {
    /// A Bloblang query; without one every message passes.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::MappingText>")]
    check: Option<Node>,
    /// The output of messages that pass.
    #[schemars(with = "sluice_core::config::json_schema::OutputNode")]
    output: Node,
    /// Whether a message that passes is tested against the next case too.
    #[serde(default, rename = "continue")]
    continue_: bool,
}

struct Case {
    check: Option<Mapping>,
    output: Child,
    continue_: bool,
}

struct SwitchOutput {
    cases: Vec<Case>,
    strict_mode: bool,
    retry_until_success: bool,
}

impl Case {
    fn passes(&self, batch: &[Message], index: usize) -> bool {
        let Some(check) = &self.check else {
            return true;
        };
        match check.exec(batch, index) {
            Ok(out) => matches!(out.root, Root::Value(Value::Bool(true))),
            Err(err) => {
                tracing::error!(error = %err, "Failed to test switch case.");
                false
            }
        }
    }
}

#[async_trait]
impl Output for SwitchOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        for case in &self.cases {
            case.output.connect().await?;
        }
        Ok(())
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let mut targets: Vec<Vec<Message>> = vec![Vec::new(); self.cases.len()];
        for index in 0..batch.len() {
            let mut routed = false;
            for (case, target) in self.cases.iter().zip(targets.iter_mut()) {
                if case.passes(&batch[..], index) {
                    routed = true;
                    target.push(batch[index].clone());
                    if !case.continue_ {
                        break;
                    }
                }
            }
            if !routed && self.strict_mode {
                tracing::error!(
                    "Message failed to match against at least one output check with strict mode enabled, it will be nacked and/or re-processed"
                );
                return Err(OutputError::Failed(
                    "no switch output conditions were met by message".into(),
                ));
            }
        }
        let writes = self
            .cases
            .iter()
            .zip(targets)
            .filter(|(_, messages)| !messages.is_empty())
            .map(|(case, messages)| async move {
                let part = Batch::new(messages);
                if self.retry_until_success {
                    case.output.write_retrying(&part).await
                } else {
                    case.output.write_once(&part).await
                }
            });
        join_all(writes).await.into_iter().collect()
    }

    async fn close(&self) -> Result<(), OutputError> {
        for case in &self.cases {
            case.output.output.close().await?;
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.cases.iter().all(|c| c.output.output.connected())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: SwitchConfig = builder.config(node)?;
    let mut lints = Vec::new();
    let mut cases = Vec::new();
    for case in &config.cases {
        let check = case
            .check
            .as_ref()
            .filter(|n| n.as_str().is_some_and(|s| !s.trim().is_empty()))
            .map(|n| builder.mapping(n))
            .transpose();
        let output = Child::build(&case.output, builder);
        match (check, output) {
            (Ok(check), Ok(output)) => cases.push(Case {
                check,
                output,
                continue_: case.continue_,
            }),
            (check, output) => {
                lints.extend(check.err().unwrap_or_default());
                lints.extend(output.err().unwrap_or_default());
            }
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(BuiltOutput {
        output: Arc::new(SwitchOutput {
            cases,
            strict_mode: config.strict_mode,
            retry_until_success: config.retry_until_success,
        }),
        max_in_flight: 64,
        batching: None,
    })
}
