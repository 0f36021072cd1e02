//! Changelogs between two values (`diff`) and their application (`patch`).

use crate::value::Map;

use crate::env::{Environment, Kind, MethodImpl, ex, p};
use crate::eval::{type_err, values_equal};
use crate::value::Value;

fn change(kind: &str, path: &[String], from: Value, to: Value) -> Value {
    let mut m = Map::new();
    m.insert("Type", Value::String(kind.to_owned().into()));
    m.insert(
        "Path".to_owned(),
        Value::Array(
            path.iter()
                .map(|s| Value::String(s.clone().into()))
                .collect(),
        ),
    );
    m.insert("From", from);
    m.insert("To", to);
    Value::Object(m)
}

/// Appends the changes turning `a` into `b`; object keys are visited in sorted order.
fn diff_into(acc: &mut Vec<Value>, path: &mut Vec<String>, a: &Value, b: &Value) {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let mut keys: Vec<&crate::value::Key> = ma.keys().chain(mb.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                path.push(k.to_string());
                match (ma.get(k), mb.get(k)) {
                    (Some(x), Some(y)) => diff_into(acc, path, x, y),
                    (Some(x), None) => acc.push(change("delete", path, x.clone(), Value::Null)),
                    (None, Some(y)) => acc.push(change("create", path, Value::Null, y.clone())),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        (Value::Array(xa), Value::Array(xb)) => {
            // Elements are matched by value regardless of position, as an unordered diff.
            for (i, x) in xa.iter().enumerate() {
                if !xb.iter().any(|y| values_equal(x, y)) {
                    path.push(i.to_string());
                    acc.push(change("delete", path, x.clone(), Value::Null));
                    path.pop();
                }
            }
            for (i, y) in xb.iter().enumerate() {
                if !xa.iter().any(|x| values_equal(x, y)) {
                    path.push(i.to_string());
                    acc.push(change("create", path, Value::Null, y.clone()));
                    path.pop();
                }
            }
        }
        _ => {
            if !values_equal(a, b) {
                acc.push(change("update", path, a.clone(), b.clone()));
            }
        }
    }
}

fn diff(v: Value, args: &[Value]) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let mut acc = Vec::new();
    diff_into(&mut acc, &mut Vec::new(), &v, &args[0]);
    Ok(Value::Array(acc))
}

fn set_at(target: &mut Value, path: &[String], value: Option<Value>) -> Result<(), String> {
    let Some((head, rest)) = path.split_first() else {
        if let Some(v) = value {
            *target = v;
        }
        return Ok(());
    };
    match target {
        Value::Object(map) => {
            if rest.is_empty() {
                match value {
                    Some(v) => {
                        map.insert(head.as_str(), v);
                    }
                    None => {
                        map.remove(head);
                    }
                }
                return Ok(());
            }
            let child = map.get_or_insert_with(head, || Value::Object(Map::new()));
            set_at(child, rest, value)
        }
        Value::Array(items) => {
            let idx: usize = head
                .parse()
                .map_err(|_| format!("invalid array index {head}"))?;
            if rest.is_empty() {
                match value {
                    Some(v) if idx < items.len() => items[idx] = v,
                    Some(v) => items.push(v),
                    None if idx < items.len() => {
                        items.remove(idx);
                    }
                    None => {}
                }
                return Ok(());
            }
            match items.get_mut(idx) {
                Some(child) => set_at(child, rest, value),
                None => Err(format!("array index {idx} out of bounds")),
            }
        }
        Value::Null => {
            *target = Value::Object(Map::new());
            set_at(target, path, value)
        }
        other => Err(type_err("object", other)),
    }
}

fn patch(v: Value, args: &[Value]) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let Value::Array(changes) = &args[0] else {
        return Err(type_err("array", &args[0]));
    };
    let mut out = v;
    for c in changes {
        let Value::Object(m) = c else {
            return Err(type_err("object", c));
        };
        let path: Vec<String> = match m.get("Path") {
            Some(Value::Array(p)) => p.iter().map(Value::to_interp_string).collect(),
            _ => return Err("changelog entry has no Path".to_owned()),
        };
        let to = m.get("To").cloned().unwrap_or(Value::Null);
        match m.get("Type") {
            Some(Value::String(t)) if t == "create" || t == "update" => {
                set_at(&mut out, &path, Some(to))?;
            }
            Some(Value::String(t)) if t == "delete" => set_at(&mut out, &path, None)?,
            _ => return Err("changelog entry has an unknown Type".to_owned()),
        }
    }
    Ok(out)
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Object & Array Manipulation";
    env.method(
        "diff",
        cat,
        "Compares the value with another and returns a changelog of create, update and delete operations.",
        vec![p("other", Kind::Any)],
        vec![
            ex(
                "root.changes = this.before.diff(this.after)",
                &[(
                    r#"{"before":{"name":"Alice","age":30},"after":{"name":"Alice","age":31,"city":"NYC"}}"#,
                    r#"{"changes":[{"From":30,"Path":["age"],"To":31,"Type":"update"},{"From":null,"Path":["city"],"To":"NYC","Type":"create"}]}"#,
                )],
            ),
            ex(
                "root.changelog = this.old_config.diff(this.new_config)",
                &[(
                    r#"{"old_config":{"debug":true,"timeout":30},"new_config":{"timeout":60}}"#,
                    r#"{"changelog":[{"From":true,"Path":["debug"],"To":null,"Type":"delete"},{"From":30,"Path":["timeout"],"To":60,"Type":"update"}]}"#,
                )],
            ),
        ],
        MethodImpl::Simple(diff),
    );
    env.method(
        "patch",
        cat,
        "Applies a changelog, as returned by `diff`, to the value.",
        vec![p("changelog", Kind::Any)],
        vec![
            ex(
                "root.updated = this.current.patch(this.changelog)",
                &[(
                    r#"{"current":{"name":"Alice","age":30},"changelog":[{"Type":"update","Path":["age"],"From":30,"To":31},{"Type":"create","Path":["city"],"From":null,"To":"NYC"}]}"#,
                    r#"{"updated":{"age":31,"city":"NYC","name":"Alice"}}"#,
                )],
            ),
            ex(
                "root.restored = this.modified.patch(this.reverse_changelog)",
                &[(
                    r#"{"modified":{"timeout":60},"reverse_changelog":[{"Type":"create","Path":["debug"],"From":null,"To":true},{"Type":"update","Path":["timeout"],"From":60,"To":30}]}"#,
                    r#"{"restored":{"debug":true,"timeout":30}}"#,
                )],
            ),
        ],
        MethodImpl::Simple(patch),
    );
}
