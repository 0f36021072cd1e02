//! `uuid_v5`: name-based UUIDs.

use uuid::Uuid;

use crate::env::{Environment, Kind, MethodImpl, ex, opt};
use crate::eval::type_err;
use crate::value::Value;

/// The namespace of `ns`: a predefined name, a UUID, or the nil UUID when absent.
fn namespace(ns: &Value) -> Result<Uuid, String> {
    let Value::String(ns) = ns else {
        return Ok(Uuid::nil());
    };
    match ns.as_str() {
        "dns" | "DNS" => Ok(Uuid::NAMESPACE_DNS),
        "url" | "URL" => Ok(Uuid::NAMESPACE_URL),
        "oid" | "OID" => Ok(Uuid::NAMESPACE_OID),
        "x500" | "X500" => Ok(Uuid::NAMESPACE_X500),
        other => Uuid::parse_str(other).map_err(|_| format!("invalid ns uuid: {other:?}")),
    }
}

fn uuid_v5(v: &Value, args: &[Value]) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let ns = namespace(&args[0])?;
    let name: &[u8] = match v {
        Value::String(s) => s.as_bytes(),
        Value::Bytes(b) => b,
        other => return Err(type_err("string", other)),
    };
    Ok(Value::String(Uuid::new_v5(&ns, name).to_string().into()))
}

pub(crate) fn register(env: &mut Environment) {
    env.method(
        "uuid_v5",
        "Encoding and Encryption",
        "The version 5 UUID of a string in a namespace: dns, url, oid, x500 or any UUID, the \
         nil UUID when none is given.",
        vec![opt("ns", Kind::Str, Value::Null)],
        vec![
            ex(
                r#"root.id = "example".uuid_v5()"#,
                &[("{}", r#"{"id":"feb54431-301b-52bb-a6dd-e1e93e81bb9e"}"#)],
            ),
            ex(
                r#"root.id = "example".uuid_v5("x500")"#,
                &[("{}", r#"{"id":"0cbd148f-768f-52fe-a1cd-0c4e6c65de91"}"#)],
            ),
            ex(
                r#"root.id = "example".uuid_v5("77f836b7-9f61-46c0-851e-9b6ca3535e69")"#,
                &[("{}", r#"{"id":"a0d220eb-18f1-50ca-b888-86aa5b604edf"}"#)],
            ),
        ],
        MethodImpl::Ref(uuid_v5),
    );
}

#[cfg(test)]
mod tests {

    use crate::testing::map_one as check;

    #[test]
    fn namespaces() {
        // RFC 9562's example: "www.example.com" in the DNS namespace.
        assert_eq!(
            check(r#"root = "www.example.com".uuid_v5("dns")"#, "{}").as_deref(),
            Ok("2ed6657d-e927-568b-95e1-2665a8aea6a2")
        );
        assert_eq!(
            check(r#"root = "www.example.com".uuid_v5(ns: "DNS")"#, "{}").as_deref(),
            Ok("2ed6657d-e927-568b-95e1-2665a8aea6a2")
        );
        assert_eq!(
            check(r#"root = this.a.uuid_v5("dns")"#, "{}").as_deref(),
            Ok("null")
        );
        assert_eq!(
            check(r#"root = "x".uuid_v5("nope")"#, "{}").unwrap_err(),
            r#"failed assignment (line 1): string literal: invalid ns uuid: "nope""#
        );
        assert!(check(r#"root = 5.uuid_v5()"#, "{}").is_err());
    }
}
