//! `jmespath`: replaces each message's JSON document with the result of a
//! JMESPath query over it.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Value;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JmespathConfig {
    /// The JMESPath query to apply to each message.
    query: String,
}

struct Jmespath {
    query: jmespath::Expression<'static>,
}

impl Jmespath {
    fn search(&self, msg: &Message) -> Result<Value, String> {
        let doc: serde_json::Value = serde_json::from_slice(&msg.structured()?.to_json_bytes())
            .map_err(|e| e.to_string())?;
        let found = self
            .query
            .search(doc)
            .map_err(|e| format!("failed to search json: {e}"))?;
        let bytes = serde_json::to_vec(&*found).map_err(|e| e.to_string())?;
        Value::from_json_bytes(&bytes)
    }
}

#[async_trait]
impl Processor for Jmespath {
    async fn process(&self, mut batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for msg in batch.iter_mut() {
            match self.search(msg) {
                Ok(value) => msg.set_structured(value),
                Err(err) => {
                    tracing::debug!(error = %err, "JMESPath query failed.");
                    msg.set_error(err);
                }
            }
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: JmespathConfig = builder.config(node)?;
    let query = jmespath::compile(&config.query).map_err(|e| {
        vec![Lint::error(
            node.mark,
            format!("failed to compile JMESPath query: {e}"),
        )]
    })?;
    Ok(Box::new(Jmespath { query }))
}
