//! One playground run: a mapping, an input document and its metadata in, the
//! result (or the error) out. No I/O, so the HTTP layer stays thin.

use serde::{Deserialize, Serialize};
use sluice_bloblang::{Mapping, Metadata, Root, SimpleMessage, Value};

use super::{PRETTY_INDENT, render, render_passthrough};

/// The body of `POST /execute`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExecuteRequest {
    /// The mapping source.
    pub(super) mapping: String,
    /// The input document, as the raw bytes of a message.
    #[serde(default)]
    pub(super) input: String,
    /// The input message's metadata.
    #[serde(default)]
    pub(super) metadata: serde_json::Map<String, serde_json::Value>,
}

/// The answer of `POST /execute`. Exactly one of `result`, `parse_error` and
/// `mapping_error` is set.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(super) struct ExecuteResponse {
    /// The output message as `sluice blobl --pretty` prints it: strings raw,
    /// other values as indented JSON; empty when the message was deleted.
    pub(super) result: Option<String>,
    /// Whether the mapping deleted the message (`root = deleted()`).
    pub(super) deleted: bool,
    /// The output message's metadata.
    pub(super) metadata: Option<serde_json::Value>,
    /// Why the mapping does not parse: `failed to parse mapping: line L char C: ...`.
    pub(super) parse_error: Option<String>,
    /// Why executing the mapping against this input failed.
    pub(super) mapping_error: Option<String>,
}

/// Parses and runs the mapping against one message built from the request,
/// as `sluice blobl --pretty` would.
pub(super) fn execute(req: &ExecuteRequest) -> ExecuteResponse {
    // Imports are resolved against the working directory, as `blobl` does
    // for a mapping given on the command line.
    let mapping = match Mapping::parse(&req.mapping) {
        Ok(mapping) => mapping,
        Err(err) => {
            return ExecuteResponse {
                parse_error: Some(format!("failed to parse mapping: {err}")),
                ..ExecuteResponse::default()
            };
        }
    };
    let metadata: Metadata = req
        .metadata
        .iter()
        .map(|(key, value)| (key.as_str().into(), json_to_value(value)))
        .collect();
    let batch = [SimpleMessage::new(req.input.as_bytes().to_vec()).with_metadata(metadata)];
    let out = match mapping.exec(&batch[..], 0) {
        Ok(out) => out,
        Err(err) => {
            return ExecuteResponse {
                mapping_error: Some(err.to_string()),
                ..ExecuteResponse::default()
            };
        }
    };
    let (bytes, deleted) = match &out.root {
        Root::Deleted => (Vec::new(), true),
        Root::Nothing => (render_passthrough(&batch[0], Some(PRETTY_INDENT)), false),
        Root::Value(value) => (render(value, Some(PRETTY_INDENT)), false),
    };
    // A mapping that never touches metadata keeps the input's.
    let metadata = match out.metadata {
        Some(metadata) => metadata,
        None => {
            use sluice_bloblang::MessageRef as _;
            batch[0].metadata().clone()
        }
    };
    ExecuteResponse {
        result: Some(String::from_utf8_lossy(&bytes).into_owned()),
        deleted,
        metadata: Some(value_to_json(&Value::from_metadata(&metadata))),
        ..ExecuteResponse::default()
    }
}

/// A JSON value from the request as a Bloblang value; numbers keep their text.
fn json_to_value(json: &serde_json::Value) -> Value {
    let text = serde_json::to_vec(json).expect("a serde_json value always serialises");
    Value::from_json_bytes(&text).expect("serde_json writes valid JSON")
}

/// A Bloblang value as JSON for the response, encoded as Benthos encodes it.
fn value_to_json(value: &Value) -> serde_json::Value {
    serde_json::from_slice(&value.to_json_bytes()).expect("Value encodes valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(mapping: &str, input: &str, metadata: serde_json::Value) -> serde_json::Value {
        let req = ExecuteRequest {
            mapping: mapping.to_owned(),
            input: input.to_owned(),
            metadata: metadata.as_object().cloned().unwrap_or_default(),
        };
        serde_json::to_value(execute(&req)).unwrap()
    }

    #[test]
    fn structured_result_is_indented_json() {
        let res = check(
            "root.upper = this.name.uppercase()",
            r#"{"name":"ada"}"#,
            serde_json::json!({}),
        );
        assert_eq!(res["result"], "{\n  \"upper\": \"ADA\"\n}");
        assert_eq!(res["deleted"], false);
        assert_eq!(res["parse_error"], serde_json::Value::Null);
        assert_eq!(res["mapping_error"], serde_json::Value::Null);
    }

    #[test]
    fn strings_are_raw() {
        let res = check("root = this.a", r#"{"a":"x y"}"#, serde_json::json!({}));
        assert_eq!(res["result"], "x y");
    }

    #[test]
    fn untouched_root_passes_the_input_through() {
        let res = check("meta foo = \"bar\"", r#"{"a":1}"#, serde_json::json!({}));
        assert_eq!(res["result"], "{\n  \"a\": 1\n}");
        assert_eq!(res["metadata"], serde_json::json!({"foo": "bar"}));
    }

    #[test]
    fn deleted_message() {
        let res = check("root = deleted()", "{}", serde_json::json!({}));
        assert_eq!(res["result"], "");
        assert_eq!(res["deleted"], true);
    }

    #[test]
    fn metadata_in_and_out() {
        let res = check(
            "root = @topic\nmeta n = @n + 1",
            "{}",
            serde_json::json!({"topic": "t1", "n": 41}),
        );
        assert_eq!(res["result"], "t1");
        assert_eq!(res["metadata"], serde_json::json!({"topic": "t1", "n": 42}));
    }

    #[test]
    fn parse_error_has_its_position() {
        let res = check("root = this.", "{}", serde_json::json!({}));
        let err = res["parse_error"].as_str().unwrap();
        assert!(
            err.starts_with("failed to parse mapping: line 1 char 13: "),
            "{err}"
        );
        assert_eq!(res["result"], serde_json::Value::Null);
    }

    #[test]
    fn execution_error() {
        let res = check(
            "root = this.a.uppercase()",
            "not json",
            serde_json::json!({}),
        );
        let err = res["mapping_error"].as_str().unwrap();
        assert!(err.contains("parse as json"), "{err}");
        assert_eq!(res["result"], serde_json::Value::Null);
    }
}
