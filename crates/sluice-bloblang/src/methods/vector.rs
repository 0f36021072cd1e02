//! `vector`: an array of numbers as the 32-bit float vector SQL embedding columns take.

use crate::env::{Environment, MethodImpl, ex};
use crate::eval::type_err;
use crate::value::Value;

/// Benthos hands SQL drivers an opaque vector of `float32`; with no such type here the
/// result is the array of its elements narrowed to 32-bit precision, which is what a driver
/// would write.
fn vector(v: &Value, _: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(type_err("array", v));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(n) = item.as_num() else {
            return Err(format!(
                "could not convert value at index {i} to float32: {}",
                type_err("number", item)
            ));
        };
        out.push(Value::Float(f64::from(n.as_f64() as f32)));
    }
    Ok(Value::Array(out))
}

pub(crate) fn register(env: &mut Environment) {
    env.method(
        "vector",
        "SQL",
        "Converts an array of numbers into a vector of 32-bit floats for SQL columns of \
         embeddings (pgvector).",
        vec![],
        vec![ex(
            "root.embedding = this.embeddings.vector()",
            &[(
                r#"{"embeddings":[1,0.5,-2]}"#,
                r#"{"embedding":[1,0.5,-2]}"#,
            )],
        )],
        MethodImpl::Ref(vector),
    );
}

#[cfg(test)]
mod tests {

    use crate::testing::map_one as check;

    #[test]
    fn elements_narrow_to_f32() {
        assert_eq!(
            check("root = this.vector()", "[0.1, 3]").as_deref(),
            Ok("[0.10000000149011612,3]")
        );
        // The documented example: numbers mapped first, then the vector.
        assert_eq!(
            check(
                "root.vector_embedding = this.model_output.map_each(num -> num.number()).vector()",
                r#"{"model_output":["1.5","2"]}"#
            )
            .as_deref(),
            Ok(r#"{"vector_embedding":[1.5,2]}"#)
        );
        assert_eq!(
            check("root = this.vector()", r#"[1,"a"]"#).unwrap_err(),
            "failed assignment (line 1): could not convert value at index 1 to float32: expected number value, got string (\"a\")"
        );
        assert!(check("root = this.vector()", "5").is_err());
    }
}
