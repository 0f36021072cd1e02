//! `fallback`: tries its outputs in order until one takes the batch, as
//! Benthos's; a later output sees why the one before failed in the
//! `fallback_error` metadata of each message.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;

use super::broker::Child;

struct FallbackOutput {
    tiers: Vec<Child>,
}

#[async_trait]
impl Output for FallbackOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        for tier in &self.tiers {
            tier.connect().await?;
        }
        Ok(())
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let mut current = batch.clone();
        let mut last = None;
        for tier in &self.tiers {
            match tier.write_once(&current).await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    tracing::warn!(error = %err, "Fallback output {} failed, trying the next.", tier.type_name);
                    let text = err.to_string();
                    current = current
                        .iter()
                        .map(|m| {
                            let mut m = m.clone();
                            m.set_meta("fallback_error", text.clone());
                            m
                        })
                        .collect();
                    last = Some(err);
                }
            }
        }
        Err(last.unwrap_or(OutputError::NotConnected))
    }

    async fn close(&self) -> Result<(), OutputError> {
        for tier in &self.tiers {
            tier.output.close().await?;
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.tiers.iter().any(|t| t.output.connected())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let children: Vec<Node> = builder.config(node)?;
    if children.is_empty() {
        return Err(vec![Lint::error(
            node.mark,
            "fallback requires at least one output",
        )]);
    }
    let mut lints = Vec::new();
    let mut tiers = Vec::new();
    for child in &children {
        match Child::build(child, builder) {
            Ok(child) => tiers.push(child),
            Err(l) => lints.extend(l),
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(BuiltOutput {
        output: Arc::new(FallbackOutput { tiers }),
        max_in_flight: 64,
        batching: None,
    })
}
