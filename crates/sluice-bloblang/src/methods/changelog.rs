//! Changelogs between two values (`diff`) and their application (`patch`).

use std::collections::HashSet;

use crate::budget::MAX_DOCUMENT_DEPTH;
use crate::env::{Environment, Kind, MethodImpl, ex, p};
use crate::eval::{type_err, values_equal};
use crate::value::{Map, Num, Value, float_key};

/// A changelog being built, with what its paths cost so far.
struct Changes {
    acc: Vec<Value>,
    path: Vec<String>,
    /// The bytes of the segments in `path`.
    path_bytes: usize,
    /// About the bytes the changes' paths take: every change copies its whole path.
    spent: usize,
}

impl Changes {
    fn push(&mut self, kind: &str, from: Value, to: Value) -> Result<(), String> {
        let segment = std::mem::size_of::<Value>();
        self.spent = self
            .spent
            .saturating_add(self.path.len().saturating_mul(segment))
            .saturating_add(self.path_bytes);
        crate::budget::check_bytes(self.spent, "diff")?;
        let mut m = Map::new();
        m.insert("Type", Value::String(kind.into()));
        m.insert(
            "Path",
            Value::Array(
                self.path
                    .iter()
                    .map(|s| Value::String(s.as_str().into()))
                    .collect(),
            ),
        );
        m.insert("From", from);
        m.insert("To", to);
        self.acc.push(Value::Object(m));
        Ok(())
    }

    /// Runs `f` with `segment` appended to the path.
    fn at(
        &mut self,
        segment: String,
        f: impl FnOnce(&mut Changes) -> Result<(), String>,
    ) -> Result<(), String> {
        self.path_bytes += segment.len();
        self.path.push(segment);
        let res = f(self);
        if let Some(segment) = self.path.pop() {
            self.path_bytes -= segment.len();
        }
        res
    }
}

/// Appends the changes turning `a` into `b`; object keys are visited in sorted order.
fn diff_into(changes: &mut Changes, a: &Value, b: &Value) -> Result<(), String> {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            if changes.path.len() >= MAX_DOCUMENT_DEPTH {
                return Err(format!(
                    "diff exceeded the maximum nesting depth of {MAX_DOCUMENT_DEPTH}"
                ));
            }
            let mut keys: Vec<&crate::value::Key> = ma.keys().chain(mb.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                changes.at(k.to_string(), |changes| match (ma.get(k), mb.get(k)) {
                    (Some(x), Some(y)) => diff_into(changes, x, y),
                    (Some(x), None) => changes.push("delete", x.clone(), Value::Null),
                    (None, Some(y)) => changes.push("create", Value::Null, y.clone()),
                    (None, None) => Ok(()),
                })?;
            }
            Ok(())
        }
        (Value::Array(xa), Value::Array(xb)) => {
            // Elements are matched by value regardless of position, as an unordered diff.
            let in_b = Elements::new(xb);
            for (i, x) in xa.iter().enumerate() {
                if !in_b.contains(x) {
                    changes.at(i.to_string(), |changes| {
                        changes.push("delete", x.clone(), Value::Null)
                    })?;
                }
            }
            let in_a = Elements::new(xa);
            for (i, y) in xb.iter().enumerate() {
                if !in_a.contains(y) {
                    changes.at(i.to_string(), |changes| {
                        changes.push("create", Value::Null, y.clone())
                    })?;
                }
            }
            Ok(())
        }
        _ => {
            if values_equal(a, b) {
                return Ok(());
            }
            changes.push("update", a.clone(), b.clone())
        }
    }
}

/// The elements of an array, indexed to answer "is some element equal to this one" (as
/// [`values_equal`] decides) by hashing: scalars are looked up, and only arrays, objects
/// and timestamps are compared one by one, with the elements of their own kind.
struct Elements<'v> {
    nulls: bool,
    bools: [bool; 2],
    text: HashSet<&'v [u8]>,
    ints: HashSet<i64>,
    /// The floats, as [`float_key`]s; NaN equals nothing and is left out.
    floats: HashSet<u64>,
    /// The integers as floats, which floats equal when the integer rounds to them.
    ints_as_floats: HashSet<u64>,
    others: Vec<&'v Value>,
}

