//! Environment functions: `env`, `hostname`, `file`.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::env::{Environment, FnImpl, Kind, opt, p};
use crate::eval::{Call, Cx, Flow, R, This, type_err};
use crate::value::Value;

/// Variables `env()` sees before the process environment's: `sluice test`
/// sets a case's `environment` here while the case runs. Process-wide, as
/// the process environment is; a lock rather than `std::env::set_var`,
/// which is unsound while other threads read the environment.
static OVERLAY: RwLock<Option<HashMap<String, String>>> = RwLock::new(None);

/// Makes `vars` visible to `env()` ahead of the process environment, until
/// replaced; `None` leaves only the process environment.
pub fn set_env_overlay(vars: Option<HashMap<String, String>>) {
    *OVERLAY.write().unwrap_or_else(PoisonError::into_inner) = vars;
}

fn lookup_env(name: &str) -> Option<String> {
    let overlay = OVERLAY.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(value) = overlay.as_ref().and_then(|vars| vars.get(name)) {
        return Some(value.clone());
    }
    std::env::var(name).ok()
}

fn env_var(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.arg(0, cx, this)? {
        Value::String(name) => Ok(lookup_env(&name).map_or(Value::Null, Value::String)),
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
