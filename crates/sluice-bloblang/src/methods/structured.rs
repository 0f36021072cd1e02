//! Object and array methods.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::{
    Call, Cx, Flow, R, This, as_bool, err, get_path, get_path_ref, split_dot_path, type_err,
    values_equal,
};
use crate::methods::{int_arg, str_arg};
use crate::value::{Key, Map, Num, Value, float_key};

fn kv(key: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert("key", Value::String(key.to_owned().into()));
    m.insert("value", value);
    Value::Object(m)
}

fn exists(v: &Value, args: &[Value]) -> Result<Value, String> {
    let path = str_arg(&args[0], "path")?;
    Ok(Value::Bool(
        get_path_ref(v, &split_dot_path(&path)).is_some(),
    ))
}

fn get(v: &Value, args: &[Value]) -> Result<Value, String> {
    let path = str_arg(&args[0], "path")?;
    Ok(get_path(v, &split_dot_path(&path)).unwrap_or(Value::Null))
}

fn map_each(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target_ref(cx, this)?;
    let q = call.arg_expr(0);
    // Elements are only read, so an array that is part of `this` is not copied.
    if let Value::Array(items) = &*target {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match q.eval_with_context(cx, this, item) {
                Ok(v) => out.push(v),
                Err(Flow::Delete) => {}
                Err(Flow::Nothing) => out.push(item.clone()),
                Err(e) => return Err(e),
            }
        }
        return Ok(Value::Array(out));
    }
    match target.into_owned() {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let ctx = kv(&k, v.clone());
                match q.eval_with_context(cx, this, &ctx) {
                    Ok(nv) => {
                        out.insert(k, nv);
                    }
                    Err(Flow::Delete) => {}
                    Err(Flow::Nothing) => {
                        out.insert(k, v);
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(Value::Object(out))
        }
        other => err(type_err("object or array", &other)),
    }
}

fn map_each_key(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Object(m) = target else {
        return err(type_err("object", &target));
    };
    let q = call.arg_expr(0);
    // Gathered and sorted once: new keys may come in any order. Of two entries given the
    // same key the later wins, as inserting one by one would have it.
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in m {
        let key = Value::String(k.to_string().into());
        match q.eval_with_context(cx, this, &key) {
            Ok(Value::String(nk)) => out.push((nk, v)),
            Ok(other) => {
                return err(format!(
                    "unexpected result from key mapping: {}",
                    type_err("string", &other)
                ));
            }
            Err(Flow::Delete) => {}
            Err(Flow::Nothing) => out.push((k, v)),
            Err(e) => return Err(e),
        }
    }
    Ok(Value::Object(Map::from_entries(out)))
}

fn predicate(cx: &mut Cx<'_>, this: This<'_>, call: &Call, v: &Value) -> R<bool> {
    let res = call.arg_expr(0).eval_with_context(cx, this, v)?;
    Ok(as_bool(&res)?)
}

fn filter(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target_ref(cx, this)?;
    // A borrowed array copies only the elements kept.
    if let Cow::Borrowed(Value::Array(items)) = target {
        let mut out = Vec::new();
        for item in items {
            if predicate(cx, this, call, item)? {
                out.push(item.clone());
            }
        }
        return Ok(Value::Array(out));
    }
    match target.into_owned() {
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if predicate(cx, this, call, &item)? {
                    out.push(item);
                }
            }
            Ok(Value::Array(out))
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if predicate(cx, this, call, &kv(&k, v.clone()))? {
                    out.insert(k, v);
                }
            }
            Ok(Value::Object(out))
        }
        other => err(type_err("object or array", &other)),
    }
}

fn fold(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target_ref(cx, this)?;
    let Value::Array(items) = &*target else {
        return err(type_err("array", &target));
    };
    let mut tally = call.arg(0, cx, this)?;
    let q = call.arg_expr(1);
    for item in items {
        let mut m = Map::new();
        m.insert("tally", tally);
        m.insert("value", item.clone());
        let ctx = Value::Object(m);
        tally = q.eval_with_context(cx, this, &ctx)?;
    }
    Ok(tally)
}

/// The order of two numbers, exact across integers and floats: comparing an integer with a
/// float through `f64` rounds the integer, and then `2^53 + 1` equals a float that `2^53`
/// also equals while the two integers differ, an order the sort cannot rely on. NaN sorts
/// after every other number.
fn compare_nums(x: Num, y: Num) -> std::cmp::Ordering {
    match (x, y) {
        (Num::I(x), Num::I(y)) => x.cmp(&y),
        (Num::I(x), Num::F(y)) => compare_int_float(x, y),
        (Num::F(x), Num::I(y)) => compare_int_float(y, x).reverse(),
        (Num::F(x), Num::F(y)) => match (x.is_nan(), y.is_nan()) {
            (false, false) => x.partial_cmp(&y).expect("neither float is NaN"),
            (nan_x, nan_y) => nan_x.cmp(&nan_y),
        },
    }
}

/// The exact order of an integer and a float. Unlike `f64::total_cmp`, `-0.0` equals `0.0`
/// here, as both equal the integer 0.
fn compare_int_float(i: i64, f: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    // 2^63: the floats at or past it are above every i64, those below -2^63 beneath.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // In range and integral, so the conversion is exact.
    match i.cmp(&(whole as i64)) {
        Ordering::Equal => whole.partial_cmp(&f).expect("neither float is NaN"),
        unequal => unequal,
    }
}

/// The kinds `sort` orders among themselves: values of different kinds do not compare.
fn sort_rank(v: &Value) -> u8 {
    match v {
        Value::String(_) => 1,
        Value::Bytes(_) => 2,
        Value::Timestamp(_) => 3,
        other if other.as_num().is_some() => 0,
        _ => 4,
    }
}

/// Orders two values of the same kind (numbers or strings) as `sort` does.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Ok(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Ok(x.cmp(y)),
        _ => match (a.as_num(), b.as_num()) {
            (Some(x), Some(y)) => Ok(compare_nums(x, y)),
            _ => Err(format!(
                "expected number or string value, got {}",
                if a.as_num().is_some() || matches!(a, Value::String(_)) {
                    b.type_name()
                } else {
                    a.type_name()
                }
            )),
        },
    }
}

/// [`compare`] as the total order a sort needs: when two values do not compare, the error
/// goes to `failure` and the values are ordered by kind, so that the sort stays consistent
/// (Rust's sort may panic on an inconsistent order) until it ends and reports the error.
fn compare_or_record(a: &Value, b: &Value, failure: &mut Option<String>) -> std::cmp::Ordering {
    match compare(a, b) {
        Ok(o) => o,
        Err(e) => {
            failure.get_or_insert(e);
            sort_rank(a).cmp(&sort_rank(b))
        }
    }
}

