//! JSON Schema of the config language: hand-written schemas for the config
//! types a derive cannot describe (durations, Bloblang text, nested component
//! nodes), and the schema of a whole config file built from the registry.
//!
//! Component configs derive [`JsonSchema`]; doc comments become descriptions
//! and serde attributes (defaults, renames, `deny_unknown_fields`) shape the
//! schema, so it describes exactly what the deserialiser accepts.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use super::{ComponentKind, Config, GoDuration};
use crate::environment::{ComponentSpec, Environment};

/// Builds the schema of a component's config from the generator; stored in
/// every [`ComponentSpec`].
pub type ConfigSchema = fn(&mut SchemaGenerator) -> Schema;

/// The [`ConfigSchema`] of a config type that derives [`JsonSchema`].
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    T::json_schema(generator)
}

/// The keyword naming what a string means beyond its JSON type (read by the
/// docs generator; validators ignore unknown keywords).
pub const KIND_KEYWORD: &str = "x-sluice-kind";

/// A `$ref` to `name` in the generator's definitions.
fn definition_ref(generator: &SchemaGenerator, name: &str) -> Schema {
    let path = generator.settings().definitions_path.trim_end_matches('/');
    Schema::new_ref(format!("#{path}/{name}"))
}

/// Declares a marker type whose schema is a reference to one of the
/// component-kind definitions added by [`config_schema`].
macro_rules! component_marker {
    ($(#[$doc:meta])* $name:ident => $definition:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                definition_ref(generator, $definition)
            }
        }
    };
}

component_marker!(
    /// Schema of a nested input node (`broker.inputs[]`).
    InputNode => "input"
);
component_marker!(
    /// Schema of a nested processor node (`pipeline.processors[]`, `catch[]`).
    ProcessorNode => "processor"
);
component_marker!(
    /// Schema of a nested output node (`broker.outputs[]`).
    OutputNode => "output"
);
component_marker!(
    /// Schema of a rate limit resource node.
    RateLimitNode => "rate_limit"
);
component_marker!(
    /// Schema of a cache resource node.
    CacheNode => "cache"
);
component_marker!(
    /// Schema of the `buffer` section.
    BufferNode => "buffer"
);

/// Declares a marker type for a string with a meaning of its own.
macro_rules! string_marker {
    ($(#[$doc:meta])* $name:ident => $kind:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", KIND_KEYWORD: $kind })
            }
        }
    };
}

string_marker!(
    /// Schema of a Bloblang mapping, parsed when the component is built.
    MappingText => "bloblang"
);
string_marker!(
    /// Schema of a string that may hold `${! ... }` interpolation functions.
    InterpolatedString => "interpolated"
);

/// Schema of a component config that is free-form because sluice does not
/// type it (kinds it has no registry for, such as caches and metrics).
pub struct AnyObject;

impl JsonSchema for AnyObject {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("AnyObject")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["object", "null"] })
    }
}

/// The config of a component without fields (`drop: {}`): deserialising it
/// refuses every field, and its schema lists none.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

impl JsonSchema for NoFields {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("NoFields")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["object", "null"], "properties": {}, "additionalProperties": false })
    }
}

/// `schema` with a description, for component configs that are a bare value
/// (a mapping string, a list of processors) rather than a documented struct.
pub fn described(mut schema: Schema, description: &str) -> Schema {
    schema.insert("description".into(), description.into());
    schema
}

/// Removes `fields` from the properties of an object schema: for config
/// structs shared by two components where one of them refuses some fields.
pub fn without_properties(mut schema: Schema, fields: &[&str]) -> Schema {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for field in fields {
            properties.remove(*field);
        }
    }
    schema
}

impl JsonSchema for GoDuration {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Duration")
    }

    // Go duration strings ("5s", "1m30s"); of bare numbers only 0 parses,
    // so the schema asks for a string.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", KIND_KEYWORD: "duration" })
    }
}

/// The settings every sluice schema is generated with: draft-07, which the
/// YAML language server and most editors handle best.
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft07().into_generator()
}

/// The definition name of a component's own config, e.g. `input.http_server`.
pub fn component_definition(kind: ComponentKind, name: &str) -> String {
    format!("{}.{name}", kind.as_str())
}

/// The schema of a whole config file: the top-level sections, with every
/// input, processor, output and rate limit node one of the components
/// registered in `env`.
pub fn config_schema(env: &Environment) -> Value {
    config_schema_where(env, |_, _| true)
}

/// [`config_schema`] with only the components `keep` selects.
pub fn config_schema_where(env: &Environment, keep: impl Fn(ComponentKind, &str) -> bool) -> Value {
    let mut generator = generator();
    add_component_definitions(&mut generator, env, keep);
    let mut schema = generator.into_root_schema_for::<Config>();
    let object = schema.ensure_object();
    object.insert("title".into(), "sluice config".into());
    let mut schema = schema.to_value();
    accept_scalars_as_strings(&mut schema);
    drop_integer_formats(&mut schema);
    schema
}

