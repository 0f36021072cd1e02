//! Structural JSON comparison for `json_equals` / `json_contains`: ignores key
//! order and number formatting, and names every difference by its JSON
//! pointer so a failure says where the documents part.

use serde_json::Value;

/// Whether `actual` must equal `expected` or only hold it as a subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Equals,
    Contains,
}

/// Every difference between `actual` and `expected`, one line each; empty
/// when they match under `mode`.
pub(super) fn differences(actual: &Value, expected: &Value, mode: Mode) -> Vec<String> {
    let mut acc = Vec::new();
    compare(&mut acc, "", actual, expected, mode);
    acc
}

fn compare(acc: &mut Vec<String>, path: &str, actual: &Value, expected: &Value, mode: Mode) {
    let at = if path.is_empty() { "/" } else { path };
    match (actual, expected) {
        (Value::Object(act), Value::Object(exp)) => {
            for (key, exp_value) in exp {
                let child = format!("{path}/{}", escape(key));
                match act.get(key) {
                    Some(act_value) => compare(acc, &child, act_value, exp_value, mode),
                    None => acc.push(format!("{child}: expected {exp_value}, but it is missing")),
                }
            }
            if mode == Mode::Equals {
                for (key, act_value) in act {
                    if !exp.contains_key(key) {
                        let child = format!("{path}/{}", escape(key));
                        acc.push(format!("{child}: unexpected {act_value}"));
                    }
                }
            }
        }
        (Value::Array(act), Value::Array(exp)) => {
            // Arrays compare element by element in both modes, as Benthos's
            // superset check does: a shorter expected array is a prefix.
            for (idx, exp_value) in exp.iter().enumerate() {
                let child = format!("{path}/{idx}");
                match act.get(idx) {
                    Some(act_value) => compare(acc, &child, act_value, exp_value, mode),
                    None => acc.push(format!("{child}: expected {exp_value}, but it is missing")),
                }
            }
            if mode == Mode::Equals && act.len() > exp.len() {
                for (idx, act_value) in act.iter().enumerate().skip(exp.len()) {
                    acc.push(format!("{path}/{idx}: unexpected {act_value}"));
                }
            }
        }
        (Value::Number(act), Value::Number(exp)) => {
            if !numbers_equal(act, exp) {
                acc.push(format!("{at}: expected {exp}, received {act}"));
            }
        }
        _ if actual == expected => {}
        _ => acc.push(format!("{at}: expected {expected}, received {actual}")),
    }
}

/// `1`, `1.0` and `1e0` are the same number in a JSON document.
fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a.to_string() == b.to_string(),
    }
}

/// JSON pointer escaping of one key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(actual: Value, expected: Value, mode: Mode, want: &[&str]) {
        assert_eq!(differences(&actual, &expected, mode), want);
    }

    #[test]
    fn equal_documents_ignore_key_order_and_number_form() {
        let actual: Value = serde_json::from_str(r#"{"b":1.0,"a":[1,2]}"#).unwrap();
        check(actual, json!({"a": [1, 2], "b": 1}), Mode::Equals, &[]);
    }

    #[test]
    fn equals_names_changed_missing_and_extra_fields() {
        check(
            json!({"a": 1, "c": {"d": "x"}, "e": true}),
            json!({"a": 2, "b": 3, "c": {"d": "y"}}),
            Mode::Equals,
            &[
                "/a: expected 2, received 1",
                "/b: expected 3, but it is missing",
                "/c/d: expected \"y\", received \"x\"",
                "/e: unexpected true",
            ],
        );
    }

    #[test]
    fn contains_accepts_a_superset_but_not_a_different_value() {
        check(
            json!({"a": 1, "b": 2}),
            json!({"a": 1}),
            Mode::Contains,
            &[],
        );
        check(
            json!({"a": 1, "b": 2}),
            json!({"b": "2"}),
            Mode::Contains,
            &["/b: expected \"2\", received 2"],
        );
    }

    #[test]
    fn scalars_at_the_root_are_named_by_slash() {
        check(
            json!("x"),
            json!("y"),
            Mode::Equals,
            &["/: expected \"y\", received \"x\""],
        );
    }
}
