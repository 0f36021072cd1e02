//! `archive` joins a batch into one message and `unarchive` splits a
//! message into a batch, in Benthos's formats (those without a container
//! file format: `tar`, `zip` and `binary` are refused as not supported yet).

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Value;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use super::one_batch;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArchiveConfig {
    /// `concatenate`, `lines` or `json_array`.
    format: String,
    /// The file name of each message in container formats; accepted for
    /// compatibility, as those formats are not supported yet.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    path: Option<String>,
}

#[derive(Clone, Copy)]
enum ArchiveFormat {
    Concatenate,
    Lines,
    JsonArray,
}

/// `archive`: the batch becomes one message, carrying the first message's
/// metadata.
struct Archive {
    format: ArchiveFormat,
}

#[async_trait]
impl Processor for Archive {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let mut out = first.clone();
        match self.format {
            ArchiveFormat::Concatenate | ArchiveFormat::Lines => {
                let separator: &[u8] = match self.format {
                    ArchiveFormat::Lines => b"\n",
                    _ => b"",
                };
                let mut joined = Vec::new();
                for (i, msg) in batch.iter().enumerate() {
                    if i > 0 {
                        joined.extend_from_slice(separator);
                    }
                    joined.extend_from_slice(msg.content());
                }
                out.set_content(Bytes::from(joined));
            }
            ArchiveFormat::JsonArray => {
                let mut items = Vec::with_capacity(batch.len());
                for msg in batch.iter() {
                    match msg.structured() {
                        Ok(value) => items.push(value.clone()),
                        Err(err) => {
                            let error = format!("failed to parse message as JSON: {err}");
                            return Err(Failed {
                                input: batch,
                                error: sluice_core::component::processor::ProcessorError::Failed(
                                    error.into(),
                                ),
                            });
                        }
                    }
                }
                out.set_structured(Value::Array(items));
            }
        }
        Ok(vec![Batch::from(out)])
    }
}

pub(crate) fn build_archive(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: ArchiveConfig = builder.config(node)?;
    let _ = config.path;
    let format = match config.format.as_str() {
        "concatenate" => ArchiveFormat::Concatenate,
        "lines" => ArchiveFormat::Lines,
        "json_array" => ArchiveFormat::JsonArray,
        "tar" | "zip" | "binary" => {
            return Err(vec![Lint::error(
                node.mark,
                format!("archive format '{}' is not supported yet", config.format),
            )]);
        }
        other => {
            return Err(vec![Lint::error(
                node.mark,
                format!("archive format '{other}' is not recognised"),
            )]);
        }
    };
    Ok(Box::new(Archive { format }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnarchiveConfig {
    /// `lines`, `json_documents`, `json_array`, `json_map`, `csv` or
    /// `csv:<delimiter>`.
    format: String,
}

#[derive(Clone, Copy)]
enum UnarchiveFormat {
    Lines,
    JsonDocuments,
    JsonArray,
    JsonMap,
    Csv(u8),
}

/// `unarchive`: each message becomes the messages it holds, each keeping
/// its metadata; one that cannot be split is passed on flagged.
struct Unarchive {
    format: UnarchiveFormat,
}

impl Unarchive {
    fn split(&self, msg: &Message) -> Result<Vec<Message>, String> {
        let derive = |value: Value| {
            let mut part = msg.clone();
            part.set_structured(value);
            part
        };
        match self.format {
            UnarchiveFormat::Lines => Ok(msg
                .content()
                .split(|b| *b == b'\n')
                .map(|line| {
                    let mut part = msg.clone();
                    part.set_content(Bytes::copy_from_slice(line));
                    part
                })
                .collect()),
            UnarchiveFormat::JsonDocuments => {
                let content = msg.content();
                let mut parts = Vec::new();
                let mut stream = serde_json::Deserializer::from_slice(content)
                    .into_iter::<serde::de::IgnoredAny>();
                let mut start = 0;
                while let Some(next) = stream.next() {
                    next.map_err(|e| format!("failed to parse JSON documents: {e}"))?;
                    let end = stream.byte_offset();
                    parts.push(derive(Value::from_json_bytes(&content[start..end])?));
                    start = end;
                }
                Ok(parts)
            }
            UnarchiveFormat::JsonArray => match msg.structured() {
                Ok(Value::Array(items)) => Ok(items.iter().cloned().map(derive).collect()),
                Ok(other) => Err(format!(
                    "failed to parse message into JSON array: invalid type '{}'",
                    other.type_name()
                )),
                Err(err) => Err(format!("failed to parse message into JSON array: {err}")),
            },
            UnarchiveFormat::JsonMap => match msg.structured() {
                Ok(Value::Object(entries)) => Ok(entries
                    .iter()
                    .map(|(key, value)| {
                        let mut part = derive(value.clone());
                        part.set_meta("archive_key", key.to_string());
                        part
                    })
                    .collect()),
                Ok(other) => Err(format!(
                    "failed to parse message into JSON map: invalid type '{}'",
                    other.type_name()
                )),
                Err(err) => Err(format!("failed to parse message into JSON map: {err}")),
            },
            UnarchiveFormat::Csv(delimiter) => {
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(delimiter)
                    .has_headers(true)
                    .from_reader(msg.content());
                let headers = reader
                    .headers()
                    .map_err(|e| format!("failed to read csv headers: {e}"))?
                    .clone();
                let mut parts = Vec::new();
                for record in reader.records() {
                    let record = record.map_err(|e| format!("failed to read csv row: {e}"))?;
                    let row: sluice_bloblang::Map = headers
                        .iter()
                        .zip(record.iter())
                        .map(|(h, v)| (h.to_owned(), Value::from(v)))
                        .collect();
                    parts.push(derive(Value::Object(row)));
                }
                Ok(parts)
            }
        }
    }
}

#[async_trait]
impl Processor for Unarchive {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut out = Vec::with_capacity(batch.len());
        for mut msg in batch {
            match self.split(&msg) {
                Ok(parts) => out.extend(parts),
                Err(err) => {
                    tracing::error!(error = %err, "Unarchive failed.");
                    msg.set_error(err);
                    out.push(msg);
                }
            }
        }
        Ok(one_batch(out))
    }
}

pub(crate) fn build_unarchive(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Processor>> {
    let config: UnarchiveConfig = builder.config(node)?;
    let format = match config.format.as_str() {
        "lines" => UnarchiveFormat::Lines,
        "json_documents" => UnarchiveFormat::JsonDocuments,
        "json_array" => UnarchiveFormat::JsonArray,
        "json_map" => UnarchiveFormat::JsonMap,
        "csv" => UnarchiveFormat::Csv(b','),
        "tar" | "zip" | "binary" => {
            return Err(vec![Lint::error(
                node.mark,
                format!("unarchive format '{}' is not supported yet", config.format),
            )]);
        }
        other => match other.strip_prefix("csv:").map(str::as_bytes) {
            Some([delimiter]) => UnarchiveFormat::Csv(*delimiter),
            Some(_) => {
                return Err(vec![Lint::error(
                    node.mark,
                    "csv format requires a one-byte delimiter",
                )]);
            }
            None => {
                return Err(vec![Lint::error(
                    node.mark,
                    format!("unarchive format '{other}' is not recognised"),
                )]);
            }
        },
    };
    Ok(Box::new(Unarchive { format }))
}