/// schemars marks Rust integer widths with formats such as `uint64` that
/// no JSON Schema tool knows (strict validators reject them); the minimum
/// already says what matters.
fn drop_integer_formats(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let integer_format = map.get("format").and_then(Value::as_str).is_some_and(|f| {
                matches!(
                    f,
                    "int"
                        | "int8"
                        | "int16"
                        | "int32"
                        | "int64"
                        | "uint"
                        | "uint8"
                        | "uint16"
                        | "uint32"
                        | "uint64"
                        | "float"
                        | "double"
                )
            });
            if integer_format {
                map.remove("format");
            }
            map.values_mut().for_each(drop_integer_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_integer_formats),
        _ => {}
    }
}

/// The loader reads any YAML scalar into a string field (`status: 201`,
/// `path: 123`), as Benthos does; plain and interpolated string fields say
/// so, so an editor does not flag them. Durations and mappings stay strict.
fn accept_scalars_as_strings(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let plain_string = map.get("type").is_some_and(|t| t == "string")
                && map
                    .get(KIND_KEYWORD)
                    .is_none_or(|kind| kind == "interpolated");
            if plain_string {
                map.insert(
                    "type".into(),
                    serde_json::json!(["string", "number", "boolean"]),
                );
            }
            map.values_mut().for_each(accept_scalars_as_strings);
        }
        Value::Array(items) => items.iter_mut().for_each(accept_scalars_as_strings),
        _ => {}
    }
}

/// Adds one definition per component kind (`input`, `processor`, ...) that
/// accepts a node of any of the components `keep` selects, and one
/// definition per component config (`input.http_server`).
pub fn add_component_definitions(
    generator: &mut SchemaGenerator,
    env: &Environment,
    keep: impl Fn(ComponentKind, &str) -> bool,
) {
    let inputs: Vec<_> = env.inputs().collect();
    let processors: Vec<_> = env.processors().collect();
    let outputs: Vec<_> = env.outputs().collect();
    let rate_limits: Vec<_> = env.rate_limits().collect();
    let caches: Vec<_> = env.caches().collect();
    let buffers: Vec<_> = env.buffers().collect();
    add_specs(generator, ComponentKind::Input, &inputs, &keep);
    add_specs(generator, ComponentKind::Processor, &processors, &keep);
    add_specs(generator, ComponentKind::Output, &outputs, &keep);
    add_specs(generator, ComponentKind::RateLimit, &rate_limits, &keep);
    add_specs(generator, ComponentKind::Cache, &caches, &keep);
    add_specs(generator, ComponentKind::Buffer, &buffers, &keep);
}

fn add_specs<B>(
    generator: &mut SchemaGenerator,
    kind: ComponentKind,
    specs: &[&ComponentSpec<B>],
    keep: &dyn Fn(ComponentKind, &str) -> bool,
) {
    let mut alternatives = Vec::new();
    for spec in specs.iter().filter(|spec| keep(kind, spec.name)) {
        let config = (spec.config_schema)(generator).to_value();
        let name = component_definition(kind, spec.name);
        generator
            .definitions_mut()
            .insert(name.clone(), config.clone());
        let node = component_node(generator, kind, spec, &name, &config);
        alternatives.push(legacy_component_node(spec.name, &node));
        alternatives.push(node);
    }
    let description = format!("One {kind} component: exactly one of the component keys below.");
    generator.definitions_mut().insert(
        kind.as_str().to_owned(),
        serde_json::json!({ "description": description, "anyOf": alternatives }),
    );
}

/// The legacy form of a component node, `type: <name>` with the config
/// under `<name>` (optional, all defaults when absent): the same properties
/// as `node` plus `type`, which is what it requires instead.
fn legacy_component_node(name: &str, node: &Value) -> Value {
    let mut legacy = node.clone();
    if let Some(object) = legacy.as_object_mut() {
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert(
                "type".into(),
                serde_json::json!({
                    "const": name,
                    "description": "The component type (the older form of naming it)."
                }),
            );
        }
        object.insert("required".into(), serde_json::json!(["type"]));
        object.insert("title".into(), format!("{name} (type: form)").into());
    }
    legacy
}

