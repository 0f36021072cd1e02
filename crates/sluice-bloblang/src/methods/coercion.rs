//! Coercions with a fallback: `bool`, `timestamp`, and the `not` method.

use crate::env::{Environment, Kind, MethodImpl, ex, opt};
use crate::eval::{Call, Cx, Expr, Flow, R, This, err, type_err, type_err_from};
use crate::methods::time::get_timestamp;
use crate::value::{Num, Value};

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Benthos `IToBool`: booleans, numbers (non-zero is true) and the texts Go parses.
fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_go_bool(s),
        Value::Bytes(b) => std::str::from_utf8(b).ok().and_then(parse_go_bool),
        other => match other.as_num()? {
            Num::I(i) => Some(i != 0),
            Num::F(f) => Some(f != 0.0),
        },
    }
}

/// The target, or the default when one is given and the target fails or does not convert.
pub(crate) fn with_fallback(
    cx: &mut Cx<'_>,
    this: This<'_>,
    call: &Call,
    convert: impl FnOnce(&Value, &Expr) -> Result<Value, String>,
) -> R<Value> {
    let default = call.arg(0, cx, this)?;
    let target = match call.target(cx, this) {
        Ok(v) => v,
        Err(Flow::Err(_)) if !default.is_null() => return Ok(default),
        Err(e) => return Err(e),
    };
    let from = call.target.as_ref().expect("methods have a target");
    match convert(&target, from) {
        Ok(v) => Ok(v),
        Err(_) if !default.is_null() => Ok(default),
        Err(e) => err(e),
    }
}

fn bool_method(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    with_fallback(cx, this, call, |v, from| {
        to_bool(v)
            .map(Value::Bool)
            .ok_or_else(|| type_err_from("bool", v, &from.annotation()))
    })
}

fn timestamp_method(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    with_fallback(cx, this, call, |v, from| match v {
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            Err(type_err_from("number or string", v, &from.annotation()))
        }
        other => get_timestamp(other)
            .map(Value::Timestamp)
            .map_err(|e| format!("{}: {e}", from.annotation())),
    })
}

fn not_method(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target.as_ref().expect("methods have a target");
    match target.eval(cx, this)? {
        Value::Bool(b) => Ok(Value::Bool(!b)),
        other => err(format!(
            "{}: {}",
            target.annotation(),
            type_err("bool", &other)
        )),
    }
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Type Coercion";
    env.method(
        "bool",
        cat,
        "Parses a value as a boolean: numbers are true when non-zero, and strings may be 1, t, \
         T, TRUE, true, True, 0, f, F, FALSE, false or False. The default, when given, is \
         returned instead of an error.",
        vec![opt("default", Kind::Bool, Value::Null)],
        vec![ex(
            "root.foo = this.thing.bool()\nroot.bar = this.thing.bool(true)",
            &[
                (r#"{"thing":"false"}"#, r#"{"foo":false,"bar":false}"#),
                (r#"{"thing":1}"#, r#"{"foo":true,"bar":true}"#),
            ],
        )],
        MethodImpl::Ctx(bool_method),
    );
    env.method(
        "timestamp",
        cat,
        "Parses a value as a timestamp: numbers are unix seconds and strings RFC 3339. The \
         default, when given, is returned instead of an error.",
        vec![opt("default", Kind::Timestamp, Value::Null)],
        vec![ex(
            "root.foo = this.ts.timestamp()\nroot.bar = this.none.timestamp(1234567890.timestamp())",
            &[(
                r#"{"ts":"2024-03-01T10:00:00Z"}"#,
                r#"{"foo":"2024-03-01T10:00:00Z","bar":"2009-02-13T23:31:30Z"}"#,
            )],
        )],
        MethodImpl::Ctx(timestamp_method),
    );
    env.method(
        "not",
        "General",
        "The logical negation of a boolean.",
        vec![],
        vec![ex(
            "root.b = this.a.not()",
            &[(r#"{"a":true}"#, r#"{"b":false}"#)],
        )],
        MethodImpl::Ctx(not_method),
    );
}

#[cfg(test)]
mod tests {

    use crate::testing::map_one as check;

    #[test]
    fn bool_parses_go_texts_and_numbers() {
        for (input, expected) in [
            ("\"t\"", "true"),
            ("\"TRUE\"", "true"),
            ("\"True\"", "true"),
            ("\"1\"", "true"),
            ("\"F\"", "false"),
            ("\"0\"", "false"),
            ("0", "false"),
            ("0.0", "false"),
            ("-2.5", "true"),
            ("true", "true"),
        ] {
            assert_eq!(
                check("root = this.bool()", input).as_deref(),
                Ok(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn bool_default_covers_failures_of_the_target_too() {
        assert_eq!(
            check("root = this.thing.bool()", r#"{"thing":"nope"}"#).unwrap_err(),
            "failed assignment (line 1): expected bool value, got string from field `this.thing` (\"nope\")"
        );
        assert_eq!(
            check("root = this.thing.bool(true)", r#"{"thing":"nope"}"#).as_deref(),
            Ok("true")
        );
        assert_eq!(
            check(
                "root = this.thing.uppercase().bool(false)",
                r#"{"thing":5}"#
            )
            .as_deref(),
            Ok("false")
        );
        assert_eq!(
            check("root = this.thing.bool(default: 1)", r#"{}"#).as_deref(),
            Ok("true")
        );
        assert_eq!(
            check(r#"root = this.thing.bool("yes")"#, r#"{}"#).unwrap_err(),
            "line 1 char 30: field default: expected bool value, got string (\"yes\")"
        );
        assert_eq!(
            check(r#"root = this.thing.bool(fallback: true)"#, r#"{}"#).unwrap_err(),
            "line 1 char 39: unknown parameter fallback"
        );
    }

    #[test]
    fn timestamp_coerces_and_falls_back() {
        assert_eq!(
            check(
                "root = this.ts.timestamp().ts_unix()",
                r#"{"ts":1700000000}"#
            )
            .as_deref(),
            Ok("1700000000")
        );
        assert_eq!(
            check(
                "root = this.ts.timestamp().ts_unix_milli()",
                r#"{"ts":1.5}"#
            )
            .as_deref(),
            Ok("1500")
        );
        assert_eq!(
            check(
                r#"root = this.ts.timestamp("2001-02-03T04:05:06Z")"#,
                r#"{"ts":"nope"}"#
            )
            .as_deref(),
            Ok(r#""2001-02-03T04:05:06Z""#)
        );
        assert_eq!(
            check("root = this.ts.timestamp()", r#"{"ts":true}"#).unwrap_err(),
            "failed assignment (line 1): expected number or string value, got bool from field `this.ts` (true)"
        );
        assert!(
            check("root = this.ts.timestamp()", r#"{"ts":"nope"}"#)
                .unwrap_err()
                .starts_with("failed assignment (line 1): field `this.ts`: ")
        );
        assert_eq!(
            check(r#"root = this.ts.timestamp("nope")"#, "{}")
                .unwrap_err()
                .split(':')
                .next(),
            Some("line 1 char 33")
        );
    }

    #[test]
    fn not_negates_booleans_only() {
        assert_eq!(
            check("root = this.a.not()", r#"{"a":false}"#).as_deref(),
            Ok("true")
        );
        assert_eq!(
            check("root = this.a.not()", r#"{"a":5}"#).unwrap_err(),
            "failed assignment (line 1): field `this.a`: expected bool value, got number (5)"
        );
    }
}
