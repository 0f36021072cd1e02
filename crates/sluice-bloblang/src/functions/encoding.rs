//! Encoding functions: `with_schema_registry_header`.

use crate::env::{Environment, FnImpl, Kind, ex, p};
use crate::eval::{go_type_name, type_err};
use crate::value::{Num, Value};

/// Confluent's wire format: a zero magic byte and the schema id as a big-endian u32.
fn with_schema_registry_header(args: &[Value]) -> Result<Value, String> {
    let id = match args[0].as_num() {
        Some(Num::I(i)) => u32::try_from(i)
            .map_err(|_| format!("schema ID must be between 0 and {}, got {i}", u32::MAX))?,
        Some(Num::F(f)) => {
            if f < 0.0 || f > f64::from(u32::MAX) || f.fract() != 0.0 {
                return Err(format!(
                    "schema ID must be a valid integer between 0 and {}, got {f:.6}",
                    u32::MAX
                ));
            }
            f as u32
        }
        None => {
            return Err(format!(
                "schema ID must be a number, got {}",
                go_type_name(&args[0])
            ));
        }
    };
    let body: Vec<u8> = match &args[1] {
        Value::String(s) => s.clone().as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        Value::Timestamp(t) => crate::value::format_rfc3339_nano(t).into_bytes(),
        other => {
            return Err(format!(
                "message must be bytes or string: {}",
                type_err("bytes", other)
            ));
        }
    };
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(Value::Bytes(out))
}

pub(crate) fn register(env: &mut Environment) {
    env.function(
        "with_schema_registry_header",
        "Encoding",
        "Prepends the Confluent Schema Registry header (a zero byte and the schema id as four \
         big-endian bytes) to a message.",
        vec![p("schema_id", Kind::Any), p("message", Kind::Any)],
        vec![ex(
            r#"root = with_schema_registry_header(123, content()).encode("hex")"#,
            &[("hi", "000000007b6869")],
        )],
        FnImpl::Simple(with_schema_registry_header),
    );
}

#[cfg(test)]
mod tests {
    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;
    use crate::value::Metadata;

    fn check(mapping: &str, input: &str) -> Result<String, String> {
        let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
        let mut meta = Metadata::new();
        meta.insert("schema_id".into(), "7".into());
        let batch = [SimpleMessage::new(input.as_bytes().to_vec()).with_metadata(meta)];
        let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
        match out.root {
            crate::Root::Value(v) => Ok(String::from_utf8(v.to_message_bytes()).unwrap()),
            other => Err(format!("unexpected root {other:?}")),
        }
    }

    #[test]
    fn header_layout_and_id_range() {
        assert_eq!(
            check(
                r#"root = with_schema_registry_header(meta("schema_id").number(), content()).encode("hex")"#,
                "x"
            )
            .as_deref(),
            Ok("000000000778")
        );
        assert_eq!(
            check(
                r#"root = with_schema_registry_header(4294967295, "").encode("hex")"#,
                ""
            )
            .as_deref(),
            Ok("00ffffffff")
        );
        assert_eq!(
            check(r#"root = with_schema_registry_header(-1, "")"#, "").unwrap_err(),
            "failed assignment (line 1): schema ID must be between 0 and 4294967295, got -1"
        );
        assert_eq!(
            check(r#"root = with_schema_registry_header(1.5, "")"#, "").unwrap_err(),
            "failed assignment (line 1): schema ID must be a valid integer between 0 and 4294967295, got 1.500000"
        );
        assert_eq!(
            check(r#"root = with_schema_registry_header("1", "")"#, "").unwrap_err(),
            "failed assignment (line 1): schema ID must be a number, got string"
        );
        assert_eq!(
            check(r#"root = with_schema_registry_header(1, 5)"#, "").unwrap_err(),
            "failed assignment (line 1): message must be bytes or string: expected bytes value, got number (5)"
        );
    }
}