/// The schema of a node holding `spec`: its type key (whose config may be
/// null when nothing in it is required) plus `label` and, for inputs and
/// outputs, `processors`.
fn component_node<B>(
    generator: &SchemaGenerator,
    kind: ComponentKind,
    spec: &ComponentSpec<B>,
    definition: &str,
    config: &Value,
) -> Value {
    let reference = definition_ref(generator, definition).to_value();
    let required_fields = config
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    let accepts_null = config.get("type").is_some_and(|t| {
        t == "null"
            || t.as_array()
                .is_some_and(|types| types.contains(&"null".into()))
    });
    let is_object = config.get("type").is_some_and(|t| t == "object");
    let value = if is_object && !required_fields && !accepts_null {
        serde_json::json!({ "anyOf": [{ "type": "null" }, reference] })
    } else {
        reference
    };
    let mut properties = Map::new();
    properties.insert(spec.name.to_owned(), value);
    if kind.has_label() {
        properties.insert(
            "label".into(),
            serde_json::json!({
                "type": "string",
                "description": "A name for the component, used in logs and metrics.",
                "pattern": "^$|^[a-z0-9][a-z0-9_]*$"
            }),
        );
    }
    if kind.has_processors() {
        let processor = definition_ref(generator, "processor").to_value();
        properties.insert(
            "processors".into(),
            serde_json::json!({
                "type": "array",
                "description": format!("Processors applied to messages of this {kind} only."),
                "items": processor
            }),
        );
    }
    serde_json::json!({
        "type": "object",
        "title": spec.name,
        "description": spec.summary,
        "properties": properties,
        "required": [spec.name],
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::config::Node;
    use crate::environment::{BuildResult, Builder, Status};

    /// A config with a required field, a default and nested processors.
    #[derive(JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct ThingConfig {
        /// Where to go.
        path: String,
        /// How long to wait.
        #[serde(default = "default_wait")]
        wait: GoDuration,
        /// Processors to run.
        #[serde(default)]
        #[schemars(with = "Vec<ProcessorNode>")]
        steps: Vec<Node>,
    }

    fn default_wait() -> GoDuration {
        GoDuration::from_secs(5)
    }

    fn refuse(
        _: &Node,
        _: &mut Builder<'_>,
    ) -> BuildResult<Box<dyn crate::component::input::Input>> {
        Err(Vec::new())
    }

    fn environment() -> Environment {
        let mut env = Environment::default();
        env.add_input(ComponentSpec {
            name: "thing",
            status: Status::Beta,
            summary: "A thing.",
            build: refuse,
            config_schema: schema_of::<ThingConfig>,
        });
        env.add_input(ComponentSpec {
            name: "nothing",
            status: Status::Stable,
            summary: "Nothing.",
            build: refuse,
            config_schema: schema_of::<NoFields>,
        });
        env
    }

    #[test]
    fn components_become_alternatives_with_their_config_definitions() {
        let schema = config_schema(&environment());
        let definitions = &schema["definitions"];
        let thing = serde_json::to_string_pretty(&definitions["input.thing"]).unwrap();
        expect![[r##"
            {
              "additionalProperties": false,
              "description": "A config with a required field, a default and nested processors.",
              "properties": {
                "path": {
                  "description": "Where to go.",
                  "type": [
                    "string",
                    "number",
                    "boolean"
                  ]
                },
                "steps": {
                  "default": [],
                  "description": "Processors to run.",
                  "items": {
                    "$ref": "#/definitions/processor"
                  },
                  "type": "array"
                },
                "wait": {
                  "default": "5s",
                  "description": "How long to wait.",
                  "type": "string",
                  "x-sluice-kind": "duration"
                }
              },
              "required": [
                "path"
              ],
              "type": "object"
            }"##]]
        .assert_eq(&thing);
        let alternatives = definitions["input"]["anyOf"].as_array().unwrap();
        let titles: Vec<&str> = alternatives
            .iter()
            .filter_map(|a| a["title"].as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "nothing (type: form)",
                "nothing",
                "thing (type: form)",
                "thing"
            ]
        );
        let by_title = |title: &str| {
            alternatives
                .iter()
                .find(|a| a["title"] == title)
                .unwrap_or_else(|| panic!("no alternative {title}"))
        };
        // A config with nothing required may be null (`nothing: ~`); one
        // with a required field may not.
        assert_eq!(
            by_title("nothing")["properties"]["nothing"],
            serde_json::json!({ "$ref": "#/definitions/input.nothing" })
        );
        let thing = by_title("thing");
        assert_eq!(
            thing["properties"]["thing"],
            serde_json::json!({ "$ref": "#/definitions/input.thing" })
        );
        assert_eq!(thing["required"], serde_json::json!(["thing"]));
        assert_eq!(thing["additionalProperties"], false);
        assert!(thing["properties"]["processors"].is_object());
        // The older form names the type under `type` and needs nothing else.
        let legacy = by_title("thing (type: form)");
        assert_eq!(legacy["required"], serde_json::json!(["type"]));
        assert_eq!(legacy["properties"]["type"]["const"], "thing");
        assert_eq!(legacy["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["input"]["default"],
            serde_json::json!({ "stdin": {} })
        );
    }
}
