//! The checks an expected output message makes (`content_equals`,
//! `json_contains`, ...), each reporting what it expected and what it got.

use std::collections::BTreeMap;
use std::path::PathBuf;

use regex::Regex;
use sluice_bloblang::{Mapping, Root, Value as BloblValue};
use sluice_core::message::Message;

use super::json::{self, Mode};

/// One check of an output message.
pub(super) enum Condition {
    Bloblang(Mapping),
    ContentEquals(String),
    ContentMatches(Regex),
    MetadataEquals(BTreeMap<String, serde_json::Value>),
    FileEquals(PathBuf),
    FileJsonEquals(PathBuf),
    FileJsonContains(PathBuf),
    JsonEquals(serde_json::Value),
    JsonContains(serde_json::Value),
}

impl Condition {
    /// Checks `msg`; the error says what differed, over as many lines as it
    /// needs (continuation lines indented by two spaces).
    pub(super) fn check(&self, msg: &Message) -> Result<(), String> {
        match self {
            Condition::Bloblang(mapping) => check_bloblang(mapping, msg),
            Condition::ContentEquals(expected) => content_equals(expected, msg.content()),
            Condition::ContentMatches(pattern) => {
                let received = String::from_utf8_lossy(msg.content());
                if pattern.is_match(&received) {
                    Ok(())
                } else {
                    Err(format!(
                        "pattern mismatch\n   pattern: {}\n  received: {received}",
                        pattern.as_str()
                    ))
                }
            }
            Condition::MetadataEquals(expected) => metadata_equals(expected, msg),
            Condition::FileEquals(path) => {
                let expected = std::fs::read_to_string(path).map_err(|err| {
                    format!("failed to read comparison file {}: {err}", path.display())
                })?;
                content_equals(&expected, msg.content())
            }
            Condition::FileJsonEquals(path) => json_file(path, msg, Mode::Equals),
            Condition::FileJsonContains(path) => json_file(path, msg, Mode::Contains),
            Condition::JsonEquals(expected) => json_check(expected, msg.content(), Mode::Equals),
            Condition::JsonContains(expected) => {
                json_check(expected, msg.content(), Mode::Contains)
            }
        }
    }
}

fn content_equals(expected: &str, received: &[u8]) -> Result<(), String> {
    let received = String::from_utf8_lossy(received);
    if expected == received {
        Ok(())
    } else {
        Err(format!(
            "content mismatch\n  expected: {expected}\n  received: {received}"
        ))
    }
}

fn check_bloblang(mapping: &Mapping, msg: &Message) -> Result<(), String> {
    let batch = [msg.clone()];
    let output = mapping.exec(&batch[..], 0).map_err(|err| err.to_string())?;
    match output.root {
        Root::Value(BloblValue::Bool(true)) => Ok(()),
        Root::Value(BloblValue::Bool(false)) => Err("bloblang expression was false".to_owned()),
        Root::Value(other) => Err(format!(
            "expected the mapping to result in a boolean, got {}",
            other.type_name()
        )),
        Root::Nothing | Root::Deleted => {
            Err("expected the mapping to result in a boolean, got nothing".to_owned())
        }
    }
}

fn metadata_equals(
    expected: &BTreeMap<String, serde_json::Value>,
    msg: &Message,
) -> Result<(), String> {
    for (key, exp) in expected {
        let Some(actual) = msg.metadata().get(key.as_str()) else {
            return Err(format!("metadata key '{key}' expected but not found"));
        };
        let actual_json: serde_json::Value = serde_json::from_slice(&actual.to_json_bytes())
            .unwrap_or_else(|_| serde_json::Value::String(actual.to_interp_string()));
        if !json::differences(&actual_json, exp, Mode::Equals).is_empty() {
            let exp_text = match exp {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(format!(
                "metadata key '{key}' mismatch\n  expected: {exp_text}\n  received: {}",
                actual.to_interp_string()
            ));
        }
    }
    Ok(())
}

fn json_file(path: &std::path::Path, msg: &Message, mode: Mode) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|err| {
        format!(
            "failed to read comparison JSON file {}: {err}",
            path.display()
        )
    })?;
    let expected: serde_json::Value = serde_json::from_slice(&text).map_err(|err| {
        format!(
            "comparison file {} is not valid JSON: {err}",
            path.display()
        )
    })?;
    json_check(&expected, msg.content(), mode)
}

