//! `log`: writes a log line per message with an interpolated text.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Interpolation, Mapping, Root};
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

fn default_level() -> String {
    "INFO".to_owned()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogConfig {
    /// The level of the log line: FATAL, ERROR, WARN, INFO, DEBUG, TRACE or ALL.
    #[serde(default = "default_level")]
    level: String,
    /// The text of the log line; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    message: String,
    /// A Bloblang mapping whose object result is logged as structured fields.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::MappingText>")]
    fields_mapping: Option<Node>,
}

#[derive(Clone, Copy)]
enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

struct LogProcessor {
    level: Level,
    message: Interpolation,
    fields: Option<Mapping>,
}

#[async_trait]
impl Processor for LogProcessor {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for index in 0..batch.len() {
            let text = self
                .message
                .render(&batch[..], index)
                .unwrap_or_else(|e| format!("failed to interpolate log message: {e}"));
            let fields = self
                .fields
                .as_ref()
                .and_then(|m| m.exec(&batch[..], index).ok())
                .and_then(|out| match out.root {
                    Root::Value(v) => {
                        Some(String::from_utf8_lossy(&v.to_json_bytes()).into_owned())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            match self.level {
                Level::Error => tracing::error!(fields = %fields, "{text}"),
                Level::Warn => tracing::warn!(fields = %fields, "{text}"),
                Level::Info => tracing::info!(fields = %fields, "{text}"),
                Level::Debug => tracing::debug!(fields = %fields, "{text}"),
                Level::Trace => tracing::trace!(fields = %fields, "{text}"),
            }
        }
        Ok(vec![batch])
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: LogConfig = builder.config(node)?;
    let level = match config.level.to_ascii_uppercase().as_str() {
        "FATAL" | "ERROR" => Level::Error,
        "WARN" | "WARNING" => Level::Warn,
        "INFO" => Level::Info,
        "DEBUG" => Level::Debug,
        "TRACE" | "ALL" => Level::Trace,
        other => {
            return Err(vec![Lint::error(
                node.mark,
                format!("log level '{other}' was not recognised"),
            )]);
        }
    };
    let fields = match &config.fields_mapping {
        Some(n) => Some(builder.mapping(n)?),
        None => None,
    };
    Ok(Box::new(LogProcessor {
        level,
        message: builder.interpolation(&config.message, node.mark)?,
        fields,
    }))
}
