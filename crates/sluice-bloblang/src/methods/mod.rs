//! Methods, one module per Benthos category.

use crate::env::Environment;
use crate::eval::type_err;
use crate::value::Value;

pub(crate) mod bloblang;
pub(crate) mod changelog;
pub(crate) mod codecs;
pub(crate) mod coercion;
pub(crate) mod documents;
pub(crate) mod encoding;
pub(crate) mod general;
pub(crate) mod geoip;
pub(crate) mod jwt;
pub(crate) mod jwt_sign;
pub(crate) mod lz4_go;
pub(crate) mod numbers;
pub(crate) mod parquet;
pub(crate) mod paths;
pub(crate) mod schema;
pub(crate) mod slug;
pub(crate) mod strings;
pub(crate) mod structured;
pub(crate) mod time;
pub(crate) mod uuid;
pub(crate) mod vector;
pub(crate) mod yaml_emit;
pub(crate) mod yaml_parse;

pub(crate) fn register(env: &mut Environment) {
    general::register(env);
    coercion::register(env);
    strings::register(env);
    numbers::register(env);
    structured::register(env);
    time::register(env);
    encoding::register(env);
    codecs::register(env);
    documents::register(env);
    changelog::register(env);
    jwt::register(env);
    jwt_sign::register(env);
    parquet::register(env);
    bloblang::register(env);
    paths::register(env);
    schema::register(env);
    slug::register(env);
    uuid::register(env);
    vector::register(env);
    geoip::register(env);
}

/// The text of a string or bytes value.
pub(crate) fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone().into()),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(type_err("string", other)),
    }
}

/// A string argument.
pub(crate) fn str_arg(v: &Value, name: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone().into()),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(format!("field {name}: {}", type_err("string", other))),
    }
}

/// An integer argument.
pub(crate) fn int_arg(v: &Value, name: &str) -> Result<i64, String> {
    match v.as_num() {
        Some(crate::value::Num::I(i)) => Ok(i),
        Some(crate::value::Num::F(f)) if f.fract() == 0.0 => Ok(f as i64),
        _ => Err(format!("field {name}: {}", type_err("integer", v))),
    }
}
