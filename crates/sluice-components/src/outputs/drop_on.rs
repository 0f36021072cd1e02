//! `drop_on`: acknowledges, and so drops, what its output fails to write,
//! under conditions, as Benthos's: any error (`error`), errors matching a
//! pattern (`error_patterns`), or a write blocked longer than
//! `back_pressure`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;

use super::broker::Child;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DropOnConfig {
    /// Whether a batch the output fails to write is dropped.
    #[serde(default)]
    error: bool,
    /// Regular expressions: a failure whose text matches one is dropped.
    #[serde(default)]
    error_patterns: Vec<String>,
    /// A write blocked longer than this is abandoned and dropped.
    #[serde(default)]
    back_pressure: Option<GoDuration>,
    /// The output written to.
    #[schemars(with = "sluice_core::config::json_schema::OutputNode")]
    output: Node,
}

struct DropOnOutput {
    child: Child,
    on_error: bool,
    patterns: Vec<Regex>,
    back_pressure: Option<Duration>,
}

impl DropOnOutput {
    fn drops(&self, err: &OutputError) -> bool {
        if self.on_error {
            return true;
        }
        let text = err.to_string();
        self.patterns.iter().any(|p| p.is_match(&text))
    }
}

#[async_trait]
impl Output for DropOnOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        self.child.connect().await
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let result = match self.back_pressure {
            None => self.child.write_once(batch).await,
            Some(limit) => match tokio::time::timeout(limit, self.child.write_once(batch)).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!("Output blocked past back_pressure, batch dropped.");
                    return Ok(());
                }
            },
        };
        match result {
            Err(err) if self.drops(&err) => {
                tracing::warn!(error = %err, "Output failed, batch dropped.");
                Ok(())
            }
            other => other,
        }
    }

    async fn close(&self) -> Result<(), OutputError> {
        self.child.output.close().await
    }

    fn connected(&self) -> bool {
        self.child.output.connected()
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: DropOnConfig = builder.config(node)?;
    let mut patterns = Vec::new();
    for pattern in &config.error_patterns {
        match Regex::new(pattern) {
            Ok(re) => patterns.push(re),
            Err(err) => {
                return Err(vec![Lint::error(
                    node.mark,
                    format!("invalid error pattern {pattern:?}: {err}"),
                )]);
            }
        }
    }
    let child = Child::build(&config.output, builder)?;
    Ok(BuiltOutput {
        output: Arc::new(DropOnOutput {
            child,
            on_error: config.error,
            patterns,
            back_pressure: config.back_pressure.map(|d| d.0).filter(|d| !d.is_zero()),
        }),
        max_in_flight: 64,
        batching: None,
    })
}
