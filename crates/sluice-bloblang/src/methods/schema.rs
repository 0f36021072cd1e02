//! `infer_schema`: the common schema of a value, as Benthos's schema package writes it.

use sha2::{Digest as _, Sha256};

use crate::budget::MAX_DOCUMENT_DEPTH;
use crate::env::{Environment, MethodImpl, ex};
use crate::value::Value;

/// A node of the common schema: a type code, a name (object fields only) and children.
struct Common {
    code: u8,
    name: String,
    children: Vec<Common>,
    /// The length of the node's fingerprint text, its children's included.
    text_len: usize,
}

/// The type's code (used by the fingerprint) and its name.
fn type_of(v: &Value) -> (u8, &'static str) {
    match v {
        Value::Bool(_) => (1, "BOOLEAN"),
        Value::Int(_) => (3, "INT64"),
        Value::Float(_) => (5, "FLOAT64"),
        // A number as read from JSON is an integer when its text parses as one.
        Value::Number(n) if n.parse::<i64>().is_ok() => (3, "INT64"),
        Value::Number(_) => (5, "FLOAT64"),
        Value::String(_) => (6, "STRING"),
        Value::Bytes(_) => (7, "BYTE_ARRAY"),
        Value::Object(_) => (8, "OBJECT"),
        Value::Array(_) => (10, "ARRAY"),
        Value::Null => (11, "NULL"),
        Value::Timestamp(_) => (13, "TIMESTAMP"),
    }
}

fn type_name(code: u8) -> &'static str {
    match code {
        1 => "BOOLEAN",
        3 => "INT64",
        5 => "FLOAT64",
        6 => "STRING",
        7 => "BYTE_ARRAY",
        8 => "OBJECT",
        10 => "ARRAY",
        11 => "NULL",
        _ => "TIMESTAMP",
    }
}

