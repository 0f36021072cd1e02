//! Object and array methods.

use crate::value::Map;
use std::borrow::Cow;

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::{
    Call, Cx, Flow, R, This, as_bool, err, get_path, get_path_ref, split_dot_path, type_err,
    values_equal,
};
use crate::methods::{int_arg, str_arg};
use crate::value::{Num, Value};

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
    let mut out = Map::new();
    for (k, v) in m {
        let key = Value::String(k.to_string().into());
        match q.eval_with_context(cx, this, &key) {
            Ok(Value::String(nk)) => {
                out.insert(nk, v);
            }
            Ok(other) => {
                return err(format!(
                    "unexpected result from key mapping: {}",
                    type_err("string", &other)
                ));
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

/// Orders two values of the same kind (numbers or strings) as `sort` does.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Ok(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Ok(x.cmp(y)),
        _ => match (a.as_num(), b.as_num()) {
            (Some(Num::I(x)), Some(Num::I(y))) => Ok(x.cmp(&y)),
            (Some(x), Some(y)) => Ok(x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(std::cmp::Ordering::Equal)),
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

fn sort(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let Value::Array(mut items) = target else {
        return err(type_err("array", &target));
    };
    let custom = !matches!(
        call.args.first(),
        None | Some(crate::eval::Expr::Lit(Value::Null))
    );
    let mut failure: Option<Flow> = None;
    if custom {
        let q = call.arg_expr(0);
        // Insertion-stable merge sort driven by the "less" query.
        let mut sorted: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            let mut pos = sorted.len();
            for (i, existing) in sorted.iter().enumerate() {
                let mut m = Map::new();
                m.insert("left", item.clone());
                m.insert("right", existing.clone());
                let ctx = Value::Object(m);
                match q
                    .eval_with_context(cx, this, &ctx)
                    .and_then(|v| as_bool(&v).map_err(Flow::Err))
                {
                    Ok(true) => {
                        pos = i;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => return Err(e),
                }
            }
            sorted.insert(pos, item);
        }
        return Ok(Value::Array(sorted));
    }
    if let Some(e) = unsortable(&items) {
        return err(e);
    }
    items.sort_by(|a, b| match compare(a, b) {
        Ok(o) => o,
        Err(e) => {
            failure.get_or_insert(Flow::Err(e));
            std::cmp::Ordering::Equal
        }
    });
    match failure {
        Some(f) => Err(f),
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
    keyed.sort_by(|a, b| match compare(&a.0, &b.0) {
        Ok(o) => o,
        Err(e) => {
            failure.get_or_insert(e);
            std::cmp::Ordering::Equal
        }
    });
    if let Some(e) = failure {
        return err(e);
    }
    Ok(Value::Array(keyed.into_iter().map(|(_, v)| v).collect()))
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
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = if custom {
            call.arg_expr(0).eval_with_context(cx, this, &item)?
        } else {
            item.clone()
        };
        if !matches!(
            key,
            Value::String(_) | Value::Bytes(_) | Value::Int(_) | Value::Float(_) | Value::Number(_)
        ) {
            return err(
                call.method_error(format!("index {i}: {}", type_err("string or number", &key)))
            );
        }
        if seen.iter().any(|s| values_equal(s, &key)) {
            continue;
        }
        seen.push(key);
        out.push(item);
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

/// Benthos merge: objects merge recursively, colliding non-objects become arrays.
pub(crate) fn merge_values(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let nv = match x.remove(&k) {
                    Some(existing) => merge_values(existing, v),
                    None => v,
                };
                x.insert(k, nv);
            }
            Value::Object(x)
        }
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
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let nv = match x.remove(&k) {
                    Some(existing @ Value::Object(_)) if matches!(v, Value::Object(_)) => {
                        assign_values(existing, v)
                    }
                    _ => v,
                };
                x.insert(k, nv);
            }
            Value::Object(x)
        }
        (Value::Array(mut x), Value::Array(y)) => {
            x.extend(y);
            Value::Array(x)
        }
        (_, y) => y,
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

fn collapse_into(prefix: &str, v: &Value, include_empty: bool, out: &mut Map) {
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
                    out.insert(prefix.to_owned(), v.clone());
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
                    out.insert(prefix.to_owned(), v.clone());
                }
                return;
            }
            for (i, c) in items.iter().enumerate() {
                collapse_into(&join(&i.to_string()), c, include_empty, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn collapse(v: Value, args: &[Value]) -> Result<Value, String> {
    let include_empty = matches!(args.first(), Some(Value::Bool(true)));
    let mut out = Map::new();
    collapse_into("", &v, include_empty, &mut out);
    Ok(Value::Object(out))
}

fn explode(v: Value, args: &[Value]) -> Result<Value, String> {
    let raw_path = str_arg(&args[0], "path")?;
    let path = split_dot_path(&raw_path);
    if !matches!(v, Value::Object(_)) {
        return Err(type_err("object", &v));
    }
    let target = get_path_ref(&v, &path).cloned().unwrap_or(Value::Null);
    let with_value = |x: Value| -> Result<Value, String> {
        let mut root = crate::eval::Root::Value(v.clone());
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
    let mut acc = Value::Object(Map::new());
    for i in items {
        match i {
            Value::Object(_) => acc = merge_values(acc, i),
            other => return Err(type_err("object", &other)),
        }
    }
    Ok(acc)
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
        crate::testing::map_one(mapping, "{}").unwrap_or_else(|e| format!("error: {e}"))
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
