//! `protobuf`: converts messages between Protobuf and JSON with message
//! types compiled at start-up from the `.proto` files under
//! `import_paths` (by protox, no `protoc` needed), using the proto3 JSON
//! mapping as Go's protojson does.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProtobufConfig {
    /// `to_json` (Protobuf bytes to JSON), `from_json` (JSON to Protobuf
    /// bytes) or `decode` (as to_json).
    operator: String,
    /// The fully qualified name of the message type.
    message: String,
    /// Whether `from_json` ignores fields the message type does not have.
    #[serde(default)]
    discard_unknown: bool,
    /// Whether `to_json` names fields as the .proto file does, not in lowerCamelCase.
    #[serde(default)]
    use_proto_names: bool,
    /// Directories whose .proto files (walked recursively) define the
    /// message and what it imports; empty: the current directory.
    #[serde(default)]
    import_paths: Vec<String>,
    /// Whether `to_json` writes enums as numbers rather than names.
    #[serde(default)]
    use_enum_numbers: bool,
    /// Buf Schema Registry modules (not supported yet; use import_paths).
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
    bsr: Vec<serde_json::Value>,
}

enum Operator {
    ToJson(SerializeOptions),
    FromJson(DeserializeOptions),
}

struct ProtobufProcessor {
    descriptor: MessageDescriptor,
    operator: Operator,
}

impl ProtobufProcessor {
    fn convert(&self, msg: &Message) -> Result<Vec<u8>, String> {
        let name = self.descriptor.full_name();
        match &self.operator {
            Operator::ToJson(options) => {
                let decoded = DynamicMessage::decode(self.descriptor.clone(), msg.content())
                    .map_err(|e| format!("failed to unmarshal protobuf message '{name}': {e}"))?;
                let mut out = Vec::new();
                let mut serializer = serde_json::Serializer::new(&mut out);
                decoded
                    .serialize_with_options(&mut serializer, options)
                    .map_err(|e| format!("failed to marshal JSON message '{name}': {e}"))?;
                Ok(out)
            }
            Operator::FromJson(options) => {
                let mut deserializer = serde_json::Deserializer::from_slice(msg.content());
                let decoded = DynamicMessage::deserialize_with_options(
                    self.descriptor.clone(),
                    &mut deserializer,
                    options,
                )
                .and_then(|m| deserializer.end().map(|()| m))
                .map_err(|e| format!("unmarshalling JSON message '{name}': {e}"))?;
                Ok(decoded.encode_to_vec())
            }
        }
    }
}

#[async_trait]
impl Processor for ProtobufProcessor {
    async fn process(&self, mut batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for msg in batch.iter_mut() {
            match self.convert(msg) {
                Ok(bytes) => msg.set_content(bytes),
                Err(err) => {
                    tracing::debug!(error = %err, "Protobuf conversion failed.");
                    msg.set_error(err);
                }
            }
        }
        Ok(vec![batch])
    }
}

/// Every `.proto` file under `dir`, as a path relative to it, sorted.
fn proto_files(dir: &Path, under: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            proto_files(&path, under, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path.strip_prefix(under).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The message type `name`, compiled from the .proto files of `import_paths`.
fn load(import_paths: &[String], name: &str) -> Result<MessageDescriptor, String> {
    let dirs: Vec<String> = if import_paths.is_empty() {
        vec![".".to_owned()]
    } else {
        import_paths.to_vec()
    };
    let mut files = Vec::new();
    for dir in &dirs {
        proto_files(Path::new(dir), Path::new(dir), &mut files)
            .map_err(|e| format!("unable to load protos: {dir}: {e}"))?;
    }
    let mut compiler =
        protox::Compiler::new(&dirs).map_err(|e| format!("unable to load protos: {e}"))?;
    compiler.include_imports(true);
    compiler
        .open_files(&files)
        .map_err(|e| format!("unable to load protos: {e}"))?;
    compiler
        .descriptor_pool()
        .get_message_by_name(name)
        .ok_or_else(|| format!("unable to find message '{name}' definition within {dirs:?}"))
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: ProtobufConfig = builder.config(node)?;
    let lint = |message: String| vec![Lint::error(node.mark, message)];
    if !config.bsr.is_empty() {
        return Err(lint(
            "protobuf bsr (Buf Schema Registry) is not supported yet; use import_paths".to_owned(),
        ));
    }
    if config.message.is_empty() {
        return Err(lint("message field must not be empty".to_owned()));
    }
    let operator = match config.operator.as_str() {
        "to_json" | "decode" => Operator::ToJson(
            SerializeOptions::new()
                .use_proto_field_name(config.use_proto_names)
                .use_enum_numbers(config.use_enum_numbers),
        ),
        "from_json" => Operator::FromJson(
            DeserializeOptions::new().deny_unknown_fields(!config.discard_unknown),
        ),
        other => return Err(lint(format!("operator not recognised: {other}"))),
    };
    let descriptor = load(&config.import_paths, &config.message).map_err(lint)?;
    Ok(Box::new(ProtobufProcessor {
        descriptor,
        operator,
    }))
}