/// Sorts `items` stably by a "less than" test (`less(right, left)`): a merge sort, so
/// `n log n` comparisons, that ends in some order whatever the test answers. The standard
/// library's sort may panic on an order that is not total, and a user's comparison query,
/// or yaml.v3's order of keys, need not be one. The test gets the elements by `&mut` so that
/// a query can move them into its context and back instead of copying them.
pub(crate) fn merge_sort_by<T, E>(
    items: Vec<T>,
    less: &mut dyn FnMut(&mut T, &mut T) -> Result<bool, E>,
) -> Result<Vec<T>, E> {
    use std::collections::VecDeque;
    if items.len() <= 1 {
        return Ok(items);
    }
    let mut left = items;
    let right = left.split_off(left.len() / 2);
    let mut left = VecDeque::from(merge_sort_by(left, less)?);
    let mut right = VecDeque::from(merge_sort_by(right, less)?);
    let mut out = Vec::with_capacity(left.len() + right.len());
    while let (Some(l), Some(r)) = (left.front_mut(), right.front_mut()) {
        // A right element goes first only when it is less: equal elements keep their order.
        let from = if less(r, l)? { &mut right } else { &mut left };
        out.push(from.pop_front().expect("the front was just seen"));
    }
    out.extend(left);
    out.extend(right);
    Ok(out)
}

/// Exchanges the `left` and `right` fields of a comparison's context with two elements.
fn swap_sides(ctx: &mut Value, left: &mut Value, right: &mut Value) {
    if let Value::Object(m) = ctx {
        if let Some(slot) = m.get_mut("left") {
            std::mem::swap(slot, left);
        }
        if let Some(slot) = m.get_mut("right") {
            std::mem::swap(slot, right);
        }
    }
}

fn sort(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(mut items) = target else {
        return err(type_err("array", &target));
    };
    let custom = !matches!(
        call.args.first(),
        None | Some(crate::eval::Expr::Lit(Value::Null))
    );
    if custom {
        let q = call.arg_expr(0);
        // One context object, its two fields swapped in and out for each comparison.
        let mut ctx = Value::Object(Map::from([("left", Value::Null), ("right", Value::Null)]));
        let mut less = |left: &mut Value, right: &mut Value| -> R<bool> {
            swap_sides(&mut ctx, left, right);
            let res = q
                .eval_with_context(cx, this, &ctx)
                .and_then(|v| as_bool(&v).map_err(Flow::Err));
            swap_sides(&mut ctx, left, right);
            res
        };
        return Ok(Value::Array(merge_sort_by(items, &mut less)?));
    }
    if let Some(e) = unsortable(&items) {
        return err(e);
    }
    let mut failure = None;
    items.sort_by(|a, b| compare_or_record(a, b, &mut failure));
    match failure {
        Some(e) => err(e),
        None => Ok(Value::Array(items)),
    }
}

/// Whether sorting can compare every element: numbers with numbers, text with text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SortClass {
    Number,
    Text,
}

fn sort_class(v: &Value) -> Option<SortClass> {
    match v {
        Value::String(_) | Value::Bytes(_) => Some(SortClass::Text),
        other if other.as_num().is_some() => Some(SortClass::Number),
        _ => None,
    }
}

/// The error Benthos's sort reports for elements it cannot compare, naming the element as its
/// insertion sort meets it: each element is compared, as the left side, with the last of the
/// elements sorted before it.
fn unsortable(items: &[Value]) -> Option<String> {
    let mut prefix_max: Option<&Value> = items.first();
    for (i, left) in items.iter().enumerate().skip(1) {
        let Some(class) = sort_class(left) else {
            return Some(format!(
                "sort element {i}: {}",
                type_err("number or string", left)
            ));
        };
        let right = prefix_max.expect("the prefix holds the first element");
        if sort_class(right) != Some(class) {
            let expected = match class {
                SortClass::Number => "number",
                SortClass::Text => "string",
            };
            return Some(format!(
                "sort element {}: {}",
                i - 1,
                type_err(expected, right)
            ));
        }
        if compare(left, right).is_ok_and(|o| o != std::cmp::Ordering::Less) {
            prefix_max = Some(left);
        }
    }
    None
}

fn sort_by(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(items) = target else {
        return err(type_err("array", &target));
    };
    let q = call.arg_expr(0);
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        let k = q.eval_with_context(cx, this, &item)?;
        keyed.push((k, item));
    }
    let mut failure = None;
    keyed.sort_by(|a, b| compare_or_record(&a.0, &b.0, &mut failure));
    if let Some(e) = failure {
        return err(e);
    }
    Ok(Value::Array(keyed.into_iter().map(|(_, v)| v).collect()))
}

/// The keys `unique` has seen, hashed as Benthos keeps them: text by its bytes (a string
/// and bytes with the same content are one key) and numbers as `f64`, so that `1` and
/// `1.0` are one key and NaN is never seen twice.
#[derive(Default)]
struct UniqueKeys {
    text: HashSet<Vec<u8>>,
    numbers: HashSet<u64>,
}

impl UniqueKeys {
    /// Whether `key` is seen for the first time, remembering it; `None` for a key that is
    /// neither text nor a number.
    fn first_seen(&mut self, key: &Value) -> Option<bool> {
        match key {
            Value::String(s) => Some(self.text.insert(s.as_bytes().to_vec())),
            Value::Bytes(b) => Some(self.text.insert(b.clone())),
            Value::Int(_) | Value::Float(_) | Value::Number(_) => {
                let f = key.as_num().map_or(f64::NAN, Num::as_f64);
                Some(f.is_nan() || self.numbers.insert(float_key(f)))
            }
            _ => None,
        }
    }
}

fn unique(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(items) = target else {
        return err(call.method_error(type_err("array", &target)));
    };
    let custom = !matches!(
        call.args.first(),
        None | Some(crate::eval::Expr::Lit(Value::Null))
    );
    let mut seen = UniqueKeys::default();
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = if custom {
            call.arg_expr(0).eval_with_context(cx, this, &item)?
        } else {
            item.clone()
        };
        let Some(first) = seen.first_seen(&key) else {
            return err(
                call.method_error(format!("index {i}: {}", type_err("string or number", &key)))
            );
        };
        if first {
            out.push(item);
        }
    }
    Ok(Value::Array(out))
}

