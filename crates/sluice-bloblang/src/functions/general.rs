//! General functions: `deleted`, `nothing`, `throw`, `range`, `counter`, `count`, time and
//! random generators.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::{Local, Utc};
use rand::Rng as _;

use crate::env::{Environment, FnImpl, Kind, ex, opt, p};
use crate::eval::{Call, Cx, Flow, R, This, err, type_err};
use crate::value::{Num, Value};

fn deleted(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Err(Flow::Delete)
}

fn nothing(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Err(Flow::Nothing)
}

fn throw(args: &[Value]) -> Result<Value, String> {
    match &args[0] {
        Value::String(s) => Err(s.clone().into()),
        other => Err(type_err("string", other)),
    }
}

fn int_arg(v: &Value, name: &str) -> Result<i64, String> {
    match v.as_num() {
        Some(Num::I(i)) => Ok(i),
        Some(Num::F(f)) if f.fract() == 0.0 => Ok(f as i64),
        _ => Err(format!("field {name}: {}", type_err("integer", v))),
    }
}

fn range(args: &[Value]) -> Result<Value, String> {
    let start = int_arg(&args[0], "start")?;
    let stop = int_arg(&args[1], "stop")?;
    let step = int_arg(&args[2], "step")?;
    if step == 0 {
        return Err("step must be greater than or less than 0".to_owned());
    }
    if step < 0 && stop > start {
        return Err(format!(
            "with negative step arg stop ({stop}) must be <= start ({start})"
        ));
    }
    if step > 0 && start >= stop {
        return Err(format!(
            "with positive step arg start ({start}) must be < stop ({stop})"
        ));
    }
    // In i128, so that the ends of the i64 range do not overflow.
    let count = (i128::from(stop) - i128::from(start)) / i128::from(step);
    let count = usize::try_from(count.max(0)).unwrap_or(usize::MAX);
    crate::budget::check_elements(count, "range")?;
    // Every element lies between start and stop, but `k * step` alone may
    // not fit in 64 bits.
    let out: Vec<Value> = (0..count as i128)
        .map(|k| {
            let n = i128::from(start) + k * i128::from(step);
            Value::Int(i64::try_from(n).expect("between start and stop"))
        })
        .collect();
    Ok(Value::Array(out))
}

fn now(_: &[Value]) -> Result<Value, String> {
    Ok(Value::Timestamp(Local::now().fixed_offset()))
}

fn now_string(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    let t = Local::now().fixed_offset();
    Ok(Value::String(crate::value::format_rfc3339_nano(&t).into()))
}

fn timestamp_unix(_: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(Utc::now().timestamp()))
}

fn timestamp_unix_milli(_: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(Utc::now().timestamp_millis()))
}

fn timestamp_unix_micro(_: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(Utc::now().timestamp_micros()))
}

fn timestamp_unix_nano(_: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(Utc::now().timestamp_nanos_opt().unwrap_or(0)))
}

fn uuid_v4(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::String(uuid::Uuid::new_v4().to_string().into()))
}

