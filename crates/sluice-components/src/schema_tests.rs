//! The registry's config schemas and the config loader agree: every field a
//! schema lists is accepted by the component's deserialiser, and a field no
//! schema lists is refused by both.

use serde_json::{Map, Value};
use sluice_core::config::json_schema::config_schema;
use sluice_core::config::{ComponentKind, Lint, Node};
use sluice_core::environment::{Builder, Environment, Resources};

fn environment() -> Environment {
    let mut env = Environment::default();
    crate::register_all(&mut env);
    env
}

/// Follows `$ref` and one-element `allOf` wrappers inside the definitions.
fn resolve<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return definitions
            .get(name)
            .map_or(schema, |d| resolve(d, definitions));
    }
    if let Some([inner]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return resolve(inner, definitions);
    }
    schema
}

/// A value the schema accepts: the default where there is one, else a
/// well-typed sample with every property filled in.
fn sample(schema: &Value, definitions: &Map<String, Value>) -> Value {
    let schema = resolve(schema, definitions);
    if let Some(default) = schema.get("default").filter(|d| !d.is_null()) {
        return default.clone();
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        return Value::Object(
            properties
                .iter()
                .map(|(name, field)| (name.clone(), sample(field, definitions)))
                .collect(),
        );
    }
    if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) {
        let typed = alternatives
            .iter()
            .find(|alt| alt.get("type").is_none_or(|t| t != "null"));
        return typed.map_or(Value::Null, |alt| sample(alt, definitions));
    }
    let kind = schema.get("x-sluice-kind").and_then(Value::as_str);
    let first_type = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.first().and_then(Value::as_str).unwrap_or("null"),
        _ => "null",
    };
    match (kind, first_type) {
        (Some("duration"), _) => Value::from("1s"),
        (Some("bloblang"), _) => Value::from("root = this"),
        (_, "string") => Value::from("x"),
        (_, "integer" | "number") => Value::from(1),
        (_, "boolean") => Value::Bool(false),
        (_, "array") => Value::Array(Vec::new()),
        (_, "object") => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

/// Builds a `kind` node `{name: config}` and returns its lints.
fn build(env: &Environment, kind: ComponentKind, name: &str, config: &Value) -> Vec<Lint> {
    let text = serde_json::json!({ name: config }).to_string();
    let node = Node::parse(&text).expect("JSON is YAML");
    let resources = Resources::for_dry_run(Default::default());
    let mut builder = Builder::new(env, &resources);
    let result = match kind {
        ComponentKind::Input => builder.input(&node).map(|_| ()),
        ComponentKind::Processor => builder.processor(&node).map(|_| ()),
        ComponentKind::Output => builder.output(&node).map(|_| ()),
        ComponentKind::Buffer => builder.buffer(&node).map(|_| ()),
        _ => builder.rate_limit(&node).map(|_| ()),
    };
    result.err().unwrap_or_default()
}

fn refused(lints: &[Lint], field: &str) -> bool {
    lints.iter().any(|lint| {
        lint.message
            .contains(&format!("field {field} not recognised"))
            || lint.message.contains(&format!("unknown field `{field}`"))
    })
}

#[test]
fn every_schema_field_is_accepted_and_no_other() {
    let env = environment();
    let schema = config_schema(&env);
    let definitions = schema["definitions"].as_object().expect("definitions");
    let mut checked = 0;
    for kind in [
        ComponentKind::Input,
        ComponentKind::Processor,
        ComponentKind::Output,
        ComponentKind::RateLimit,
        ComponentKind::Buffer,
    ] {
        let alternatives = definitions[kind.as_str()]["anyOf"]
            .as_array()
            .expect("anyOf");
        for alternative in alternatives {
            // The older `type:` form of each component has the same config.
            if alternative["required"] == serde_json::json!(["type"]) {
                continue;
            }
            let name = alternative["title"].as_str().expect("title");
            let config = resolve(&definitions[&format!("{kind}.{name}")], definitions);
            let Some(properties) = config.get("properties").and_then(Value::as_object) else {
                continue;
            };
            let full = sample(config, definitions);
            let lints = build(&env, kind, name, &full);
            for field in properties.keys() {
                assert!(
                    !refused(&lints, field),
                    "{kind} {name}: schema field {field} is refused: {lints:?}"
                );
            }
            // sync_response (output) runs nested processors and warns about
            // other fields rather than refusing them (decision 12.2); its
            // schema lists none, which flags them in an editor.
            if (kind, name) == (ComponentKind::Output, "sync_response") {
                continue;
            }
            let mut extra = full.as_object().cloned().unwrap_or_default();
            extra.insert("nonsuch_field".into(), Value::from(1));
            let lints = build(&env, kind, name, &Value::Object(extra));
            assert!(
                refused(&lints, "nonsuch_field"),
                "{kind} {name}: a field outside the schema is accepted: {lints:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} components have fields");
}