fn flatten(v: Value, _: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(type_err("array", &v));
    };
    let mut out = Vec::new();
    for i in items {
        match i {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    Ok(Value::Array(out))
}

fn keys(v: Value, _: &[Value]) -> Result<Value, String> {
    match v {
        Value::Object(m) => Ok(Value::Array(m.into_keys().map(Value::String).collect())),
        other => Err(type_err("object", &other)),
    }
}

fn values(v: Value, _: &[Value]) -> Result<Value, String> {
    match v {
        Value::Object(m) => Ok(Value::Array(m.into_values().collect())),
        other => Err(type_err("object", &other)),
    }
}

fn key_values(v: Value, _: &[Value]) -> Result<Value, String> {
    match v {
        Value::Object(m) => Ok(Value::Array(
            m.into_iter().map(|(k, v)| kv(&k, v)).collect(),
        )),
        other => Err(type_err("object", &other)),
    }
}

/// Joins two objects in one pass over their sorted entries: keys in one only are kept,
/// keys in both take `both(existing, new)`.
fn join_objects(x: Map, y: Map, both: fn(Value, Value) -> Value) -> Map {
    let mut out: Vec<(Key, Value)> = Vec::with_capacity(x.len() + y.len());
    let mut x = x.into_iter().peekable();
    let mut y = y.into_iter().peekable();
    loop {
        let order = match (x.peek(), y.peek()) {
            (Some((kx, _)), Some((ky, _))) => kx.cmp(ky),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => break,
        };
        let entry = match order {
            std::cmp::Ordering::Less => x.next(),
            std::cmp::Ordering::Greater => y.next(),
            std::cmp::Ordering::Equal => match (x.next(), y.next()) {
                (Some((k, a)), Some((_, b))) => Some((k, both(a, b))),
                _ => None,
            },
        };
        out.extend(entry);
    }
    Map::from_entries(out)
}

/// Benthos merge: objects merge recursively, colliding non-objects become arrays.
pub(crate) fn merge_values(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => Value::Object(join_objects(x, y, merge_values)),
        (Value::Array(mut x), Value::Array(y)) => {
            x.extend(y);
            Value::Array(x)
        }
        (Value::Array(mut x), other) => {
            x.push(other);
            Value::Array(x)
        }
        (other, Value::Array(y)) => {
            let mut out = vec![other];
            out.extend(y);
            Value::Array(out)
        }
        (x, y) => Value::Array(vec![x, y]),
    }
}

fn merge(v: Value, args: &[Value]) -> Result<Value, String> {
    Ok(merge_values(v, args[0].clone()))
}

fn assign_values(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => Value::Object(join_objects(x, y, assign_field)),
        (Value::Array(mut x), Value::Array(y)) => {
            x.extend(y);
            Value::Array(x)
        }
        (_, y) => y,
    }
}

/// A field of both objects in `assign`: objects assign recursively, anything else is
/// overwritten.
fn assign_field(existing: Value, new: Value) -> Value {
    match (existing, new) {
        (existing @ Value::Object(_), new @ Value::Object(_)) => assign_values(existing, new),
        (_, new) => new,
    }
}

fn assign(v: Value, args: &[Value]) -> Result<Value, String> {
    Ok(assign_values(v, args[0].clone()))
}

fn without(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Object(_) = &v else {
        return Err(type_err("object", &v));
    };
    let mut root = crate::eval::Root::Value(v);
    for a in args {
        let path = split_dot_path(&str_arg(a, "path")?);
        crate::eval::assign_path(&mut root, &path, None)?;
    }
    match root {
        crate::eval::Root::Value(v) => Ok(v),
        _ => Ok(Value::Null),
    }
}

fn with(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Object(_) = &v else {
        return Err(type_err("object", &v));
    };
    let mut root = crate::eval::Root::Nothing;
    for a in args {
        let path = split_dot_path(&str_arg(a, "path")?);
        if let Some(found) = get_path_ref(&v, &path) {
            crate::eval::assign_path(&mut root, &path, Some(found.clone()))?;
        }
    }
    match root {
        crate::eval::Root::Value(v) => Ok(v),
        _ => Ok(Value::Object(Map::new())),
    }
}

fn index(v: &Value, args: &[Value]) -> Result<Value, String> {
    let i = int_arg(&args[0], "index")?;
    match v {
        Value::Array(items) => {
            let idx = if i < 0 { items.len() as i64 + i } else { i };
            if idx < 0 || idx >= items.len() as i64 {
                return Err(format!(
                    "index '{i}' was out of bounds for array size: {}",
                    items.len()
                ));
            }
            Ok(items.get(idx as usize).cloned().unwrap_or(Value::Null))
        }
        Value::Bytes(b) => {
            let idx = if i < 0 { b.len() as i64 + i } else { i };
            if idx < 0 || idx >= b.len() as i64 {
                return Err(format!(
                    "index '{i}' was out of bounds for bytes size: {}",
                    b.len()
                ));
            }
            Ok(Value::Int(i64::from(b[idx as usize])))
        }
        other => Err(type_err("array", other)),
    }
}

fn slice_bounds(len: usize, start: i64, end: Option<i64>) -> Result<(usize, usize), String> {
    let len_i = len as i64;
    let mut s = if start < 0 { len_i + start } else { start };
    let mut e = match end {
        Some(e) if e < 0 => len_i + e,
        Some(e) => e,
        None => len_i,
    };
    if s < 0 {
        s = 0;
    }
    e = e.clamp(0, len_i);
    if s > e {
        return Err(format!(
            "lower slice bound {s} must be lower than or equal to upper bound ({e}) and target length ({len})"
        ));
    }
    Ok((s as usize, e as usize))
}

/// Benthos refuses a positive high bound not above the low one before looking at the target.
fn check_slice_args(low: i64, high: Option<i64>) -> Result<(), String> {
    match high {
        Some(high) if high > 0 && low >= high => Err(format!(
            "lower slice bound {low} must be lower than upper ({high})"
        )),
        _ => Ok(()),
    }
}

/// Literal bounds are checked when the mapping is parsed, as Benthos builds the method then.
fn prepare_slice(
    args: &[crate::eval::Expr],
    _: &crate::env::PrepareCx<'_>,
) -> Result<Vec<crate::eval::Expr>, String> {
    use crate::eval::Expr;
    if let (Expr::Lit(low), Expr::Lit(high)) = (&args[0], &args[1]) {
        let low = int_arg(low, "low")?;
        let high = match high {
            Value::Null => None,
            other => Some(int_arg(other, "high")?),
        };
        check_slice_args(low, high)?;
    }
    Ok(Vec::new())
}

fn slice(v: Value, args: &[Value]) -> Result<Value, String> {
    let start = int_arg(&args[0], "low")?;
    let end = match &args[1] {
        Value::Null => None,
        other => Some(int_arg(other, "high")?),
    };
    check_slice_args(start, end)?;
    match v {
        Value::String(s) => {
            let (a, b) = slice_bounds(s.len(), start, end)?;
            Ok(Value::String(
                String::from_utf8_lossy(&s.as_bytes()[a..b])
                    .into_owned()
                    .into(),
            ))
        }
        Value::Bytes(s) => {
            let (a, b) = slice_bounds(s.len(), start, end)?;
            Ok(Value::Bytes(s[a..b].to_vec()))
        }
        Value::Array(items) => {
            let (a, b) = slice_bounds(items.len(), start, end)?;
            Ok(Value::Array(items[a..b].to_vec()))
        }
        other => Err(type_err("array or string", &other)),
    }
}

fn append(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Array(mut items) = v else {
        return Err(type_err("array", &v));
    };
    items.extend(args.iter().cloned());
    Ok(Value::Array(items))
}