fn nanoid(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let len_arg = call.arg(0, cx, this)?;
    let len = match len_arg.as_num() {
        Some(n) => n.as_f64() as usize,
        None => 21,
    };
    if len_arg.is_null() && !call.arg(1, cx, this)?.is_null() {
        return err("field length must be specified when an alphabet is specified");
    }
    let alphabet: Vec<char> = match call.arg(1, cx, this)? {
        Value::String(s) => s.chars().collect(),
        _ => "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            .chars()
            .collect(),
    };
    if alphabet.is_empty() {
        return err("alphabet must not be empty");
    }
    let widest = alphabet.iter().map(|c| c.len_utf8()).max().unwrap_or(1);
    crate::budget::check_bytes(len.saturating_mul(widest), "nanoid")?;
    let mut rng = rand::thread_rng();
    Ok(Value::String(
        (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect(),
    ))
}

/// Benthos checks the range once, when the function is built.
fn check_random_range(min: i64, max: i64) -> Result<(), String> {
    if min < 0 {
        return Err(format!("min ({min}) must be a positive number"));
    }
    if max < min {
        return Err(format!(
            "min ({min}) must be smaller or equal than max ({max})"
        ));
    }
    if max == i64::MAX {
        return Err(format!(
            "max must be smaller than the max allowed for an int64 ({})",
            i64::MAX
        ));
    }
    Ok(())
}

fn prepare_random_int(
    args: &[crate::eval::Expr],
    _: &crate::env::PrepareCx<'_>,
) -> Result<Vec<crate::eval::Expr>, String> {
    use crate::eval::Expr;
    if let (Expr::Lit(min), Expr::Lit(max)) = (&args[1], &args[2]) {
        check_random_range(int_arg(min, "min")?, int_arg(max, "max")?)?;
    }
    Ok(Vec::new())
}

/// Each call site owns a generator seeded once, from the first evaluation of its seed: the
/// same seed gives the same sequence on every run. (Go's generator is not reproduced, so the
/// numbers themselves differ from Benthos's.)
/// Benthos refuses an alphabet without a length when it builds the function.
fn prepare_nanoid(
    args: &[crate::eval::Expr],
    _: &crate::env::PrepareCx<'_>,
) -> Result<Vec<crate::eval::Expr>, String> {
    use crate::eval::Expr;
    if let (Expr::Lit(Value::Null), Expr::Lit(alphabet)) = (&args[0], &args[1])
        && !alphabet.is_null()
    {
        return Err("field length must be specified when an alphabet is specified".to_owned());
    }
    Ok(Vec::new())
}

fn random_int(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    use rand::SeedableRng as _;
    let min = int_arg(&call.arg(1, cx, this)?, "min")?;
    let max = int_arg(&call.arg(2, cx, this)?, "max")?;
    check_random_range(min, max).map_err(Flow::Err)?;
    let rng = match call.memo.get() {
        Some(rng) => rng,
        None => {
            let seed = call.arg(0, cx, this).map_err(|e| match e {
                Flow::Err(e) => Flow::Err(format!("failed to seed random number generator: {e}")),
                other => other,
            })?;
            let seed = match seed.as_num() {
                Some(Num::I(i)) => i,
                Some(Num::F(f)) => f as i64,
                None => {
                    return err(format!(
                        "failed to seed random number generator: {}",
                        type_err("number", &seed)
                    ));
                }
            };
            let fresh = Mutex::new(rand::rngs::StdRng::seed_from_u64(seed as u64));
            call.memo.get_or_init(|| Box::new(fresh))
        }
    };
    let mut rng = rng
        .downcast_ref::<Mutex<rand::rngs::StdRng>>()
        .expect("the memo of random_int holds its generator")
        .lock()
        .expect("a random generator is never poisoned");
    Ok(Value::Int(rng.gen_range(min..=max)))
}

fn counter(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let min = int_arg(&call.arg(0, cx, this)?, "min")?;
    let max = int_arg(&call.arg(1, cx, this)?, "max")?;
    let set = match call.arg_expr(2) {
        crate::eval::Expr::Lit(Value::Null) => Err(Flow::Nothing),
        e => e.eval(cx, this),
    };
    let set = match set {
        Ok(v) => Some(v),
        Err(Flow::Nothing) => None,
        Err(e) => return Err(e),
    };
    let mut state = call.state.lock().expect("counter state is never poisoned");
    match set {
        Some(Value::Null) => Ok(Value::Int(state.unwrap_or(min))),
        Some(v) => {
            let n = int_arg(&v, "set")?;
            *state = Some(n);
            Ok(Value::Int(n))
        }
        None => {
            let next = match *state {
                None => min,
                Some(c) if c >= max => min,
                Some(c) => c + 1,
            };
            *state = Some(next);
            Ok(Value::Int(next))
        }
    }
}

static COUNTERS: LazyLock<Mutex<HashMap<String, i64>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn count(args: &[Value]) -> Result<Value, String> {
    let Value::String(name) = &args[0] else {
        return Err(type_err("string", &args[0]));
    };
    let mut counters = COUNTERS.lock().expect("counters are never poisoned");
    let c = counters.entry(name.clone().into()).or_insert(0);
    *c += 1;
    Ok(Value::Int(*c))
}

fn bytes_fn(args: &[Value]) -> Result<Value, String> {
    let len = int_arg(&args[0], "length")?;
    let len = usize::try_from(len).map_err(|_| format!("length {len} is negative"))?;
    crate::budget::check_bytes(len, "bytes")?;
    Ok(Value::Bytes(vec![0; len]))
}

fn pi(_: &[Value]) -> Result<Value, String> {
    Ok(Value::Float(std::f64::consts::PI))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "General";
    env.function(
        "deleted",
        cat,
        "A value that deletes the target of an assignment, or the message when assigned to root.",
        vec![],
        vec![ex(
            "root = this\nroot.bar = deleted()",
            &[(
                r#"{"bar":"bar_value","baz":"baz_value"}"#,
                r#"{"baz":"baz_value"}"#,
            )],
        )],
        FnImpl::Ctx(deleted),
    );
    env.function(
        "nothing",
        cat,
        "A value that skips its assignment.",
        vec![],
        vec![ex("root = nothing() | \"this\"", &[("{}", "this")])],
        FnImpl::Ctx(nothing),
    );
    env.function(
        "throw",
        cat,
        "Fails the mapping with a message.",
        vec![p("why", Kind::Str)],
        vec![ex(
            "root = if this.exists(\"user_id\") {\n  this\n} else {\n  throw(\"missing required field: user_id\")\n}",
            &[(r#"{"user_id":123}"#, r#"{"user_id":123}"#), (r#"{"name":"bob"}"#, "Error(\"missing required field: user_id\")")],
        )],
        FnImpl::Simple(throw),
    );
    env.function(
        "range",
        cat,
        "An array of integers from start (inclusive) to stop (exclusive) by step.",
        vec![p("start", Kind::Int), p("stop", Kind::Int), opt("step", Kind::Int, Value::Int(1))],
        vec![ex(
            "root.a = range(0, 10)\nroot.b = range(start: 0, stop: this.max, step: 2)\nroot.c = range(0, -this.max, -2)",
            &[(r#"{"max":10}"#, r#"{"a":[0,1,2,3,4,5,6,7,8,9],"b":[0,2,4,6,8],"c":[0,-2,-4,-6,-8]}"#)],
        )],
        FnImpl::Simple(range),
    );
    env.function(
        "counter",
        cat,
        "An incrementing integer per call site, from min wrapping after max.",
        vec![
            opt("min", Kind::Int, Value::Int(1)),
            opt("max", Kind::Int, Value::Int(i64::MAX)),
            opt("set", Kind::Query, Value::Null),
        ],
        vec![],
        FnImpl::Ctx(counter),
    );
    env.function(
        "count",
        cat,
        "An incrementing integer per counter name, across mappings.",
        vec![p("name", Kind::Str)],
        vec![],
        FnImpl::Ctx(|cx, this, call| {
            let v = call.arg(0, cx, this)?;
            count(&[v]).map_err(Flow::Err)
        }),
    );
    env.function(
        "now",
        "Environment",
        "The current time as a string in RFC 3339 with nanoseconds.",
        vec![],
        vec![],
        FnImpl::Ctx(now_string),
    );
    env.function(
        "timestamp",
        "Environment",
        "The current time as a timestamp.",
        vec![],
        vec![],
        FnImpl::Ctx(|_, _, _| now(&[]).map_err(Flow::Err)),
    );
    env.function(
        "timestamp_unix",
        "Environment",
        "The current unix time in seconds.",
        vec![],
        vec![],
        FnImpl::Ctx(|_, _, _| timestamp_unix(&[]).map_err(Flow::Err)),
    );
    env.function(
        "timestamp_unix_milli",
        "Environment",
        "The current unix time in milliseconds.",
        vec![],
        vec![],
        FnImpl::Ctx(|_, _, _| timestamp_unix_milli(&[]).map_err(Flow::Err)),
    );
    env.function(
        "timestamp_unix_micro",
        "Environment",
        "The current unix time in microseconds.",
        vec![],
        vec![],
        FnImpl::Ctx(|_, _, _| timestamp_unix_micro(&[]).map_err(Flow::Err)),
    );
    env.function(
        "timestamp_unix_nano",
        "Environment",
        "The current unix time in nanoseconds.",
        vec![],
        vec![],
        FnImpl::Ctx(|_, _, _| timestamp_unix_nano(&[]).map_err(Flow::Err)),
    );
    env.function(
        "uuid_v4",
        "Generators",
        "A random RFC 4122 version 4 UUID.",
        vec![],
        vec![],
        FnImpl::Ctx(uuid_v4),
    );
    env.function(
        "nanoid",
        "Generators",
        "A random nanoid of a length and alphabet.",
        vec![
            opt("length", Kind::Int, Value::Null),
            opt("alphabet", Kind::Str, Value::Null),
        ],
        vec![],
        FnImpl::Ctx(nanoid),
    );
    env.prepare_function("nanoid", prepare_nanoid);
    env.function(
        "random_int",
        "Generators",
        "A pseudo-random integer between min and max inclusive, from a generator per call \
         site seeded once by the seed (0 unless given).",
        vec![
            opt("seed", Kind::Query, Value::Int(0)),
            opt("min", Kind::Int, Value::Int(0)),
            opt("max", Kind::Int, Value::Int(i64::MAX - 1)),
        ],
        vec![ex(
            "root.a = random_int(max: 20) <= 20\nroot.b = random_int(5, 10, 10)",
            &[("{}", r#"{"a":true,"b":10}"#)],
        )],
        FnImpl::Ctx(random_int),
    );
    env.prepare_function("random_int", prepare_random_int);
    env.function(
        "bytes",
        cat,
        "A zero-filled byte array of a length.",
        vec![p("length", Kind::Int)],
        vec![ex(
            "root.data = bytes(5)",
            &[("{}", r#"{"data":"AAAAAAA="}"#)],
        )],
        FnImpl::Simple(bytes_fn),
    );
    env.function(
        "pi",
        cat,
        "The constant pi.",
        vec![],
        vec![ex(
            "root.radians = this.degrees * (pi() / 180)",
            &[(r#"{"degrees":45}"#, r#"{"radians":0.7853981633974483}"#)],
        )],
        FnImpl::Simple(pi),
    );
}

#[cfg(test)]
mod tests {
    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;

    fn check(mapping: &str) -> Result<String, String> {
        let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
        let batch = [SimpleMessage::new(b"{}".to_vec())];
        let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
        match out.root {
            crate::Root::Value(v) => Ok(String::from_utf8(v.to_message_bytes()).unwrap()),
            other => Err(format!("unexpected root {other:?}")),
        }
    }

    #[test]
    fn range_counts_as_benthos_and_reaches_the_ends_of_the_integers() {
        use crate::value::Value;
        let range =
            |a: i64, b: i64, c: i64| super::range(&[Value::Int(a), Value::Int(b), Value::Int(c)]);
        let ints = |v: &[i64]| Value::Array(v.iter().map(|n| Value::Int(*n)).collect());
        // The count is (stop - start) / step, rounded towards zero, as in Go.
        assert_eq!(range(0, 10, 3), Ok(ints(&[0, 3, 6])));
        assert_eq!(range(0, 0, -1), Ok(ints(&[])));
        assert_eq!(
            range(10, 0, 1),
            Err("with positive step arg start (10) must be < stop (0)".to_owned())
        );
        assert_eq!(
            range(0, 10, -1),
            Err("with negative step arg stop (10) must be <= start (0)".to_owned())
        );
        assert_eq!(
            range(0, 1, 0),
            Err("step must be greater than or less than 0".to_owned())
        );
        // A step whose multiples pass i64::MAX before the last element is
        // reached from i64::MIN.
        let step = i64::MAX / 3;
        let Ok(Value::Array(items)) = range(i64::MIN, i64::MAX, step) else {
            panic!("range over the whole of i64 failed");
        };
        assert_eq!(items.len(), 6);
        assert_eq!(items[5], Value::Int(i64::MIN + 2 * step + 3 * step));
    }

    #[test]
    fn random_int_is_reproducible_per_seed_and_checks_its_range() {
        let run = |src: &str| {
            let mapping = Mapping::parse(src).unwrap();
            let batch = [SimpleMessage::new(b"{}".to_vec())];
            (0..5)
                .map(|_| match mapping.exec(&batch[..], 0).unwrap().root {
                    crate::Root::Value(v) => String::from_utf8(v.to_message_bytes()).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        // The same seed gives the same sequence from a fresh parse, and it moves on per call.
        let first = run("root = random_int(seed: 42, max: 1000000)");
        assert_eq!(first, run("root = random_int(42, 0, 1000000)"));
        assert!(first.iter().any(|v| v != &first[0]), "{first:?}");
        // The seed is read once: a changing seed does not reseed.
        let dynamic = run("root = random_int(timestamp_unix_nano(), 5, 20)");
        assert!(
            dynamic
                .iter()
                .all(|v| (5..=20).contains(&v.parse::<i64>().unwrap()))
        );
        // The documented example parses and stays in its ranges.
        let all = check(
            "root.first = random_int()\nroot.second = random_int(1)\nroot.third = random_int(max:20)\nroot.fourth = random_int(min:10, max:20)\nroot.fifth = random_int(timestamp_unix_nano(), 5, 20)\nroot.sixth = random_int(seed:timestamp_unix_nano(), max:20)",
        );
        assert!(all.is_ok(), "{all:?}");
        assert_eq!(
            check("root = random_int(min: -1)").unwrap_err(),
            "line 1 char 27: min (-1) must be a positive number"
        );
        assert_eq!(
            check("root = random_int(min: 5, max: 4)").unwrap_err(),
            "line 1 char 34: min (5) must be smaller or equal than max (4)"
        );
        assert_eq!(
            check("root = random_int(max: 9223372036854775807)").unwrap_err(),
            "line 1 char 44: max must be smaller than the max allowed for an int64 (9223372036854775807)"
        );
    }

    #[test]
    fn nanoid_needs_a_length_with_an_alphabet() {
        assert_eq!(check("root = nanoid(4, \"a\")").as_deref(), Ok("aaaa"));
        assert_eq!(
            check("root = nanoid(alphabet: \"a\")").unwrap_err(),
            "line 1 char 29: field length must be specified when an alphabet is specified"
        );
    }

    #[test]
    fn bytes_is_zero_filled() {
        assert_eq!(
            check("root = bytes(3).encode(\"hex\")").as_deref(),
            Ok("000000")
        );
        assert_eq!(check("root = bytes(0).length()").as_deref(), Ok("0"));
        assert!(check("root = bytes(-1)").is_err());
    }

    #[test]
    fn nanoid_refuses_a_length_past_the_value_limit() {
        let got = check("root = nanoid(1000000000000)");
        assert!(
            got.as_ref().is_err_and(|e| e.ends_with(
                "nanoid would produce 1000000000000 bytes, more than the limit of 67108864 bytes for one value"
            )),
            "{got:?}"
        );
        assert_eq!(check(r#"root = nanoid(5, "é")"#).as_deref(), Ok("ééééé"));
    }
}
