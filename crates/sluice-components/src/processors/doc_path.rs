//! Reading and writing a value at a path of keys inside a JSON document,
//! for processors that place their results there (`grok` captures named
//! `user.name`, `workflow`'s record at `meta_path`).

use sluice_bloblang::{Map, Value};

/// The value at `path`, if every step is an object holding the next key.
pub(crate) fn get<'v, S: AsRef<str>>(mut value: &'v Value, path: &[S]) -> Option<&'v Value> {
    for key in path {
        match value {
            Value::Object(map) => value = map.get(key.as_ref())?,
            _ => return None,
        }
    }
    Some(value)
}

/// Sets `new` at `path`, replacing whatever is in the way with objects.
pub(crate) fn set<S: AsRef<str>>(value: &mut Value, path: &[S], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *value = new;
        return;
    };
    if !matches!(value, Value::Object(_)) {
        *value = Value::Object(Map::new());
    }
    let Value::Object(map) = value else {
        unreachable!("made an object above")
    };
    let slot = map.get_or_insert_with(first.as_ref(), || Value::Null);
    set(slot, rest, new);
}
