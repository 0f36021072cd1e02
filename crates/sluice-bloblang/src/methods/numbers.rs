//! Number methods: coercion, rounding, maths and bit operations.

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::{Call, Cx, R, This, type_err};
use crate::value::{Num, Value, parse_number_text};

/// Benthos `IGetNumber`: a float from numbers, strings and bytes.
pub(crate) fn get_number(v: &Value) -> Result<f64, String> {
    match v {
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("strconv.ParseFloat: parsing {:?}: {}", s, go_float_err(&e))),
        Value::Bytes(b) => get_number(&Value::String(
            String::from_utf8_lossy(b).into_owned().into(),
        )),
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) | Value::Timestamp(_) => {
            Err(type_err("number", v))
        }
        other => Ok(other.as_num().map_or(0.0, Num::as_f64)),
    }
}

fn go_float_err(_: &std::num::ParseFloatError) -> &'static str {
    "invalid syntax"
}

/// The default, when given, also stands in for a target that fails, as in Benthos.
fn number(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    crate::methods::coercion::with_fallback(cx, this, call, |v, from| {
        get_number(v)
            .map(Value::Float)
            .map_err(|e| crate::eval::wrap_from(from, e))
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)`: base prefixes and underscores.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r.to_owned())
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r.to_owned())
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        return None;
    };
    let digits = digits.replace('_', "");
    let v = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn num_of(v: &Value) -> Result<Num, String> {
    match v {
        Value::String(s) => parse_number_text(s.trim())
            .or_else(|| parse_go_int(s.trim()).map(Num::I))
            .ok_or_else(|| type_err("number", v)),
        Value::Bytes(b) => num_of(&Value::String(
            String::from_utf8_lossy(b).into_owned().into(),
        )),
        other => other.as_num().ok_or_else(|| type_err("number", other)),
    }
}

fn int_in_range(v: &Value, min: i128, max: i128, name: &str) -> Result<Value, String> {
    let i: i128 = match num_of(v)? {
        Num::I(i) => i128::from(i),
        Num::F(f) => {
            if f.fract() != 0.0 {
                return Err(format!(
                    "value {} has a fractional component",
                    crate::value::format_float_g(f)
                ));
            }
            f as i128
        }
    };
    let i = match v {
        Value::String(s) if s.trim().parse::<u64>().is_ok() => {
            i128::from(s.trim().parse::<u64>().unwrap_or(0))
        }
        Value::Number(s) if s.parse::<u64>().is_ok() => i128::from(s.parse::<u64>().unwrap_or(0)),
        _ => i,
    };
    if i < min || i > max {
        return Err(format!("value {i} does not fit into {name}"));
    }
    Ok(if i > i128::from(i64::MAX) {
        Value::Number(i.to_string().into())
    } else {
        Value::Int(i as i64)
    })
}

fn int64(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, i128::from(i64::MIN), i128::from(i64::MAX), "int64")
}
fn int32(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, i128::from(i32::MIN), i128::from(i32::MAX), "int32")
}
fn int16(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, i128::from(i16::MIN), i128::from(i16::MAX), "int16")
}
fn int8(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, i128::from(i8::MIN), i128::from(i8::MAX), "int8")
}
fn uint64(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, 0, i128::from(u64::MAX), "uint64")
}
fn uint32(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, 0, i128::from(u32::MAX), "uint32")
}
fn uint16(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, 0, i128::from(u16::MAX), "uint16")
}
fn uint8(v: Value, _: &[Value]) -> Result<Value, String> {
    int_in_range(&v, 0, i128::from(u8::MAX), "uint8")
}

fn float64(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Float(num_of(&v)?.as_f64()))
}

fn float32(v: Value, _: &[Value]) -> Result<Value, String> {
    let f = num_of(&v)?.as_f64() as f32;
    // Go prints a float32 widened to float64 with the float32's shortest digits.
    let text = format!("{f}");
    Ok(Value::Float(text.parse::<f64>().unwrap_or(f64::from(f))))
}

fn float_fn(v: Value, f: fn(f64) -> f64) -> Result<Value, String> {
    match num_of(&v)? {
        Num::I(i) => Ok(Value::Int(i)),
        Num::F(x) => Ok(Value::Float(f(x))),
    }
}

fn round_to_int(v: Value, f: fn(f64) -> f64) -> Result<Value, String> {
    match num_of(&v)? {
        Num::I(i) => Ok(Value::Int(i)),
        Num::F(x) => {
            let r = f(x);
            if r >= i64::MIN as f64 && r <= i64::MAX as f64 {
                Ok(Value::Int(r as i64))
            } else {
                Ok(Value::Float(r))
            }
        }
    }
}

fn abs(v: Value, _: &[Value]) -> Result<Value, String> {
    match num_of(&v)? {
        Num::I(i) => i.checked_abs().map(Value::Int).ok_or_else(|| {
            format!("integer overflow: the absolute value of {i} is not a 64-bit integer")
        }),
        Num::F(f) => Ok(Value::Float(f.abs())),
    }
}

fn ceil(v: Value, _: &[Value]) -> Result<Value, String> {
    round_to_int(v, f64::ceil)
}
fn floor(v: Value, _: &[Value]) -> Result<Value, String> {
    round_to_int(v, f64::floor)
}
fn round(v: Value, _: &[Value]) -> Result<Value, String> {
    round_to_int(v, f64::round)
}

fn float_op(v: &Value, f: fn(f64) -> f64) -> Result<Value, String> {
    Ok(Value::Float(f(num_of(v)?.as_f64())))
}

fn log(v: Value, _: &[Value]) -> Result<Value, String> {
    float_op(&v, f64::ln)
}
fn log10(v: Value, _: &[Value]) -> Result<Value, String> {
    float_op(&v, f64::log10)
}
fn cos(v: Value, _: &[Value]) -> Result<Value, String> {
    float_op(&v, f64::cos)
}
fn sin(v: Value, _: &[Value]) -> Result<Value, String> {
    float_op(&v, f64::sin)
}
fn tan(v: Value, _: &[Value]) -> Result<Value, String> {
    float_op(&v, f64::tan)
}

fn pow(v: Value, args: &[Value]) -> Result<Value, String> {
    let base = num_of(&v)?.as_f64();
    let exp = num_of(&args[0])?.as_f64();
    Ok(Value::Float(base.powf(exp)))
}

fn numbers_of(v: &Value) -> Result<Vec<Num>, String> {
    match v {
        Value::Array(items) => items.iter().map(num_of).collect(),
        other => Err(type_err("array", other)),
    }
}

fn max(v: Value, _: &[Value]) -> Result<Value, String> {
    let nums = numbers_of(&v)?;
    if nums.is_empty() {
        return Err("the array was empty".to_owned());
    }
    let m = nums
        .iter()
        .map(|n| n.as_f64())
        .fold(f64::NEG_INFINITY, f64::max);
    Ok(Value::Float(m))
}

fn min(v: Value, _: &[Value]) -> Result<Value, String> {
    let nums = numbers_of(&v)?;
    if nums.is_empty() {
        return Err("the array was empty".to_owned());
    }
    let m = nums
        .iter()
        .map(|n| n.as_f64())
        .fold(f64::INFINITY, f64::min);
    Ok(Value::Float(m))
}

fn sum(v: Value, _: &[Value]) -> Result<Value, String> {
    let nums = numbers_of(&v)?;
    if nums.iter().all(|n| matches!(n, Num::I(_))) {
        let mut acc: i64 = 0;
        for n in nums {
            if let Num::I(i) = n {
                acc = acc.wrapping_add(i);
            }
        }
        return Ok(Value::Int(acc));
    }
    Ok(Value::Float(nums.iter().map(|n| n.as_f64()).sum()))
}

fn ints(v: &Value, args: &[Value]) -> Result<(i64, i64), String> {
    let a = match num_of(v)? {
        Num::I(i) => i,
        Num::F(f) => f as i64,
    };
    let b = match num_of(&args[0])? {
        Num::I(i) => i,
        Num::F(f) => f as i64,
    };
    Ok((a, b))
}

fn bitwise_and(v: Value, args: &[Value]) -> Result<Value, String> {
    let (a, b) = ints(&v, args)?;
    Ok(Value::Int(a & b))
}
fn bitwise_or(v: Value, args: &[Value]) -> Result<Value, String> {
    let (a, b) = ints(&v, args)?;
    Ok(Value::Int(a | b))
}
fn bitwise_xor(v: Value, args: &[Value]) -> Result<Value, String> {
    let (a, b) = ints(&v, args)?;
    Ok(Value::Int(a ^ b))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Number Manipulation";
    env.method(
        "number",
        "Type Coercion",
        "Parses a value as a number, or returns the default when given.",
        vec![opt("default", Kind::Num, Value::Null)],
        vec![
            ex(
                "root.outcome = this.outcome.number()",
                &[(r#"{"outcome":"5"}"#, r#"{"outcome":5}"#)],
            ),
            ex(
                "root.foo = this.thing.number() + 10\nroot.bar = this.thing.number(5) * 10",
                &[
                    (r#"{"thing":"2"}"#, r#"{"foo":12,"bar":20}"#),
                    (r#"{"thing":"x"}"#, "Error(\"x is not a number\")"),
                ],
            ),
            ex(
                "root.bar = this.thing.uppercase().number(5) * 10",
                &[(r#"{"thing":3}"#, r#"{"bar":50}"#)],
            ),
        ],
        MethodImpl::Ctx(number),
    );
    let ints: [(&'static str, crate::env::SimpleMethod); 8] = [
        ("int64", int64),
        ("int32", int32),
        ("int16", int16),
        ("int8", int8),
        ("uint64", uint64),
        ("uint32", uint32),
        ("uint16", uint16),
        ("uint8", uint8),
    ];
    for (name, f) in ints {
        env.method(name, cat, "Converts a numerical value or string into an integer of this size, failing when it does not fit.", vec![], vec![ex("root.a = this.a.int64()", &[(r#"{"a":"7"}"#, r#"{"a":7}"#)])], MethodImpl::Simple(f));
    }
    env.method(
        "float64",
        cat,
        "Converts a value into a 64-bit float.",
        vec![],
        vec![ex(
            "root.out = this.in.float64()",
            &[(r#"{"in":"6.674"}"#, r#"{"out":6.674}"#)],
        )],
        MethodImpl::Simple(float64),
    );
    env.method(
        "float32",
        cat,
        "Converts a value into a 32-bit float.",
        vec![],
        vec![ex(
            "root.out = this.in.float32()",
            &[(r#"{"in":"6.674"}"#, r#"{"out":6.674}"#)],
        )],
        MethodImpl::Simple(float32),
    );
    env.method(
        "abs",
        cat,
        "The absolute value of a number.",
        vec![],
        vec![ex(
            "root.outcome = this.value.abs()",
            &[
                (r#"{"value":-5.3}"#, r#"{"outcome":5.3}"#),
                (r#"{"value":-5}"#, r#"{"outcome":5}"#),
            ],
        )],
        MethodImpl::Simple(abs),
    );
    env.method(
        "ceil",
        cat,
        "Rounds a number up.",
        vec![],
        vec![ex(
            "root.new_value = this.value.ceil()",
            &[
                (r#"{"value":5.3}"#, r#"{"new_value":6}"#),
                (r#"{"value":-5.9}"#, r#"{"new_value":-5}"#),
            ],
        )],
        MethodImpl::Simple(ceil),
    );
    env.method(
        "floor",
        cat,
        "Rounds a number down.",
        vec![],
        vec![ex(
            "root.new_value = this.value.floor()",
            &[(r#"{"value":5.7}"#, r#"{"new_value":5}"#)],
        )],
        MethodImpl::Simple(floor),
    );
    env.method(
        "round",
        cat,
        "Rounds a number to the nearest integer, half away from zero.",
        vec![],
        vec![ex(
            "root.new_value = this.value.round()",
            &[
                (r#"{"value":5.3}"#, r#"{"new_value":5}"#),
                (r#"{"value":5.9}"#, r#"{"new_value":6}"#),
            ],
        )],
        MethodImpl::Simple(round),
    );
    env.method(
        "log",
        cat,
        "The natural logarithm.",
        vec![],
        vec![ex(
            "root.new_value = this.value.log().round()",
            &[(r#"{"value":1}"#, r#"{"new_value":0}"#)],
        )],
        MethodImpl::Simple(log),
    );
    env.method(
        "log10",
        cat,
        "The decimal logarithm.",
        vec![],
        vec![ex(
            "root.new_value = this.value.log10()",
            &[(r#"{"value":100}"#, r#"{"new_value":2}"#)],
        )],
        MethodImpl::Simple(log10),
    );
    env.method(
        "cos",
        cat,
        "The cosine of radians.",
        vec![],
        vec![ex(
            "root.new_value = (this.value * (pi() / 180)).cos()",
            &[(r#"{"value":0}"#, r#"{"new_value":1}"#)],
        )],
        MethodImpl::Simple(cos),
    );
    env.method(
        "sin",
        cat,
        "The sine of radians.",
        vec![],
        vec![ex(
            "root.new_value = this.value.sin()",
            &[(r#"{"value":0}"#, r#"{"new_value":0}"#)],
        )],
        MethodImpl::Simple(sin),
    );
    env.method(
        "tan",
        cat,
        "The tangent of radians.",
        vec![],
        vec![ex(
            "root.new_value = this.value.tan()",
            &[(r#"{"value":0}"#, r#"{"new_value":0}"#)],
        )],
        MethodImpl::Simple(tan),
    );
    env.method(
        "pow",
        cat,
        "Raises the number to a power.",
        vec![p("exponent", Kind::Num)],
        vec![ex(
            "root.new_value = this.value.pow(2)",
            &[(r#"{"value":3}"#, r#"{"new_value":9}"#)],
        )],
        MethodImpl::Simple(pow),
    );
    env.method(
        "max",
        cat,
        "The largest number of an array.",
        vec![],
        vec![ex(
            "root.biggest = this.values.max()",
            &[(r#"{"values":[0,3,2.5,7,5]}"#, r#"{"biggest":7}"#)],
        )],
        MethodImpl::Simple(max),
    );
    env.method(
        "min",
        cat,
        "The smallest number of an array.",
        vec![],
        vec![ex(
            "root.smallest = this.values.min()",
            &[(r#"{"values":[0,3,-2.5,7,5]}"#, r#"{"smallest":-2.5}"#)],
        )],
        MethodImpl::Simple(min),
    );
    env.method(
        "sum",
        cat,
        "The sum of an array of numbers.",
        vec![],
        vec![ex(
            "root.sum = this.foo.sum()",
            &[(r#"{"foo":[3,8,4]}"#, r#"{"sum":15}"#)],
        )],
        MethodImpl::Simple(sum),
    );
    env.method(
        "bitwise_and",
        cat,
        "Bitwise AND.",
        vec![p("value", Kind::Int)],
        vec![ex(
            "root.new_value = this.value.bitwise_and(6)",
            &[(r#"{"value":12}"#, r#"{"new_value":4}"#)],
        )],
        MethodImpl::Simple(bitwise_and),
    );
    env.method(
        "bitwise_or",
        cat,
        "Bitwise OR.",
        vec![p("value", Kind::Int)],
        vec![ex(
            "root.new_value = this.value.bitwise_or(6)",
            &[(r#"{"value":12}"#, r#"{"new_value":14}"#)],
        )],
        MethodImpl::Simple(bitwise_or),
    );
    env.method(
        "bitwise_xor",
        cat,
        "Bitwise XOR.",
        vec![p("value", Kind::Int)],
        vec![ex(
            "root.new_value = this.value.bitwise_xor(6)",
            &[(r#"{"value":12}"#, r#"{"new_value":10}"#)],
        )],
        MethodImpl::Simple(bitwise_xor),
    );
    let _ = float_fn;
}
