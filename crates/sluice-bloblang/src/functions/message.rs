//! Message info functions: `content`, `json`, `meta`, `metadata`, batch and error accessors.

use crate::env::{Environment, FnImpl, Kind, ex, opt, p};
use crate::eval::{Call, Cx, R, This, err, get_path, split_dot_path};
use crate::value::Value;

fn content(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Bytes(cx.msg().content().to_vec()))
}

fn json(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let dynamic;
    let segs: &[String] = match &call.args[0] {
        crate::eval::Expr::Lit(Value::String(s)) => {
            call.path_cache.get_or_init(|| split_dot_path(s))
        }
        _ => match call.arg(0, cx, this)? {
            Value::String(s) => {
                dynamic = split_dot_path(&s);
                &dynamic
            }
            other => return err(crate::eval::type_err("string", &other)),
        },
    };
    if let Some(found) = cx.read_msg_path(segs) {
        return Ok(found.map(Value::sanitised).unwrap_or(Value::Null));
    }
    let msg = cx.msg();
    let doc = match msg.structured() {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    Ok(get_path(doc, segs)
        .map(Value::sanitised)
        .unwrap_or(Value::Null))
}

fn meta(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let key = call.arg(0, cx, this)?;
    let md = cx.msg().metadata();
    match key {
        Value::Null => Ok(Value::Object(
            md.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.to_interp_string())))
                .collect(),
        )),
        Value::String(k) => Ok(match md.get(&k) {
            Some(v) => {
                let s = v.to_interp_string();
                if s.is_empty() {
                    Value::Null
                } else {
                    Value::String(s)
                }
            }
            None => Value::Null,
        }),
        other => err(crate::eval::type_err("string", &other)),
    }
}

fn metadata(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let key = call.arg(0, cx, this)?;
    let md = cx.msg().metadata();
    match key {
        Value::Null => Ok(Value::Object(md.clone())),
        Value::String(k) => Ok(md.get(&k).cloned().unwrap_or(Value::Null)),
        other => err(crate::eval::type_err("string", &other)),
    }
}

fn batch_index(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Int(cx.index as i64))
}

fn batch_size(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Int(cx.batch.len() as i64))
}

fn error(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(cx
        .msg()
        .error()
        .map_or(Value::Null, |e| Value::String(e.to_owned())))
}

fn errored(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Bool(cx.msg().error().is_some()))
}

fn var(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.arg(0, cx, this)? {
        Value::String(name) => match cx.vars.get(&name) {
            Some(v) => Ok(v.clone()),
            None => err(format!("variable '{name}' undefined")),
        },
        other => err(crate::eval::type_err("string", &other)),
    }
}

fn tracing_id(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::String(String::new()))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Message Info";
    env.function(
        "content",
        cat,
        "Returns the full raw contents of the message.",
        vec![],
        vec![ex(
            "root.doc = content().string()",
            &[(r#"{"foo":"bar"}"#, r#"{"doc":"{\"foo\":\"bar\"}"}"#)],
        )],
        FnImpl::Ctx(content),
    );
    env.function(
        "json",
        cat,
        "Returns a value from the message parsed as JSON at a dot path, or the whole document.",
        vec![opt("path", Kind::Str, Value::String(String::new()))],
        vec![
            ex(
                r#"root.mapped = json("foo.bar")"#,
                &[(
                    r#"{"foo":{"bar":"hello world"}}"#,
                    r#"{"mapped":"hello world"}"#,
                )],
            ),
            ex(
                "root.doc = json()",
                &[(
                    r#"{"foo":{"bar":"hello world"}}"#,
                    r#"{"doc":{"foo":{"bar":"hello world"}}}"#,
                )],
            ),
        ],
        FnImpl::Ctx(json),
    );
    env.function(
        "meta",
        cat,
        "Returns an input metadata value as a string, or null; without a key, all of them.",
        vec![opt("key", Kind::Str, Value::Null)],
        vec![],
        FnImpl::Ctx(meta),
    );
    env.function(
        "metadata",
        cat,
        "Returns an input metadata value with its type, or null; without a key, all of them.",
        vec![opt("key", Kind::Str, Value::Null)],
        vec![],
        FnImpl::Ctx(metadata),
    );
    env.function(
        "root_meta",
        cat,
        "Returns the metadata of the message as an object.",
        vec![opt("key", Kind::Str, Value::Null)],
        vec![],
        FnImpl::Ctx(meta),
    );
    env.function(
        "batch_index",
        cat,
        "The index of the message within its batch.",
        vec![],
        vec![ex("root = batch_index()", &[("{}", "0")])],
        FnImpl::Ctx(batch_index),
    );
    env.function(
        "batch_size",
        cat,
        "The size of the batch of the message.",
        vec![],
        vec![ex("root = batch_size()", &[("{}", "1")])],
        FnImpl::Ctx(batch_size),
    );
    env.function(
        "error",
        cat,
        "The processing error of the message, or null.",
        vec![],
        vec![ex("root = error()", &[("{}", "null")])],
        FnImpl::Ctx(error),
    );
    env.function(
        "errored",
        cat,
        "Whether the message has a processing error.",
        vec![],
        vec![ex("root = errored()", &[("{}", "false")])],
        FnImpl::Ctx(errored),
    );
    env.function(
        "tracing_id",
        cat,
        "The trace id of the message, empty without tracing.",
        vec![],
        vec![],
        FnImpl::Ctx(tracing_id),
    );
    env.function(
        "var",
        cat,
        "The value of a variable set with `let`.",
        vec![p("name", Kind::Str)],
        vec![ex(
            "let foo = \"bar\"\nroot.foo = var(\"foo\")",
            &[("{}", r#"{"foo":"bar"}"#)],
        )],
        FnImpl::Ctx(var),
    );
}