fn concat(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Array(mut items) = v else {
        return Err(type_err("array", &v));
    };
    let mut total = items.len();
    for a in args {
        match a {
            Value::Array(more) => total = total.saturating_add(more.len()),
            other => return Err(type_err("array", other)),
        }
    }
    crate::budget::check_elements(total, "concat")?;
    for a in args {
        if let Value::Array(more) = a {
            items.extend(more.iter().cloned());
        }
    }
    Ok(Value::Array(items))
}

fn enumerated(v: Value, _: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(type_err("array", &v));
    };
    Ok(Value::Array(
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let mut m = Map::new();
                m.insert("index", Value::Int(i as i64));
                m.insert("value", v);
                Value::Object(m)
            })
            .collect(),
    ))
}

fn zip(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Array(first) = v else {
        return Err(type_err("array", &v));
    };
    let mut arrays = vec![first];
    for a in args {
        match a {
            Value::Array(x) => arrays.push(x.clone()),
            other => return Err(type_err("array", other)),
        }
    }
    let len = arrays[0].len();
    if arrays.iter().any(|a| a.len() != len) {
        return Err("can't zip different length array values".to_owned());
    }
    Ok(Value::Array(
        (0..len)
            .map(|i| Value::Array(arrays.iter().map(|a| a[i].clone()).collect()))
            .collect(),
    ))
}

fn collapse_into(prefix: &str, v: &Value, include_empty: bool, out: &mut Vec<(Key, Value)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            if m.is_empty() {
                if include_empty && !prefix.is_empty() {
                    out.push((prefix.into(), v.clone()));
                }
                return;
            }
            for (k, c) in m {
                collapse_into(&join(k), c, include_empty, out);
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                if include_empty && !prefix.is_empty() {
                    out.push((prefix.into(), v.clone()));
                }
                return;
            }
            for (i, c) in items.iter().enumerate() {
                collapse_into(&join(&i.to_string()), c, include_empty, out);
            }
        }
        other => {
            out.push((prefix.into(), other.clone()));
        }
    }
}

fn collapse(v: Value, args: &[Value]) -> Result<Value, String> {
    let include_empty = matches!(args.first(), Some(Value::Bool(true)));
    // Gathered and sorted once: an array's keys arrive as "9" before "10", out of order.
    let mut out = Vec::new();
    collapse_into("", &v, include_empty, &mut out);
    Ok(Value::Object(Map::from_entries(out)))
}

/// About the bytes `v` takes: a value slot for each value, plus its text; counting stops
/// once past the value limit.
fn approx_bytes(v: &Value) -> usize {
    let limit = crate::budget::max_value_bytes();
    let slot = std::mem::size_of::<Value>();
    let mut total = 0usize;
    let mut pending = vec![v];
    while let Some(v) = pending.pop() {
        total = total.saturating_add(slot);
        match v {
            Value::String(s) | Value::Number(s) => total = total.saturating_add(s.len()),
            Value::Bytes(b) => total = total.saturating_add(b.len()),
            Value::Array(items) => pending.extend(items.iter()),
            Value::Object(m) => {
                for (k, item) in m {
                    total = total.saturating_add(k.len());
                    pending.push(item);
                }
            }
            _ => {}
        }
        if total > limit {
            break;
        }
    }
    total
}

fn explode(v: Value, args: &[Value]) -> Result<Value, String> {
    let raw_path = str_arg(&args[0], "path")?;
    let path = split_dot_path(&raw_path);
    if !matches!(v, Value::Object(_)) {
        return Err(type_err("object", &v));
    }
    let target = get_path_ref(&v, &path).cloned().unwrap_or(Value::Null);
    let n_copies = match &target {
        Value::Array(items) => items.len(),
        Value::Object(m) => m.len(),
        _ => 0,
    };
    // Each copy is the document without its target, plus one element: the target is taken
    // out first, so that it is not copied once per element, and the copies are counted
    // before they are made.
    let mut rest = crate::eval::Root::Value(v);
    if n_copies > 0 {
        crate::eval::assign_path(&mut rest, &path, Some(Value::Null))?;
    }
    let rest = match rest {
        crate::eval::Root::Value(v) => v,
        _ => Value::Null,
    };
    crate::budget::check_bytes(n_copies.saturating_mul(approx_bytes(&rest)), "explode")?;
    let with_value = |x: Value| -> Result<Value, String> {
        let mut root = crate::eval::Root::Value(rest.clone());
        crate::eval::assign_path(&mut root, &path, Some(x))?;
        Ok(match root {
            crate::eval::Root::Value(v) => v,
            _ => Value::Null,
        })
    };
    match target {
        Value::Array(items) => Ok(Value::Array(
            items
                .into_iter()
                .map(with_value)
                .collect::<Result<_, _>>()?,
        )),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                out.insert(k, with_value(x)?);
            }
            Ok(Value::Object(out))
        }
        other => Err(format!(
            "expected array or object value at path '{raw_path}', found: {}",
            other.type_name()
        )),
    }
}

fn squash(v: Value, _: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(type_err("array", &v));
    };
    // Merging the objects one by one inserts every key into the whole result so far.
    // Instead the entries are gathered, sorted by key (stably, so each key's values stay in
    // the order of the objects) and each key's values merged in that order: what merging
    // object by object gives, as a key's result depends on its own values only.
    let mut entries: Vec<(Key, Value)> = Vec::new();
    for i in items {
        match i {
            Value::Object(m) => entries.extend(m),
            other => return Err(type_err("object", &other)),
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Key, Value)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        match out.last_mut() {
            Some((last, acc)) if *last == k => {
                let existing = std::mem::replace(acc, Value::Null);
                *acc = merge_values(existing, v);
            }
            _ => out.push((k, v)),
        }
    }
    Ok(Value::Object(Map::from_entries(out)))
}

fn find(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(type_err("array", &v));
    };
    Ok(Value::Int(
        items
            .iter()
            .position(|i| values_equal(i, &args[0]))
            .map_or(-1, |i| i as i64),
    ))
}

fn find_all(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(type_err("array", &v));
    };
    Ok(Value::Array(
        items
            .iter()
            .enumerate()
            .filter(|(_, i)| values_equal(i, &args[0]))
            .map(|(i, _)| Value::Int(i as i64))
            .collect(),
    ))
}

fn find_by(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(items) = target else {
        return err(type_err("array", &target));
    };
    for (i, item) in items.iter().enumerate() {
        if predicate(cx, this, call, item)? {
            return Ok(Value::Int(i as i64));
        }
    }
    Ok(Value::Int(-1))
}

fn find_all_by(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(items) = target else {
        return err(type_err("array", &target));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if predicate(cx, this, call, item)? {
            out.push(Value::Int(i as i64));
        }
    }
    Ok(Value::Array(out))
}

