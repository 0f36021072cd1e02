//! `sync_response` output: answers the request each message came from.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::{Schema, SchemaGenerator, json_schema};
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::json_schema::ProcessorNode;
use sluice_core::config::{Node, NodeKind};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::Batch;
use sluice_core::metrics::Counter;
use sluice_core::response::store_responses;
use sluice_core::runtime::output::ProcessedOutput;

struct SyncResponseOutput {
    without_store: Counter,
}

#[async_trait]
impl Output for SyncResponseOutput {
    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let missing = store_responses(batch);
        if missing > 0 {
            // Decision 12.4: no store means no caller to answer; the messages
            // are acknowledged and dropped, as Benthos's docs describe.
            tracing::debug!(
                messages = missing,
                "No response store in message context, response dropped."
            );
            self.without_store.add(missing as u64);
        }
        Ok(())
    }
}

/// The config schema: no fields but the nested `processors` that sluice
/// accepts (decision 12.2); any other field only draws a warning.
pub(crate) fn config_schema(generator: &mut SchemaGenerator) -> Schema {
    let processors = generator.subschema_for::<Vec<ProcessorNode>>();
    json_schema!({
        "type": ["object", "null"],
        "description": "No fields of its own: `sync_response: {}`.",
        "default": {},
        "properties": {
            "processors": {
                "description": "Processors run before the response is stored, as if they were siblings of the output (Benthos ignores them here).",
                "allOf": [processors]
            }
        },
        "additionalProperties": false
    })
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let output = Arc::new(SyncResponseOutput {
        without_store: builder
            .resources()
            .metrics()
            .counter("sync_response_without_store", &[("label", "")]),
    });
    let mut processors = Vec::new();
    if let NodeKind::Map(entries) = &node.kind {
        for (key, value) in entries {
            match key.as_str() {
                Some("processors") => {
                    // Decision 12.2: Benthos silently ignores processors nested
                    // inside `sync_response`; sluice runs them as siblings.
                    builder.warn(
                        key.mark,
                        "processors nested inside sync_response are run as if they were siblings of it (Benthos ignores them)",
                    );
                    processors = builder.processors(Some(value))?;
                }
                Some(other) => builder.warn(
                    key.mark,
                    format!("field {other} inside sync_response has no effect"),
                ),
                None => {}
            }
        }
    }
    let output: Arc<dyn Output> = if processors.is_empty() {
        output
    } else {
        Arc::new(ProcessedOutput::new(processors, output))
    };
    Ok(BuiltOutput {
        output,
        max_in_flight: 1,
        batching: None,
    })
}