/// Compares the message's JSON document with `expected`.
pub(super) fn json_check(
    expected: &serde_json::Value,
    received: &[u8],
    mode: Mode,
) -> Result<(), String> {
    let what = match mode {
        Mode::Equals => "JSON content mismatch",
        Mode::Contains => "JSON superset mismatch",
    };
    let actual: serde_json::Value = match serde_json::from_slice(received) {
        Ok(actual) => actual,
        Err(err) => {
            return Err(format!(
                "{what}: received content is not valid JSON ({err})\n  expected: {expected}\n  received: {}",
                String::from_utf8_lossy(received)
            ));
        }
    };
    let diffs = json::differences(&actual, expected, mode);
    if diffs.is_empty() {
        return Ok(());
    }
    let mut out = format!("{what}\n  expected: {expected}\n  received: {actual}");
    for diff in diffs {
        out.push_str("\n    ");
        out.push_str(&diff);
    }
    Err(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(condition: Condition, msg: &Message, want: Result<(), &str>) {
        assert_eq!(condition.check(msg), want.map_err(str::to_owned));
    }

    fn message(content: &str) -> Message {
        let mut msg = Message::new(content.to_owned().into_bytes());
        msg.set_meta("topic", "orders");
        msg
    }

    #[test]
    fn content_equals_shows_both_sides() {
        let msg = message("HELLO");
        check(Condition::ContentEquals("HELLO".to_owned()), &msg, Ok(()));
        check(
            Condition::ContentEquals("hello".to_owned()),
            &msg,
            Err("content mismatch\n  expected: hello\n  received: HELLO"),
        );
    }

    #[test]
    fn content_matches_uses_a_regex() {
        let msg = message("order 42 shipped");
        check(
            Condition::ContentMatches(Regex::new(r"^order \d+").unwrap()),
            &msg,
            Ok(()),
        );
        check(
            Condition::ContentMatches(Regex::new(r"^refund").unwrap()),
            &msg,
            Err("pattern mismatch\n   pattern: ^refund\n  received: order 42 shipped"),
        );
    }

    #[test]
    fn metadata_equals_names_the_key() {
        let msg = message("x");
        let want = |v: serde_json::Value| {
            Condition::MetadataEquals(BTreeMap::from([("topic".to_owned(), v)]))
        };
        check(want(json!("orders")), &msg, Ok(()));
        check(
            want(json!("refunds")),
            &msg,
            Err("metadata key 'topic' mismatch\n  expected: refunds\n  received: orders"),
        );
        check(
            Condition::MetadataEquals(BTreeMap::from([("key".to_owned(), json!("a"))])),
            &msg,
            Err("metadata key 'key' expected but not found"),
        );
    }

    #[test]
    fn bloblang_must_be_true() {
        let msg = message(r#"{"age":12}"#);
        let mapping = |m: &str| Condition::Bloblang(Mapping::parse(m).unwrap());
        check(mapping("root = this.age > 10"), &msg, Ok(()));
        check(
            mapping("root = this.age > 20"),
            &msg,
            Err("bloblang expression was false"),
        );
        check(
            mapping("root = this.age"),
            &msg,
            Err("expected the mapping to result in a boolean, got number"),
        );
    }

    #[test]
    fn json_equals_lists_the_differences() {
        let msg = message(r#"{"id":1,"name":"a"}"#);
        check(
            Condition::JsonEquals(json!({"name": "a", "id": 1})),
            &msg,
            Ok(()),
        );
        check(
            Condition::JsonEquals(json!({"id": 2, "name": "a"})),
            &msg,
            Err(
                "JSON content mismatch\n  expected: {\"id\":2,\"name\":\"a\"}\n  received: {\"id\":1,\"name\":\"a\"}\n    /id: expected 2, received 1",
            ),
        );
        check(Condition::JsonContains(json!({"id": 1})), &msg, Ok(()));
    }

    #[test]
    fn json_of_a_non_json_message_says_so() {
        let err = Condition::JsonEquals(json!({}))
            .check(&message("plain"))
            .unwrap_err();
        assert!(err.starts_with("JSON content mismatch: received content is not valid JSON"));
        assert!(err.ends_with("  received: plain"), "{err}");
    }
}
