//! JSON Schema validation with the error texts of the Go library Benthos
//! validates with (gojsonschema). Shared by the `json_schema` method and the
//! `json_schema` processor: a user's `catch` mapping and logs read these
//! texts, so they follow Benthos's wording, not the Rust crate's.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError};

use crate::value::Value;

/// A compiled schema.
pub struct JsonSchema {
    validator: jsonschema::Validator,
}

impl JsonSchema {
    /// Compiles a schema from its JSON text.
    pub fn compile(text: &str) -> Result<Self, String> {
        let schema: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
        Ok(Self { validator })
    }

    /// `Ok` when `doc` conforms; otherwise every violation, one per line,
    /// as `<field> <description>` (the field `(root)` for the document).
    pub fn validate(&self, doc: &Value) -> Result<(), String> {
        let doc: serde_json::Value =
            serde_json::from_slice(&doc.to_json_bytes()).map_err(|e| e.to_string())?;
        let lines: Vec<String> = self
            .validator
            .iter_errors(&doc)
            .map(|e| describe(&e))
            .collect();
        if lines.is_empty() {
            Ok(())
        } else {
            Err(lines.join("\n"))
        }
    }
}

/// gojsonschema's dotted field name of a JSON pointer: `/a/0` is `a.0`,
/// the empty pointer `(root)`.
fn field_of(pointer: &str) -> String {
    if pointer.is_empty() {
        return "(root)".to_owned();
    }
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The name gojsonschema gives a value's type: whole numbers are integers.
fn type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) => {
            let whole = n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0);
            if whole { "integer" } else { "number" }
        }
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn json_type_name(ty: JsonType) -> String {
    ty.to_string()
}

fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One violation as Benthos prints it: gojsonschema's description,
/// lowercased, after the field; a named property is kept in its own case.
fn describe(error: &ValidationError<'_>) -> String {
    let field = field_of(error.instance_path.as_str());
    let (description, property) = description(error, &field);
    let lowered = description.to_lowercase();
    let text = match property {
        Some(property) => {
            let rest = lowered
                .strip_prefix(&property.to_lowercase())
                .unwrap_or(&lowered);
            format!("{property}{rest}")
        }
        None => lowered,
    };
    format!("{field} {text}")
}

/// gojsonschema's description of the violation, and the property it names
/// when it names one.
fn description(error: &ValidationError<'_>, field: &str) -> (String, Option<String>) {
    use ValidationErrorKind as K;
    let text = match &error.kind {
        K::Required { property } => {
            let property = compact(property);
            return (format!("{property} is required"), Some(property));
        }
        K::AdditionalProperties { unexpected } => {
            let property = unexpected.first().cloned().unwrap_or_default();
            return (
                format!("Additional property {property} is not allowed"),
                Some(property),
            );
        }
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(ty) => json_type_name(*ty),
                TypeKind::Multiple(set) => format!(
                    "[{}]",
                    set.iter().map(json_type_name).collect::<Vec<_>>().join(",")
                ),
            };
            format!(
                "Invalid type. Expected: {expected}, given: {}",
                type_name(&error.instance)
            )
        }
        K::AnyOf { .. } => "Must validate at least one schema (anyOf)".to_owned(),
        K::OneOfNotValid { .. } | K::OneOfMultipleValid { .. } => {
            "Must validate one and only one schema (oneOf)".to_owned()
        }
        K::Not { .. } => "Must not validate the schema (not)".to_owned(),
        K::Constant { expected_value } => {
            format!("{field} does not match: {expected_value}")
        }
        K::Enum { options } => {
            let allowed = match options {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            format!("{field} must be one of the following: {allowed}")
        }
        K::AdditionalItems { .. } => "No additional items allowed on array".to_owned(),
        K::MinItems { limit } => format!("Array must have at least {limit} items"),
        K::MaxItems { limit } => format!("Array must have at most {limit} items"),
        K::UniqueItems => "array items must be unique".to_owned(),
        K::Contains => "At least one of the items must match".to_owned(),
        K::MinProperties { limit } => format!("Must have at least {limit} properties"),
        K::MaxProperties { limit } => format!("Must have at most {limit} properties"),
        K::MinLength { limit } => {
            format!("String length must be greater than or equal to {limit}")
        }
        K::MaxLength { limit } => format!("String length must be less than or equal to {limit}"),
        K::Pattern { pattern } => format!("Does not match pattern '{pattern}'"),
        K::Format { format } => format!("Does not match format '{format}'"),
        K::MultipleOf { multiple_of } => format!("Must be a multiple of {multiple_of}"),
        K::Minimum { limit } => format!("Must be greater than or equal to {limit}"),
        K::ExclusiveMinimum { limit } => format!("Must be greater than {limit}"),
        K::Maximum { limit } => format!("Must be less than or equal to {limit}"),
        K::ExclusiveMaximum { limit } => format!("Must be less than {limit}"),
        K::FalseSchema => "False always fails validation".to_owned(),
        // Keywords gojsonschema does not know (it implements drafts 4 to 7)
        // keep the Rust crate's own wording.
        _ => error.to_string(),
    };
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(schema: &str, doc: &str) -> Result<(), String> {
        JsonSchema::compile(schema)
            .expect("schema compiles")
            .validate(&Value::from_json_bytes(doc.as_bytes()).expect("valid JSON"))
    }

    const PERSON: &str = r#"{
        "type": "object",
        "properties": {
            "firstName": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "addresses": {"type": "array", "items": {
                "type": "object", "required": ["cityName"],
                "properties": {"cityName": {"type": "string"}}
            }}
        },
        "required": ["firstName"]
    }"#;

    #[test]
    fn a_conforming_document_passes() {
        assert_eq!(check(PERSON, r#"{"firstName":"Ada","age":36}"#), Ok(()));
    }

    #[test]
    fn violations_read_as_benthos_prints_them() {
        assert_eq!(
            check(PERSON, r#"{"firstName":"Ada","age":-5}"#).unwrap_err(),
            "age must be greater than or equal to 0"
        );
        assert_eq!(
            check(
                PERSON,
                r#"{"firstName":"Ada","addresses":[{"street":"x"}]}"#
            )
            .unwrap_err(),
            "addresses.0 cityName is required"
        );
        assert_eq!(
            check(PERSON, r#"{"age":1}"#).unwrap_err(),
            "(root) firstName is required"
        );
        assert_eq!(
            check(PERSON, r#"{"firstName":5}"#).unwrap_err(),
            "firstName invalid type. expected: string, given: integer"
        );
    }

    #[test]
    fn several_violations_are_one_per_line() {
        let err = check(PERSON, r#"{"age":1.5}"#).unwrap_err();
        let mut lines: Vec<&str> = err.lines().collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            [
                "(root) firstName is required",
                "age invalid type. expected: integer, given: number"
            ]
        );
    }

    #[test]
    fn a_broken_schema_is_an_error() {
        assert!(JsonSchema::compile("{not json").is_err());
        assert!(JsonSchema::compile(r#"{"type": 5}"#).is_err());
    }
}
