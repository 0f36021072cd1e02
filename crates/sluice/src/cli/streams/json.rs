//! Stream configs as JSON: what the streams API shows and patches.

use serde_json::Value;
use sluice_core::config::{Node, NodeKind, ScalarStyle};

/// A config node as JSON. Plain scalars become booleans, numbers or null
/// when they read as such, as a YAML parser would type them.
pub(crate) fn node_to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Scalar(text, ScalarStyle::Plain) => plain_scalar(text),
        NodeKind::Scalar(text, _) => Value::String(text.clone()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(node_to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), node_to_json(v)))
                .collect(),
        ),
    }
}

fn plain_scalar(text: &str) -> Value {
    match text {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && text.chars().any(|c| c.is_ascii_digit()) => {
            serde_json::Number::from_f64(f)
                .map_or_else(|| Value::String(text.to_owned()), Value::Number)
        }
        _ => Value::String(text.to_owned()),
    }
}

/// Applies a patch to a stream config: sections merge key by key, except
/// that an `input` or `output` of another component type replaces the old
/// one rather than sitting beside it.
pub(crate) fn patch_config(base: &mut Value, patch: Value) {
    let (Value::Object(base_map), Value::Object(patch_map)) = (&mut *base, &patch) else {
        *base = patch;
        return;
    };
    let mut patch_map = patch_map.clone();
    for section in ["input", "output"] {
        let (Some(old), Some(new)) = (base_map.get(section), patch_map.get(section)) else {
            continue;
        };
        if component_type(old) != component_type(new) && component_type(new).is_some() {
            let new = patch_map.remove(section).unwrap_or(Value::Null);
            base_map.insert(section.to_owned(), new);
        }
    }
    merge(base, Value::Object(patch_map));
}

/// The type key of a component object: its one key besides `label` and
/// `processors`.
fn component_type(component: &Value) -> Option<&str> {
    component
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|k| *k != "label" && *k != "processors")
}

/// Applies `patch` onto `base`: objects merge key by key, anything else
/// replaces what was there.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_typed_like_yaml() {
        let node = Node::parse("a: 1\nb: '1'\nc: true\nd: 1.5\ne: x\nf:\ng: [1, y]\n").unwrap();
        assert_eq!(
            node_to_json(&node),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": 1.5, "e": "x", "f": null, "g": [1, "y"]})
        );
    }

    #[test]
    fn patches_merge_objects_and_replace_the_rest() {
        let mut base = serde_json::json!({"input": {"http_server": {"path": "/a", "timeout": "5s"}}, "output": {"drop": {}}});
        patch_config(
            &mut base,
            serde_json::json!({"input": {"http_server": {"path": "/b"}}, "output": {"sync_response": {}}}),
        );
        assert_eq!(
            base,
            serde_json::json!({"input": {"http_server": {"path": "/b", "timeout": "5s"}}, "output": {"sync_response": {}}})
        );
    }
}