fn all(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(items) = target else {
        return err(type_err("array", &target));
    };
    for item in &items {
        if !predicate(cx, this, call, item)? {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn any(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(items) = target else {
        return err(type_err("array", &target));
    };
    for item in &items {
        if predicate(cx, this, call, item)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn array(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(match v {
        Value::Array(a) => Value::Array(a),
        other => Value::Array(vec![other]),
    })
}

fn reverse(v: Value, _: &[Value]) -> Result<Value, String> {
    match v {
        Value::Array(mut a) => {
            a.reverse();
            Ok(Value::Array(a))
        }
        Value::String(s) => Ok(Value::String(s.chars().rev().collect())),
        Value::Bytes(mut b) => {
            b.reverse();
            Ok(Value::Bytes(b))
        }
        other => Err(type_err("array or string", &other)),
    }
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Object & Array Manipulation";
    env.method(
        "exists",
        cat,
        "Whether a dot path exists in an object.",
        vec![p("path", Kind::Str)],
        vec![ex(
            r#"root.result = this.foo.exists("bar.baz")"#,
            &[
                (
                    r#"{"foo":{"bar":{"baz":"yep, I exist"}}}"#,
                    r#"{"result":true}"#,
                ),
                (r#"{"foo":{"bar":{}}}"#, r#"{"result":false}"#),
            ],
        )],
        MethodImpl::Ref(exists),
    );
    env.method(
        "get",
        cat,
        "The value at a dot path, or null.",
        vec![p("path", Kind::Str)],
        vec![ex(
            r#"root.result = this.foo.get(this.target)"#,
            &[(
                r#"{"foo":{"bar":"from bar","baz":"from baz"},"target":"bar"}"#,
                r#"{"result":"from bar"}"#,
            )],
        )],
        MethodImpl::Ref(get),
    );
    env.method("map_each", cat, "Applies a query to each element of an array, or each key/value pair of an object.", vec![p("query", Kind::Query)], vec![
        ex("root.new_nums = this.nums.map_each(num -> if num < 10 {\n  deleted()\n} else {\n  num - 10\n})", &[(r#"{"nums":[3,11,4,17]}"#, r#"{"new_nums":[1,7]}"#)]),
        ex("root.new_dict = this.dict.map_each(item -> item.value.uppercase())", &[(r#"{"dict":{"foo":"hello","bar":"world"}}"#, r#"{"new_dict":{"bar":"WORLD","foo":"HELLO"}}"#)]),
    ], MethodImpl::Ctx(map_each));
    env.method(
        "map_each_key",
        cat,
        "Applies a query to each key of an object.",
        vec![p("query", Kind::Query)],
        vec![ex(
            "root.new_dict = this.dict.map_each_key(key -> key.uppercase())",
            &[(
                r#"{"dict":{"keya":"hello","keyb":"world"}}"#,
                r#"{"new_dict":{"KEYA":"hello","KEYB":"world"}}"#,
            )],
        )],
        MethodImpl::Ctx(map_each_key),
    );
    env.method(
        "filter",
        cat,
        "Keeps the elements for which a query is true.",
        vec![p("test", Kind::Query)],
        vec![ex(
            "root.new_nums = this.nums.filter(num -> num > 10)",
            &[(r#"{"nums":[3,11,4,17]}"#, r#"{"new_nums":[11,17]}"#)],
        )],
        MethodImpl::Ctx(filter),
    );
    env.method(
        "fold",
        cat,
        "Reduces an array with a query over `tally` and `value`.",
        vec![p("initial", Kind::Any), p("query", Kind::Query)],
        vec![ex(
            "root.sum = this.foo.fold(0, item -> item.tally + item.value)",
            &[(r#"{"foo":[3,8,11]}"#, r#"{"sum":22}"#)],
        )],
        MethodImpl::Ctx(fold),
    );
    env.method(
        "sort",
        cat,
        "Sorts an array, optionally with a `left`/`right` less-than query.",
        vec![opt("compare", Kind::Query, Value::Null)],
        vec![ex(
            "root.sorted = this.foo.sort()",
            &[(
                r#"{"foo":["bbb","ccc","aaa"]}"#,
                r#"{"sorted":["aaa","bbb","ccc"]}"#,
            )],
        )],
        MethodImpl::Ctx(sort),
    );
    env.method(
        "sort_by",
        cat,
        "Sorts an array by the result of a query.",
        vec![p("query", Kind::Query)],
        vec![ex(
            "root.sorted = this.foo.sort_by(ele -> ele.id)",
            &[(
                r#"{"foo":[{"id":"bbb"},{"id":"aaa"}]}"#,
                r#"{"sorted":[{"id":"aaa"},{"id":"bbb"}]}"#,
            )],
        )],
        MethodImpl::Ctx(sort_by),
    );
    env.method(
        "unique",
        cat,
        "Removes duplicates, optionally by a query.",
        vec![opt("emit", Kind::Query, Value::Null)],
        vec![ex(
            "root.uniques = this.foo.unique()",
            &[(
                r#"{"foo":["a","b","a","c"]}"#,
                r#"{"uniques":["a","b","c"]}"#,
            )],
        )],
        MethodImpl::Ctx(unique),
    );
    env.method(
        "flatten",
        cat,
        "Flattens one level of nested arrays.",
        vec![],
        vec![ex(
            "root.result = this.flatten()",
            &[(
                r#"["foo",["bar","baz"],"buz"]"#,
                r#"{"result":["foo","bar","baz","buz"]}"#,
            )],
        )],
        MethodImpl::Simple(flatten),
    );
    env.method(
        "keys",
        cat,
        "The sorted keys of an object.",
        vec![],
        vec![ex(
            "root.foo_keys = this.foo.keys()",
            &[(
                r#"{"foo":{"bar":1,"baz":2}}"#,
                r#"{"foo_keys":["bar","baz"]}"#,
            )],
        )],
        MethodImpl::Simple(keys),
    );
    env.method(
        "values",
        cat,
        "The values of an object.",
        vec![],
        vec![ex(
            "root.foo_vals = this.foo.values().sort()",
            &[(r#"{"foo":{"bar":1,"baz":2}}"#, r#"{"foo_vals":[1,2]}"#)],
        )],
        MethodImpl::Simple(values),
    );
    env.method(
        "key_values",
        cat,
        "The key/value pairs of an object.",
        vec![],
        vec![ex(
            "root.foo_key_values = this.foo.key_values().sort_by(pair -> pair.key)",
            &[(
                r#"{"foo":{"bar":1,"baz":2}}"#,
                r#"{"foo_key_values":[{"key":"bar","value":1},{"key":"baz","value":2}]}"#,
            )],
        )],
        MethodImpl::Simple(key_values),
    );
    env.method("merge", cat, "Merges a value into the target; colliding fields become arrays.", vec![p("with", Kind::Any)], vec![ex("root = this.foo.merge(this.bar)", &[(r#"{"foo":{"first_name":"fooer","likes":"bars"},"bar":{"second_name":"barer","likes":"foos"}}"#, r#"{"first_name":"fooer","likes":["bars","foos"],"second_name":"barer"}"#)])], MethodImpl::Simple(merge));
    env.method("assign", cat, "Merges a value into the target; colliding fields are overwritten.", vec![p("with", Kind::Any)], vec![ex("root = this.foo.assign(this.bar)", &[(r#"{"foo":{"first_name":"fooer","likes":"bars"},"bar":{"second_name":"barer","likes":"foos"}}"#, r#"{"first_name":"fooer","likes":"foos","second_name":"barer"}"#)])], MethodImpl::Simple(assign));
    env.method(
        "without",
        cat,
        "Removes dot paths from an object.",
        vec![p("...", Kind::Str)],
        vec![ex(
            r#"root = this.without("inner.a","inner.c","d")"#,
            &[(
                r#"{"inner":{"a":"first","b":"second","c":"third"},"d":"fourth","e":"fifth"}"#,
                r#"{"e":"fifth","inner":{"b":"second"}}"#,
            )],
        )],
        MethodImpl::Simple(without),
    );
    env.method(
        "with",
        cat,
        "Keeps only the given dot paths of an object.",
        vec![p("...", Kind::Str)],
        vec![ex(
            r#"root = this.with("inner.a","inner.c","d")"#,
            &[(
                r#"{"inner":{"a":"first","b":"second","c":"third"},"d":"fourth","e":"fifth"}"#,
                r#"{"d":"fourth","inner":{"a":"first","c":"third"}}"#,
            )],
        )],
        MethodImpl::Simple(with),
    );
    env.method(
        "index",
        cat,
        "The element at an index; negative counts from the end.",
        vec![p("index", Kind::Int)],
        vec![ex(
            "root.last_name = this.names.index(-1)",
            &[(
                r#"{"names":["rachel","stevens"]}"#,
                r#"{"last_name":"stevens"}"#,
            )],
        )],
        MethodImpl::Ref(index),
    );
    env.method(
        "slice",
        cat,
        "A slice of a string or array; negative bounds count from the end.",
        vec![p("low", Kind::Int), opt("high", Kind::Int, Value::Null)],
        vec![
            ex(
                "root.beginning = this.value.slice(0, 2)\nroot.end = this.value.slice(4)",
                &[(
                    r#"{"value":"foo bar"}"#,
                    r#"{"beginning":"fo","end":"bar"}"#,
                )],
            ),
            ex(
                "root.last_chunk = this.value.slice(-2)\nroot.the_rest = this.value.slice(0, -2)",
                &[(
                    r#"{"value":["foo","bar","baz","buz","bev"]}"#,
                    r#"{"last_chunk":["buz","bev"],"the_rest":["foo","bar","baz"]}"#,
                )],
            ),
            // A negative high bound past the start leaves nothing.
            ex(
                "root.v = this.value.slice(0, -100)",
                &[(r#"{"value":"foo bar baz"}"#, r#"{"v":""}"#)],
            ),
            ex(
                "root = this.value.slice(this.low, 2)",
                &[(
                    r#"{"value":"foo","low":2}"#,
                    "Error(lower slice bound 2 must be lower than upper (2))",
                )],
            ),
        ],
        MethodImpl::Simple(slice),
    );
    env.prepare_method("slice", prepare_slice);
    env.method(
        "append",
        cat,
        "Appends values to an array.",
        vec![p("...", Kind::Any)],
        vec![ex(
            r#"root.foo = this.foo.append("and", "this")"#,
            &[(
                r#"{"foo":["bar","baz"]}"#,
                r#"{"foo":["bar","baz","and","this"]}"#,
            )],
        )],
        MethodImpl::Simple(append),
    );
    env.method(
        "concat",
        cat,
        "Concatenates arrays.",
        vec![p("...", Kind::Any)],
        vec![ex(
            "root.foo = this.foo.concat(this.bar, this.baz)",
            &[(
                r#"{"foo":["a","b"],"bar":["c"],"baz":["d","e","f"]}"#,
                r#"{"foo":["a","b","c","d","e","f"]}"#,
            )],
        )],
        MethodImpl::Simple(concat),
    );
    env.method(
        "enumerated",
        cat,
        "Pairs each element with its index.",
        vec![],
        vec![ex(
            "root.foo = this.foo.enumerated()",
            &[(
                r#"{"foo":["bar","baz"]}"#,
                r#"{"foo":[{"index":0,"value":"bar"},{"index":1,"value":"baz"}]}"#,
            )],
        )],
        MethodImpl::Simple(enumerated),
    );
    env.method(
        "zip",
        cat,
        "Zips arrays of the same length.",
        vec![p("...", Kind::Any)],
        vec![ex(
            "root.foo = this.foo.zip(this.bar, this.baz)",
            &[(
                r#"{"foo":["a","b","c"],"bar":[1,2,3],"baz":[4,5,6]}"#,
                r#"{"foo":[["a",1,4],["b",2,5],["c",3,6]]}"#,
            )],
        )],
        MethodImpl::Simple(zip),
    );
    env.method(
        "collapse",
        cat,
        "Collapses nested structures into dot path keys.",
        vec![opt("include_empty", Kind::Bool, Value::Bool(false))],
        vec![ex(
            "root.result = this.collapse()",
            &[(
                r#"{"foo":[{"bar":"1"},{"bar":{}},{"bar":"2"},{"bar":[]}]}"#,
                r#"{"result":{"foo.0.bar":"1","foo.2.bar":"2"}}"#,
            )],
        )],
        MethodImpl::Simple(collapse),
    );
    env.method(
        "explode",
        cat,
        "Expands an array or object at a path into copies of the document.",
        vec![p("path", Kind::Str)],
        vec![ex(
            r#"root = this.explode("value")"#,
            &[(
                r#"{"id":1,"value":["foo","bar","baz"]}"#,
                r#"[{"id":1,"value":"foo"},{"id":1,"value":"bar"},{"id":1,"value":"baz"}]"#,
            )],
        )],
        MethodImpl::Simple(explode),
    );
    env.method(
        "squash",
        cat,
        "Merges an array of objects into one object.",
        vec![],
        vec![ex(
            "root.result = this.squash()",
            &[(r#"[{"a":1},{"b":2}]"#, r#"{"result":{"a":1,"b":2}}"#)],
        )],
        MethodImpl::Simple(squash),
    );
    env.method(
        "find",
        cat,
        "The index of the first element equal to a value, or -1.",
        vec![p("value", Kind::Any)],
        vec![ex(
            r#"root.index = this.find("bar")"#,
            &[(r#"["foo", "bar", "baz"]"#, r#"{"index":1}"#)],
        )],
        MethodImpl::Simple(find),
    );
    env.method(
        "find_all",
        cat,
        "The indexes of all elements equal to a value.",
        vec![p("value", Kind::Any)],
        vec![ex(
            r#"root.index = this.find_all("bar")"#,
            &[(r#"["foo", "bar", "baz", "bar"]"#, r#"{"index":[1,3]}"#)],
        )],
        MethodImpl::Simple(find_all),
    );
    env.method(
        "find_by",
        cat,
        "The index of the first element matching a query, or -1.",
        vec![p("query", Kind::Query)],
        vec![ex(
            r#"root.index = this.find_by(v -> v != "bar")"#,
            &[(r#"["foo", "bar", "baz"]"#, r#"{"index":0}"#)],
        )],
        MethodImpl::Ctx(find_by),
    );
    env.method(
        "find_all_by",
        cat,
        "The indexes of all elements matching a query.",
        vec![p("query", Kind::Query)],
        vec![ex(
            r#"root.index = this.find_all_by(v -> v != "bar")"#,
            &[(r#"["foo", "bar", "baz"]"#, r#"{"index":[0,2]}"#)],
        )],
        MethodImpl::Ctx(find_all_by),
    );
    env.method(
        "all",
        cat,
        "Whether a query is true for every element.",
        vec![p("test", Kind::Query)],
        vec![ex(
            "root.all_over_21 = this.patrons.all(patron -> patron.age >= 21)",
            &[(
                r#"{"patrons":[{"id":"1","age":18},{"id":"2","age":23}]}"#,
                r#"{"all_over_21":false}"#,
            )],
        )],
        MethodImpl::Ctx(all),
    );
    env.method(
        "any",
        cat,
        "Whether a query is true for any element.",
        vec![p("test", Kind::Query)],
        vec![ex(
            "root.any_over_21 = this.patrons.any(patron -> patron.age >= 21)",
            &[(
                r#"{"patrons":[{"id":"1","age":18},{"id":"2","age":23}]}"#,
                r#"{"any_over_21":true}"#,
            )],
        )],
        MethodImpl::Ctx(any),
    );
    env.method(
        "array",
        "Type Coercion",
        "Wraps a non-array value in an array.",
        vec![],
        vec![ex(
            "root.my_array = this.name.array()",
            &[(
                r#"{"name":"foobar bazson"}"#,
                r#"{"my_array":["foobar bazson"]}"#,
            )],
        )],
        MethodImpl::Simple(array),
    );
    env.method(
        "reverse",
        cat,
        "Reverses an array or string.",
        vec![],
        vec![ex(
            "root.reversed = this.thing.reverse()",
            &[(r#"{"thing":"backwards"}"#, r#"{"reversed":"sdrawkcab"}"#)],
        )],
        MethodImpl::Simple(reverse),
    );
}

#[cfg(test)]
mod tests {
    /// The result of `mapping` on an empty object, or its parse or run error as text.
    fn check(mapping: &str) -> String {
        check_on(mapping, "{}")
    }

    /// The result of `mapping` on `input`, or its parse or run error as text.
    fn check_on(mapping: &str, input: &str) -> String {
        crate::testing::map_one(mapping, input).unwrap_or_else(|e| format!("error: {e}"))
    }

    /// A JSON array of the integers in `range`.
    fn ints(range: impl Iterator<Item = i64>) -> String {
        let items: Vec<String> = range.map(|i| i.to_string()).collect();
        format!("[{}]", items.join(","))
    }

    #[test]
    fn sort_orders_integers_and_floats_near_two_to_the_53_exactly() {
        // Compared through f64, 2^53 + 1 equals the float 2^53 and the order was not total:
        // Rust's sort panicked on these 23 numbers and the request was dropped.
        let input = "[9007199254740993,9007199254740995,9007199254740992.0,9007199254740992.0,\
            9007199254740995,9007199254740993,9007199254740992,9007199254740992,9007199254740992,\
            9007199254740992,9007199254740997,9007199254740992.0,9007199254740992,\
            9007199254740992,9007199254740992,9007199254740993,9007199254740995,\
            9007199254740992.0,9007199254740992,9007199254740995,9007199254740995,\
            9007199254740992.0,9007199254740992]";
        // Stable: 2^53 as an integer and as a float keep their order.
        let expected = "[9007199254740992.0,9007199254740992.0,9007199254740992,\
            9007199254740992,9007199254740992,9007199254740992,9007199254740992.0,\
            9007199254740992,9007199254740992,9007199254740992,9007199254740992.0,\
            9007199254740992,9007199254740992.0,9007199254740992,9007199254740993,\
            9007199254740993,9007199254740993,9007199254740995,9007199254740995,\
            9007199254740995,9007199254740995,9007199254740995,9007199254740997]";
        assert_eq!(check_on("root = this.sort()", input), expected);
        assert!(
            !check_on("root = this.sort_by(n -> n)", input).starts_with("error"),
            "sort_by refused"
        );
        // Exact across the kinds: 2^53 + 1 is above the float 2^53, 0.5 between 0 and 1.
        assert_eq!(
            check("root = [9007199254740993, 9007199254740992.0, 1, 0.5, 0, -1.5].sort()"),
            "[-1.5,0,0.5,1,9007199254740992,9007199254740993]"
        );
        assert_eq!(
            check(r#"root = [3, 1.5, 2, 0.5, 1].sort()"#),
            "[0.5,1,1.5,2,3]"
        );
        assert_eq!(
            check(r#"root = ["b", "c", "a"].sort_by(s -> s)"#),
            r#"["a","b","c"]"#
        );
    }

    #[test]
    fn sort_by_keys_of_mixed_kinds_is_an_error_not_a_panic() {
        let input =
            r#"[1,"a",0,"b",2,"c",3,"d",4,"e",5,"f",6,"g",7,"h",8,"i",9,"j",10,"k",11,"l"]"#;
        // Which pair the error names depends on the sort's order of comparisons.
        let res = check_on("root = this.sort_by(v -> v)", input);
        assert!(
            res.starts_with(
                "error: failed assignment (line 1): expected number or string value, got "
            ),
            "{res}"
        );
    }

    #[test]
    fn sort_with_a_query_is_a_stable_merge_sort() {
        // The documented example.
        assert_eq!(
            check_on(
                "root.sorted = this.foo.sort(item -> item.left.v < item.right.v)",
                r#"{"foo":[{"id":"foo","v":"bbb"},{"id":"bar","v":"ccc"},{"id":"baz","v":"aaa"}]}"#
            ),
            r#"{"sorted":[{"id":"baz","v":"aaa"},{"id":"foo","v":"bbb"},{"id":"bar","v":"ccc"}]}"#
        );
        // Equal elements keep their order.
        assert_eq!(
            check(
                r#"root = [{"k":2,"i":0},{"k":1,"i":1},{"k":2,"i":2},{"k":1,"i":3}].sort(p -> p.left.k < p.right.k).map_each(p -> p.i)"#
            ),
            "[1,3,0,2]"
        );
        // Descending over many elements, each a large array that is never copied.
        let input = format!(
            "[{}]",
            (0..2000)
                .map(|i| format!("[{i},{}]", ints(0..50).trim_matches(['[', ']'])))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            check_on(
                "root = this.sort(p -> p.left.index(0) > p.right.index(0)).map_each(a -> a.index(0))",
                &input
            ),
            ints((0..2000).rev())
        );
        // A query that is no order at all still ends: always true reverses.
        assert_eq!(check("root = [1,2,3,4,5].sort(p -> true)"), "[5,4,3,2,1]");
        assert_eq!(
            check(r#"root = [1,2].sort(p -> "yes")"#),
            "error: failed assignment (line 1): expected bool value, got string (\"yes\")"
        );
    }

    #[test]
    fn unique_hashes_its_keys_and_keeps_first_occurrences() {
        assert_eq!(
            check_on("root = this.unique().length()", &ints(0..50_000)),
            "50000"
        );
        assert_eq!(
            check(r#"root = [1, 1.0, "1", 2, "a", "a".bytes(), 2, 0.0, -0.0, "b"].unique()"#),
            r#"[1,"1",2,"a",0,"b"]"#
        );
        assert_eq!(
            check_on(
                "root.unique_users = this.users.unique(u -> u.id)",
                r#"{"users":[{"id":1,"name":"Alice"},{"id":2,"name":"Bob"},{"id":1,"name":"Alice Duplicate"}]}"#
            ),
            r#"{"unique_users":[{"id":1,"name":"Alice"},{"id":2,"name":"Bob"}]}"#
        );
    }

    #[test]
    fn explode_refuses_copies_past_the_value_limit() {
        let big = "x".repeat(100_000);
        let input = format!(
            r#"{{"items":{},"big":"{big}"}}"#,
            ints((0..1000).map(|_| 0))
        );
        let res = check_on(r#"root = this.explode("items")"#, &input);
        assert!(
            res.starts_with(
                "error: failed assignment (line 1): field `this`: explode would produce "
            ) && res.ends_with("bytes, more than the limit of 67108864 bytes for one value"),
            "{res}"
        );
        // Many small copies are fine, and the target is not copied into each of them.
        let input = format!(r#"{{"id":7,"items":{}}}"#, ints(0..20_000));
        assert_eq!(
            check_on(r#"root = this.explode("items").index(19999)"#, &input),
            r#"{"id":7,"items":19999}"#
        );
        assert_eq!(
            check(r#"root = {"id":1,"value":{"a":1,"b":2}}.explode("value")"#),
            r#"{"a":{"id":1,"value":1},"b":{"id":1,"value":2}}"#
        );
        assert_eq!(
            check(r#"root = {"id":1,"value":[]}.explode("value")"#),
            "[]"
        );
    }

    #[test]
    fn object_builders_gather_entries_and_keep_their_key_rules() {
        // Keys in descending order, each once: squash inserted each at the front.
        let items: Vec<String> = (0..5000)
            .rev()
            .map(|i| format!(r#"{{"k{i:05}":{i}}}"#))
            .collect();
        assert_eq!(
            check_on(
                "root = this.squash().keys().length()",
                &format!("[{}]", items.join(","))
            ),
            "5000"
        );
        // A key in several objects merges in their order.
        assert_eq!(
            check(r#"root = [{"a":1,"z":0},{"a":2},{"b":1},{"a":{"b":1}}].squash()"#),
            r#"{"a":[1,2,{"b":1}],"b":1,"z":0}"#
        );
        assert_eq!(
            check(r#"root = {"a":{"x":1},"b":1,"d":[1]}.merge({"a":{"y":2},"b":2,"c":3,"d":2})"#),
            r#"{"a":{"x":1,"y":2},"b":[1,2],"c":3,"d":[1,2]}"#
        );
        assert_eq!(
            check(
                r#"root = {"a":{"x":1},"b":1,"c":{"k":1}}.assign({"a":{"y":2},"b":{"z":1},"c":5})"#
            ),
            r#"{"a":{"x":1,"y":2},"b":{"z":1},"c":5}"#
        );
        assert_eq!(
            check("root = range(0, 12).collapse().keys()"),
            r#"["0","1","10","11","2","3","4","5","6","7","8","9"]"#
        );
        assert_eq!(
            check(r#"root = {"a":"x"}.merge(range(0, 12).collapse()).collapse().values()"#).len(),
            check(r#"root = range(0, 12).collapse().values().append("x")"#).len()
        );
        // Two keys mapped to one: the later wins, as when inserting one by one.
        assert_eq!(
            check(
                r#"root = {"a":1,"b":2,"c":3}.map_each_key(k -> if k == "a" { "z" } else { "y" })"#
            ),
            r#"{"y":3,"z":1}"#
        );
        // Two paths collapsing to one key: the one visited later ("a.b" after "a") wins.
        assert_eq!(
            check(r#"root = {"a.b":1,"a":{"b":2}}.collapse()"#),
            r#"{"a.b":1}"#
        );
    }

    #[test]
    fn literal_slice_bounds_are_checked_at_parse_time() {
        assert_eq!(
            check(r#"root = "abcd".slice(3, 2)"#),
            "error: line 1 char 26: lower slice bound 3 must be lower than upper (2)"
        );
        assert_eq!(
            check(r#"root = "abcd".slice(3, -2)"#),
            "error: failed assignment (line 1): string literal: lower slice bound 3 must be lower than or equal to upper bound (2) and target length (4)"
        );
        assert_eq!(check(r#"root = "abcd".slice(1, -2)"#), "b");
    }

    #[test]
    fn sort_unique_and_join_name_the_element_they_refuse() {
        assert_eq!(
            check(r#"root = [3,22,{"foo":"bar"},7,null].sort()"#),
            "error: failed assignment (line 1): sort element 2: expected number or string value, got object"
        );
        assert_eq!(
            check(r#"root = [3,"a"].sort()"#),
            r#"error: failed assignment (line 1): sort element 0: expected string value, got number (3)"#
        );
        assert_eq!(
            check(r#"root = [{"v":"a"},{"v":"b"}].unique()"#),
            "error: failed assignment (line 1): array literal: index 0: expected string or number value, got object"
        );
        assert_eq!(
            check(r#"root = "foo".unique()"#),
            r#"error: failed assignment (line 1): expected array value, got string from string literal ("foo")"#
        );
        assert_eq!(
            check(r#"root = {"foo":"not an array","id":"bar"}.explode("foo")"#),
            "error: failed assignment (line 1): object literal: expected array or object value at path 'foo', found: string"
        );
        assert_eq!(
            check(r#"root = {"id":"bar"}.explode("foo")"#),
            "error: failed assignment (line 1): object literal: expected array or object value at path 'foo', found: null"
        );
        assert_eq!(
            check(r#"root = ["foo",10,"bar"].join(",")"#),
            "error: failed assignment (line 1): array literal: failed to join element 1: expected string value, got number (10)"
        );
    }
}