impl<'v> Elements<'v> {
    fn new(items: &'v [Value]) -> Elements<'v> {
        let mut index = Elements {
            nulls: false,
            bools: [false; 2],
            text: HashSet::new(),
            ints: HashSet::new(),
            floats: HashSet::new(),
            ints_as_floats: HashSet::new(),
            others: Vec::new(),
        };
        for item in items {
            match item {
                Value::Null => index.nulls = true,
                Value::Bool(b) => index.bools[usize::from(*b)] = true,
                Value::String(s) => {
                    index.text.insert(s.as_bytes());
                }
                Value::Bytes(b) => {
                    index.text.insert(b.as_slice());
                }
                Value::Int(_) | Value::Float(_) | Value::Number(_) => match item.as_num() {
                    Some(Num::I(i)) => {
                        index.ints.insert(i);
                        index.ints_as_floats.insert(float_key(i as f64));
                    }
                    Some(Num::F(f)) if !f.is_nan() => {
                        index.floats.insert(float_key(f));
                    }
                    Some(Num::F(_)) => {}
                    // A number text that does not parse equals nothing but an equal text.
                    None => index.others.push(item),
                },
                Value::Array(_) | Value::Object(_) | Value::Timestamp(_) => {
                    index.others.push(item);
                }
            }
        }
        index
    }

    fn contains(&self, v: &Value) -> bool {
        match v {
            Value::Null => self.nulls,
            Value::Bool(b) => self.bools[usize::from(*b)],
            Value::String(s) => self.text.contains(s.as_bytes()),
            Value::Bytes(b) => self.text.contains(b.as_slice()),
            Value::Int(_) | Value::Float(_) | Value::Number(_) => match v.as_num() {
                Some(Num::I(i)) => {
                    self.ints.contains(&i) || self.floats.contains(&float_key(i as f64))
                }
                Some(Num::F(f)) => {
                    !f.is_nan()
                        && (self.floats.contains(&float_key(f))
                            || self.ints_as_floats.contains(&float_key(f)))
                }
                None => self.others.iter().any(|o| values_equal(o, v)),
            },
            Value::Array(_) | Value::Object(_) | Value::Timestamp(_) => {
                self.others.iter().any(|o| values_equal(o, v))
            }
        }
    }
}

fn diff(v: Value, args: &[Value]) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let mut changes = Changes {
        acc: Vec::new(),
        path: Vec::new(),
        path_bytes: 0,
        spent: 0,
    };
    diff_into(&mut changes, &v, &args[0])?;
    Ok(Value::Array(changes.acc))
}

/// Sets (or with `None` deletes) the value at `path`, creating objects on the way. A loop,
/// one step per segment: the caller bounds the path's length.
fn set_at(target: &mut Value, path: &[String], value: Option<Value>) -> Result<(), String> {
    let mut target = target;
    let mut path = path;
    loop {
        let Some((head, rest)) = path.split_first() else {
            if let Some(v) = value {
                *target = v;
            }
            return Ok(());
        };
        if target.is_null() {
            *target = Value::Object(Map::new());
        }
        target = match target {
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
                map.get_or_insert_with(head, || Value::Object(Map::new()))
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
                    Some(child) => child,
                    None => return Err(format!("array index {idx} out of bounds")),
                }
            }
            other => return Err(type_err("object", other)),
        };
        path = rest;
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
            // A path deeper than a document may nest would build a value too deep to use.
            Some(Value::Array(p)) if p.len() > MAX_DOCUMENT_DEPTH => {
                return Err(format!(
                    "changelog entry Path has {} segments, more than the maximum nesting depth of {MAX_DOCUMENT_DEPTH}",
                    p.len()
                ));
            }
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

#[cfg(test)]
mod tests {
    /// The result of `mapping` on `input`, or its run error as text.
    fn check(mapping: &str, input: &str) -> String {
        crate::testing::map_one(mapping, input).unwrap_or_else(|e| format!("error: {e}"))
    }

    /// A JSON array of the integers in `range`.
    fn ints(range: std::ops::Range<i64>) -> String {
        let items: Vec<String> = range.map(|i| i.to_string()).collect();
        format!("[{}]", items.join(","))
    }

