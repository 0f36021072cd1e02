//! Stream configs as JSON: what the streams API shows and patches.

use serde_json::Value;

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