/// Whether `v` nests deeper than `max` levels; a loop, as `v` may nest deeper than the
/// stack allows.
fn nests_deeper_than(v: &Value, max: usize) -> bool {
    let mut pending = vec![(v, 0usize)];
    while let Some((v, depth)) = pending.pop() {
        if depth > max {
            return true;
        }
        match v {
            Value::Array(items) => pending.extend(items.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => pending.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

/// The schema of `v`; recursive, for a value no deeper than [`MAX_DOCUMENT_DEPTH`].
fn infer(name: &str, v: &Value) -> Result<Common, String> {
    let (code, _) = type_of(v);
    let mut node = Common {
        code,
        name: name.to_owned(),
        children: Vec::new(),
        text_len: 0,
    };
    match v {
        // An array's schema is that of its first element; the rest must agree.
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let child = infer("", item).map_err(|e| format!(".{i}{e}"))?;
                match node.children.first() {
                    None => node.children.push(child),
                    Some(first) if first.code != child.code => {
                        return Err(format!(
                            ".{i} mismatched array types, found {} and {}",
                            type_name(first.code),
                            type_name(child.code)
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                node.children
                    .push(infer(key, field).map_err(|e| format!(".{key}{e}"))?);
            }
        }
        _ => {}
    }
    let mut text_len = node.own_text().len();
    for (i, child) in node.children.iter().enumerate() {
        // `[i:` and `]` around each child's text.
        text_len = text_len
            .saturating_add(child_open(i).len() + 1)
            .saturating_add(child.text_len);
    }
    node.text_len = text_len;
    Ok(node)
}

/// What opens the text of the `i`th child in its parent's fingerprint text.
fn child_open(i: usize) -> String {
    format!("[{i}:")
}

impl Common {
    /// The start of the canonical text the fingerprint hashes; every field is required
    /// (`O:0`).
    fn own_text(&self) -> String {
        format!(
            "T:{}|N:{}|O:0|C:{}|",
            self.code,
            self.name,
            self.children.len()
        )
    }

    /// Feeds the node's fingerprint text to `hasher`, without building it.
    fn hash_fingerprint(&self, hasher: &mut Sha256) {
        hasher.update(self.own_text().as_bytes());
        for (i, child) in self.children.iter().enumerate() {
            hasher.update(child_open(i).as_bytes());
            child.hash_fingerprint(hasher);
            hasher.update(b"]");
        }
    }

    /// The bytes hashed to fingerprint this node and every node under it: each node's text
    /// holds its children's, so a deep value hashes far more than its size.
    fn hashed_bytes(&self) -> usize {
        let mut total = 0usize;
        let mut pending = vec![self];
        while let Some(node) = pending.pop() {
            total = total.saturating_add(node.text_len);
            pending.extend(node.children.iter());
        }
        total
    }

    fn to_value(&self) -> Value {
        let mut hasher = Sha256::new();
        self.hash_fingerprint(&mut hasher);
        let mut m = crate::value::Map::new();
        m.insert(
            "type".to_owned(),
            Value::String(type_name(self.code).to_owned().into()),
        );
        m.insert(
            "fingerprint".to_owned(),
            Value::String(hex::encode(hasher.finalize()).into()),
        );
        if !self.name.is_empty() {
            m.insert("name", Value::String(self.name.clone().into()));
        }
        if !self.children.is_empty() {
            m.insert(
                "children".to_owned(),
                Value::Array(self.children.iter().map(Common::to_value).collect()),
            );
        }
        Value::Object(m)
    }
}

fn infer_schema(v: &Value, _: &[Value]) -> Result<Value, String> {
    if nests_deeper_than(v, MAX_DOCUMENT_DEPTH) {
        return Err(format!(
            "infer_schema exceeded the maximum nesting depth of {MAX_DOCUMENT_DEPTH}"
        ));
    }
    let schema = infer("", v)?;
    let hashed = schema.hashed_bytes();
    let limit = crate::budget::max_value_bytes();
    if hashed > limit {
        return Err(format!(
            "infer_schema would hash {hashed} bytes of fingerprint text, more than the limit of {limit} bytes for one value"
        ));
    }
    Ok(schema.to_value())
}

pub(crate) fn register(env: &mut Environment) {
    env.method(
        "infer_schema",
        "Parsing",
        "The common schema of a value: its type, and those of its fields and elements, each \
         with a fingerprint of its structure.",
        vec![],
        vec![ex(
            "root = this.infer_schema().type",
            &[(r#"{"a":1}"#, "OBJECT")],
        )],
        MethodImpl::Ref(infer_schema),
    );
}

#[cfg(test)]
mod tests {

    use crate::testing::map_one as check;
    use crate::testing::on_worker_stack;

    fn sha(text: &str) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn scalars_and_their_fingerprints() {
        assert_eq!(
            check("root = this.infer_schema()", "true").unwrap(),
            format!(
                r#"{{"fingerprint":"{}","type":"BOOLEAN"}}"#,
                sha("T:1|N:|O:0|C:0|")
            )
        );
        for (input, ty) in [
            ("5", "INT64"),
            ("5.5", "FLOAT64"),
            ("1.0", "FLOAT64"),
            ("1e3", "FLOAT64"),
            (r#""s""#, "STRING"),
            ("null", "NULL"),
        ] {
            assert_eq!(
                check("root = this.infer_schema().type", input).unwrap(),
                ty,
                "{input}"
            );
        }
        assert_eq!(
            check("root = content().infer_schema().type", "x").unwrap(),
            "BYTE_ARRAY"
        );
        assert_eq!(
            check("root = 1.timestamp().infer_schema().type", "{}").unwrap(),
            "TIMESTAMP"
        );
    }

    /// The fingerprint text of `depth` arrays nested in one another.
    fn nested_arrays_text(depth: usize) -> String {
        let mut text = "T:10|N:|O:0|C:0|".to_owned();
        for _ in 1..depth {
            text = format!("T:10|N:|O:0|C:1|[0:{text}]");
        }
        text
    }

    #[test]
    fn deep_values_hash_within_a_budget() {
        on_worker_stack(deep_values_hash_within_a_budget_on_a_worker);
    }

    fn deep_values_hash_within_a_budget_on_a_worker() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        // Every level hashes the text of all levels under it.
        assert_eq!(
            check("root = this.infer_schema().fingerprint", &nested(300)).unwrap(),
            sha(&nested_arrays_text(300))
        );
        assert_eq!(
            check(
                "root = this.infer_schema().children.index(0).fingerprint",
                &nested(300)
            )
            .unwrap(),
            sha(&nested_arrays_text(299))
        );
        let res = check("root = this.infer_schema()", &nested(10_000)).unwrap_err();
        assert!(
            res.starts_with("failed assignment (line 1): infer_schema would hash ")
                && res.ends_with(
                    "bytes of fingerprint text, more than the limit of 67108864 bytes for one value"
                ),
            "{res}"
        );
    }

    #[test]
    fn values_deeper_than_a_document_may_nest_are_refused() {
        on_worker_stack(values_deeper_than_a_document_may_nest_are_refused_on_a_worker);
    }

    fn values_deeper_than_a_document_may_nest_are_refused_on_a_worker() {
        use crate::value::Value;
        let mut v = Value::Array(Vec::new());
        for _ in 0..10_001 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(
            super::infer_schema(&v, &[]).unwrap_err(),
            "infer_schema exceeded the maximum nesting depth of 10000"
        );
    }

    #[test]
    fn objects_and_arrays_nest() {
        let child_a = "T:3|N:a|O:0|C:0|";
        let child_b_elem = "T:6|N:|O:0|C:0|";
        let child_b = format!("T:10|N:b|O:0|C:1|[0:{child_b_elem}]");
        let whole = format!("T:8|N:|O:0|C:2|[0:{child_a}][1:{child_b}]");
        let expected = format!(
            concat!(
                r#"{{"children":[{{"fingerprint":"{}","name":"a","type":"INT64"}},"#,
                r#"{{"children":[{{"fingerprint":"{}","type":"STRING"}}],"fingerprint":"{}","name":"b","type":"ARRAY"}}],"#,
                r#""fingerprint":"{}","type":"OBJECT"}}"#
            ),
            sha(child_a),
            sha(child_b_elem),
            sha(&child_b),
            sha(&whole)
        );
        assert_eq!(
            check("root = this.infer_schema()", r#"{"b":["x","y"],"a":1}"#).unwrap(),
            expected
        );
        assert_eq!(
            check("root = this.infer_schema()", r#"{"b":["x",1]}"#).unwrap_err(),
            // A plugin's error is not prefixed with the query of its target.
            "failed assignment (line 1): .b.1 mismatched array types, found STRING and INT64"
        );
    }
}
