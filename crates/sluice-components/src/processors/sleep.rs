//! `sleep`: waits an interpolated duration per batch.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Node, parse_go_duration};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SleepConfig {
    /// How long to wait before each batch moves on, as a duration string; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    duration: String,
}

struct SleepProcessor {
    duration: Interpolation,
}

#[async_trait]
impl Processor for SleepProcessor {
    async fn process(&self, mut batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let wait = self
            .duration
            .render(&batch[..], 0)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_go_duration(&text));
        match wait {
            Ok(wait) => tokio::time::sleep(wait).await,
            Err(err) => {
                tracing::error!(error = %err, "Failed to parse sleep duration.");
                for msg in batch.iter_mut() {
                    msg.set_error(format!("failed to parse duration: {err}"));
                }
            }
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: SleepConfig = builder.config(node)?;
    Ok(Box::new(SleepProcessor {
        duration: builder.interpolation(&config.duration, node.mark)?,
    }))
}
