//! Methods that work on any value: error handling, type checks, application of maps.

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::{Call, Cx, Flow, R, Root, This, err, run_stmts, type_err};
use crate::value::Value;

fn catch(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.target(cx, this) {
        // As in Benthos, the fallback runs with the error text as its context:
        // `catch(err -> ...)` binds it, `this` elsewhere in the fallback is it.
        Err(Flow::Err(e)) => call
            .arg_expr(0)
            .eval_with_context(cx, this, &Value::String(e.into())),
        other => other,
    }
}

/// The `|` operator as a method: a deleted target falls back too, as
/// Benthos counts `deleted()` and `nothing()` as null there.
fn or(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.target(cx, this) {
        Ok(Value::Null) | Err(_) => call.arg_expr(0).eval(cx, this),
        other => other,
    }
}

/// Moves the message functions to the message at `index`, which Benthos
/// takes as given: no bounds check, see [`Cx::index`].
fn from(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let index = match call.arg(0, cx, this)?.as_num() {
        Some(n) => n.as_f64() as i64,
        None => return err("expected number index"),
    };
    let saved = cx.index;
    cx.index = index;
    let res = call.target(cx, this);
    cx.index = saved;
    res
}

fn from_all(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let saved = cx.index;
    let mut out = Vec::new();
    for i in 0..cx.batch.len() {
        cx.index = i as i64;
        match call.target(cx, this) {
            Ok(v) => out.push(v),
            Err(Flow::Err(e)) => {
                cx.index = saved;
                return err(e);
            }
            Err(_) => out.push(Value::Null),
        }
    }
    cx.index = saved;
    Ok(Value::Array(out))
}

fn apply(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let name = match call.arg(0, cx, this)? {
        Value::String(s) => s,
        other => return err(type_err("string", &other)),
    };
    let Some(stmts) = cx.maps.get(name.as_str()).cloned() else {
        return err(format!("map {name} was not found"));
    };
    if cx.spend.map_depth >= crate::budget::MAX_MAP_DEPTH {
        return err(format!(
            "map {name}: maps applied more than {} deep, a recursion that does not end",
            crate::budget::MAX_MAP_DEPTH
        ));
    }
    cx.spend.map_depth += 1;
    let saved_root = std::mem::replace(&mut cx.root, Root::Nothing);
    let res = run_stmts(&stmts, cx, this.with_value(&target));
    let new_root = std::mem::replace(&mut cx.root, saved_root);
    cx.spend.map_depth -= 1;
    match res {
        Err((_, e)) => err(e),
        Ok(()) => match new_root {
            Root::Value(v) => Ok(v),
            Root::Deleted => Err(Flow::Delete),
            Root::Nothing => Err(Flow::Nothing),
        },
    }
}

fn type_of(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::String(v.type_name().to_owned().into()))
}

fn not_null(v: Value, _: &[Value]) -> Result<Value, String> {
    if v.is_null() {
        return Err("value is null".to_owned());
    }
    Ok(v)
}

fn not_empty(v: Value, _: &[Value]) -> Result<Value, String> {
    match &v {
        Value::String(s) if s.is_empty() => Err("string value is empty".to_owned()),
        Value::Bytes(s) if s.is_empty() => Err("bytes value is empty".to_owned()),
        Value::Array(s) if s.is_empty() => Err("array value is empty".to_owned()),
        Value::Object(s) if s.is_empty() => Err("object value is empty".to_owned()),
        Value::String(_) | Value::Bytes(_) | Value::Array(_) | Value::Object(_) => Ok(v),
        other => Err(type_err("string, array or object", other)),
    }
}

fn map_query(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    call.arg_expr(0).eval_with_context(cx, this, &target)
}

