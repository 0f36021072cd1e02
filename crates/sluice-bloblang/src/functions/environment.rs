//! Environment functions: `env`, `hostname`, `file`.

use crate::env::{Environment, FnImpl, Kind, opt, p};
use crate::eval::{Call, Cx, Flow, R, This, type_err};
use crate::value::Value;

fn env_var(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.arg(0, cx, this)? {
        Value::String(name) => Ok(std::env::var(&name).map_or(Value::Null, Value::String)),
        other => Err(Flow::Err(type_err("string", &other))),
    }
}

fn hostname(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    Ok(Value::String(name))
}

fn file(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.arg(0, cx, this)? {
        Value::String(path) => std::fs::read(&path)
            .map(Value::Bytes)
            .map_err(|e| Flow::Err(format!("open {path}: {e}"))),
        other => Err(Flow::Err(type_err("string", &other))),
    }
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Environment";
    env.function(
        "env",
        cat,
        "The value of an environment variable, or null.",
        vec![
            p("name", Kind::Str),
            opt("no_cache", Kind::Bool, Value::Bool(false)),
        ],
        vec![],
        FnImpl::Ctx(env_var),
    );
    env.function(
        "hostname",
        cat,
        "The hostname of the machine.",
        vec![],
        vec![],
        FnImpl::Ctx(hostname),
    );
    env.function(
        "file",
        cat,
        "The contents of a file as bytes.",
        vec![
            p("path", Kind::Str),
            opt("no_cache", Kind::Bool, Value::Bool(false)),
        ],
        vec![],
        FnImpl::Ctx(file),
    );
}
