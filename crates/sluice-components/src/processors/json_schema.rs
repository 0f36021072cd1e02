//! `json_schema`: checks each message against a JSON Schema; a message that
//! does not conform is flagged with every violation, in Benthos's wording.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::json_schema::JsonSchema as Schema;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonSchemaConfig {
    /// The schema itself, as JSON text.
    #[serde(default)]
    schema: Option<String>,
    /// Where to read the schema: a `file://` path (`http://` is not supported yet).
    #[serde(default)]
    schema_path: Option<String>,
}

struct JsonSchemaProcessor {
    schema: Schema,
}

#[async_trait]
impl Processor for JsonSchemaProcessor {
    async fn process(&self, mut batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for msg in batch.iter_mut() {
            let verdict = match msg.structured() {
                Ok(doc) => self.schema.validate(doc),
                Err(err) => Err(err),
            };
            if let Err(err) = verdict {
                tracing::debug!(error = %err, "The document is not valid.");
                msg.set_error(err);
            }
        }
        Ok(vec![batch])
    }
}

fn schema_text(config: &JsonSchemaConfig) -> Result<String, String> {
    if let Some(path) = config.schema_path.as_deref().filter(|p| !p.is_empty()) {
        if path.starts_with("http://") {
            return Err("schema_path over http:// is not supported yet".to_owned());
        }
        let Some(file) = path.strip_prefix("file://") else {
            return Err(
                "invalid schema_path provided, must start with file:// or http://".to_owned(),
            );
        };
        return std::fs::read_to_string(file)
            .map_err(|e| format!("failed to load JSON schema definition: {file}: {e}"));
    }
    match config.schema.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Ok(text.to_owned()),
        None => Err("either schema or schema_path must be provided".to_owned()),
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: JsonSchemaConfig = builder.config(node)?;
    let schema = schema_text(&config)
        .and_then(|text| {
            Schema::compile(&text)
                .map_err(|e| format!("failed to load JSON schema definition: {e}"))
        })
        .map_err(|e| vec![Lint::error(node.mark, e)])?;
    Ok(Box::new(JsonSchemaProcessor { schema }))
}