fn with_default(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    call.target(cx, this)
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Error Handling";
    env.method(
        "catch",
        cat,
        "If the target fails, returns the argument (a value or query) instead.",
        vec![p("fallback", Kind::Query)],
        vec![
            ex(
                r#"root.doc.id = this.thing.id.string().catch(uuid_v4().length())"#,
                &[(r#"{"thing":{"id":"x"}}"#, r#"{"doc":{"id":"x"}}"#)],
            ),
            ex(
                r#"root.url = this.url.parse_url().catch(err -> {"error":err,"input":this.url})"#,
                &[(
                    r#"{"url":"invalid %&# url"}"#,
                    r#"{"url":{"error":"field `this.url`: parse \"invalid %&\": invalid URL escape \"%&\"","input":"invalid %&# url"}}"#,
                )],
            ),
            ex(
                "root = this.catch(deleted())",
                &[(r#"{"doc":{"foo":"bar"}}"#, r#"{"doc":{"foo":"bar"}}"#)],
            ),
        ],
        MethodImpl::Ctx(catch),
    );
    env.method(
        "or",
        cat,
        "If the target is null or fails, returns the argument instead.",
        vec![p("fallback", Kind::Query)],
        vec![ex(
            r#"root.doc.id = this.thing.id.or(this.id)"#,
            &[(r#"{"id":"foo"}"#, r#"{"doc":{"id":"foo"}}"#)],
        )],
        MethodImpl::Ctx(or),
    );
    env.method(
        "from",
        "Message Info",
        "Executes the target query against another message of the batch.",
        vec![p("index", Kind::Int)],
        vec![],
        MethodImpl::Ctx(from),
    );
    env.method(
        "from_all",
        "Message Info",
        "Executes the target query against every message of the batch.",
        vec![],
        vec![],
        MethodImpl::Ctx(from_all),
    );
    env.method(
        "apply",
        "Object & Array Manipulation",
        "Applies a named map to the target.",
        vec![p("mapping", Kind::Str)],
        vec![ex(
            "map thing {\n  root.inner = this.first\n}\n\nroot.foo = this.doc.apply(\"thing\")",
            &[(
                r#"{"doc":{"first":"hello world"}}"#,
                r#"{"foo":{"inner":"hello world"}}"#,
            )],
        )],
        MethodImpl::Ctx(apply),
    );
    env.method(
        "type",
        "Type Coercion",
        "The type of the value: string, bytes, number, bool, timestamp, array, object or null.",
        vec![],
        vec![ex(
            "root.type = this.type()",
            &[
                (r#""foobar""#, r#"{"type":"string"}"#),
                ("666", r#"{"type":"number"}"#),
                ("false", r#"{"type":"bool"}"#),
                ("null", r#"{"type":"null"}"#),
            ],
        )],
        MethodImpl::Simple(type_of),
    );
    env.method(
        "not_null",
        "Type Coercion",
        "Fails when the value is null.",
        vec![],
        vec![ex(
            "root.a = this.a.not_null()",
            &[
                (r#"{"a":"foo"}"#, r#"{"a":"foo"}"#),
                (r#"{"b":"foo"}"#, "Error(\"value is null\")"),
            ],
        )],
        MethodImpl::Simple(not_null),
    );
    env.method(
        "not_empty",
        "Type Coercion",
        "Fails when a string, array or object is empty.",
        vec![],
        vec![ex(
            "root.a = this.a.not_empty()",
            &[
                (r#"{"a":"foo"}"#, r#"{"a":"foo"}"#),
                (r#"{"a":""}"#, "Error(\"string value is empty\")"),
            ],
        )],
        MethodImpl::Simple(not_empty),
    );
    env.method(
        "map",
        "Object & Array Manipulation",
        "Executes a query with the target as its context.",
        vec![p("query", Kind::Query)],
        vec![],
        MethodImpl::Ctx(map_query),
    );
    let _ = (opt, with_default);
}

#[cfg(test)]
mod tests {
    use crate::Root;
    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;
    use crate::testing::map_one as check;

    #[test]
    fn or_and_coalesce_fall_back_from_deleted_and_nothing() {
        for mapping in [
            r#"root = deleted() | "fallback""#,
            r#"root = nothing() | "fallback""#,
            r#"root = deleted().or("fallback")"#,
            r#"root = nothing().or("fallback")"#,
        ] {
            assert_eq!(check(mapping, "{}").as_deref(), Ok("fallback"), "{mapping}");
        }
    }

    #[test]
    fn from_takes_its_index_as_given() {
        let mapping = Mapping::parse(
            r#"root.last = content().from(-1).string()
root.last_index = batch_index().from(-1)
root.past_index = batch_index().from(5)
root.past_content = content().from(5).string()
root.past_meta = meta().from(5)
root.past_error = error().from(5)
root.past_errored = errored().from(5)"#,
        )
        .expect("mapping parses");
        let batch = [SimpleMessage::new(&b"a"[..]), SimpleMessage::new(&b"b"[..])];
        let out = mapping.exec(&batch[..], 0).expect("mapping runs");
        let Root::Value(v) = out.root else {
            panic!("no document");
        };
        assert_eq!(
            String::from_utf8(v.to_message_bytes()).unwrap(),
            r#"{"last":"b","last_index":-1,"past_content":"","past_error":null,"past_errored":false,"past_index":5,"past_meta":{}}"#
        );
        // An index outside the batch reads an empty message, which is no JSON.
        let json = Mapping::parse(r#"root = json("a").from(2)"#).expect("mapping parses");
        assert_eq!(
            json.exec(&batch[..], 0).unwrap_err().to_string(),
            "failed assignment (line 1): target message part does not exist"
        );
    }
}