    /// A changelog of one entry creating `1` at a path of `n` segments `"a"`.
    fn deep_create(n: usize) -> String {
        let path = vec![r#""a""#; n].join(",");
        format!(r#"{{"doc":{{}},"ch":[{{"Type":"create","Path":[{path}],"To":1}}]}}"#)
    }

    #[test]
    fn patch_refuses_paths_deeper_than_a_document_may_nest() {
        assert_eq!(
            check("root = this.doc.patch(this.ch)", &deep_create(10_001)),
            "error: failed assignment (line 1): changelog entry Path has 10001 segments, more than the maximum nesting depth of 10000"
        );
        // A path within the limit is followed without recursion.
        assert_eq!(
            check(
                r#"root = this.doc.patch(this.ch).get(range(0, 3000).map_each(_ -> "a").join("."))"#,
                &deep_create(3000)
            ),
            "1"
        );
        assert_eq!(
            check(
                "root = this.a.patch(this.ch)",
                r#"{"a":{"l":[1,{"x":2}]},"ch":[{"Type":"update","Path":["l","1","x"],"To":3},{"Type":"delete","Path":["l","0"]},{"Type":"create","Path":["n","m"],"To":true}]}"#
            ),
            r#"{"l":[{"x":3}],"n":{"m":true}}"#
        );
    }

    #[test]
    fn diff_refuses_changelogs_whose_paths_exceed_the_value_limit() {
        crate::testing::on_worker_stack(
            diff_refuses_changelogs_whose_paths_exceed_the_value_limit_on_a_worker,
        );
    }

    fn diff_refuses_changelogs_whose_paths_exceed_the_value_limit_on_a_worker() {
        // 1,000 levels deep, 3,000 deletions: each change copies the 1,000-segment path.
        let nest = |inner: &str| format!("{}{inner}{}", r#"{"a":"#.repeat(1000), "}".repeat(1000));
        let input = format!(r#"{{"a":{},"b":{}}}"#, nest(&ints(0..3000)), nest("[]"));
        let res = check("root = this.a.diff(this.b)", &input);
        assert!(
            res.starts_with("error: failed assignment (line 1): diff would produce ")
                && res.ends_with("bytes, more than the limit of 67108864 bytes for one value"),
            "{res}"
        );
        let input = format!(r#"{{"a":{},"b":{}}}"#, nest(&ints(0..3)), nest("[]"));
        assert_eq!(check("root = this.a.diff(this.b).length()", &input), "3");
    }

    #[test]
    fn diff_matches_array_elements_by_value_through_a_hash() {
        let input = format!(
            r#"{{"a":{},"b":{}}}"#,
            ints(0..20_000),
            ints(10_000..30_000)
        );
        assert_eq!(
            check(
                "root = this.a.diff(this.b).map_each(c -> c.Type + c.Path.index(0)).slice(9999, 10001)",
                &input
            ),
            r#"["delete9999","create10000"]"#
        );
        // Numbers equal across kinds, strings equal bytes, containers compare deeply.
        assert_eq!(
            check(
                r#"root = this.a.diff(this.b)"#,
                r#"{"a":[1,"a",2.0,null,true,[1],{"x":1},2.5],"b":[1.0,"a",2,null,false,[1.0],{"x":1},2.5]}"#
            ),
            r#"[{"From":true,"Path":["4"],"To":null,"Type":"delete"},{"From":null,"Path":["4"],"To":false,"Type":"create"}]"#
        );
        assert_eq!(
            check(
                r#"root = this.a.diff(this.b)"#,
                r#"{"a":[9007199254740993,[2]],"b":[9007199254740992,[3]]}"#
            ),
            r#"[{"From":9007199254740993,"Path":["0"],"To":null,"Type":"delete"},{"From":[2],"Path":["1"],"To":null,"Type":"delete"},{"From":null,"Path":["0"],"To":9007199254740992,"Type":"create"},{"From":null,"Path":["1"],"To":[3],"Type":"create"}]"#
        );
        assert_eq!(
            check(
                r#"root = this.a.diff(this.b)"#,
                r#"{"a":[9007199254740993],"b":[9007199254740992.0]}"#
            ),
            "[]"
        );
    }
}
