//! `infer_schema`: the common schema of a value, as Benthos's schema package writes it.

use sha2::{Digest as _, Sha256};

use crate::env::{Environment, MethodImpl, ex};
use crate::value::Value;

/// A node of the common schema: a type code, a name (object fields only) and children.
struct Common {
    code: u8,
    name: String,
    children: Vec<Common>,
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

fn infer(name: &str, v: &Value) -> Result<Common, String> {
    let (code, _) = type_of(v);
    let mut node = Common {
        code,
        name: name.to_owned(),
        children: Vec::new(),
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
    Ok(node)
}

impl Common {
    /// The canonical text the fingerprint hashes; every field is required (`O:0`).
    fn write_fingerprint(&self, out: &mut String) {
        out.push_str(&format!(
            "T:{}|N:{}|O:0|C:{}|",
            self.code,
            self.name,
            self.children.len()
        ));
        for (i, child) in self.children.iter().enumerate() {
            out.push_str(&format!("[{i}:"));
            child.write_fingerprint(out);
            out.push(']');
        }
    }

    fn to_value(&self) -> Value {
        let mut text = String::new();
        self.write_fingerprint(&mut text);
        let mut m = crate::value::Map::new();
        m.insert(
            "type".to_owned(),
            Value::String(type_name(self.code).to_owned().into()),
        );
        m.insert(
            "fingerprint".to_owned(),
            Value::String(hex::encode(Sha256::digest(text.as_bytes())).into()),
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
    infer("", v).map(|c| c.to_value())
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
