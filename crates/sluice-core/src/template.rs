//! Config templates (`-t`): components defined in YAML by a list of fields
//! and a Bloblang mapping that turns those fields into the config of an
//! existing component, as Benthos's templates do.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map as JsonMap, Value as Json};
use sluice_bloblang::{Mapping, Root, SimpleMessage};

use crate::config::with_suggestion;
use crate::config::{self, ComponentKind, Lint, Mark, Node, NodeKind};
use crate::environment::{BuildResult, Status};

/// A template file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // documentation only
    categories: Vec<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    fields: Vec<FieldFile>,
    mapping: Node,
    #[serde(default)]
    metrics_mapping: Option<Node>,
    #[serde(default)]
    tests: Vec<TestFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "type")]
    field_type: Option<Node>,
    #[serde(default)]
    kind: Option<Node>,
    #[serde(default)]
    default: Option<Node>,
    #[serde(default)]
    advanced: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    name: String,
    #[serde(default)]
    label: String,
    config: Node,
    #[serde(default)]
    expected: Option<Node>,
}

/// The scalar type of a template field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldType {
    String,
    Int,
    Float,
    Bool,
    /// A Bloblang mapping, kept as a string.
    Bloblang,
    /// Any config at all, passed through as it is.
    Unknown,
}

impl FieldType {
    fn parse(text: &str) -> Option<FieldType> {
        Some(match text {
            "string" => FieldType::String,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" => FieldType::Bool,
            "bloblang" => FieldType::Bloblang,
            "unknown" => FieldType::Unknown,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            FieldType::String | FieldType::Bloblang => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Unknown => "unknown",
        }
    }
}

/// Whether a field holds one value, a list or a map of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldKind {
    Scalar,
    List,
    Map,
}

/// One field of a template.
#[derive(Debug)]
pub struct TemplateField {
    /// The key users write.
    pub name: String,
    /// What the field means.
    pub description: String,
    field_type: FieldType,
    kind: FieldKind,
    default: Option<Node>,
    /// Whether the docs should list it as advanced.
    pub advanced: bool,
}

/// A unit test of a template: the config it is used with, and optionally
/// the config it must render to.
pub struct TemplateTest {
    /// The test's name.
    pub name: String,
    /// The label the template is used with.
    pub label: String,
    /// The template's config in the test.
    pub config: Node,
    /// The rendered config the test expects, if given.
    pub expected: Option<Node>,
}

/// A compiled template: a component type of its own.
pub struct Template {
    name: &'static str,
    kind: ComponentKind,
    /// How mature the template says it is.
    pub status: Status,
    /// Its one-line summary.
    pub summary: String,
    /// Its longer description.
    pub description: String,
    /// Its fields, in order.
    pub fields: Vec<TemplateField>,
    mapping: Mapping,
    /// The unit tests the file carries.
    pub tests: Vec<TemplateTest>,
}

impl Template {
    /// Parses a template file's text. Relative imports in the mapping resolve
    /// against `dir`. Problems come back positioned in the file.
    pub fn parse(text: &str, dir: Option<&Path>) -> Result<Template, Vec<Lint>> {
        let root = Node::parse(text).map_err(|lint| vec![lint])?;
        let file: TemplateFile = config::from_node_all(&root)?;
        let mut lints = Vec::new();
        let kind = match file.kind.as_str() {
            "input" => Some(ComponentKind::Input),
            "processor" => Some(ComponentKind::Processor),
            "output" => Some(ComponentKind::Output),
            "rate_limit" => Some(ComponentKind::RateLimit),
            "cache" => {
                lints.push(field_lint(
                    &root,
                    "type",
                    "cache templates are not supported yet",
                ));
                None
            }
            other => {
                let message = format!(
                    "template type '{other}' was not recognised, expected one of input, processor, output, rate_limit or cache"
                );
                lints.push(field_lint(&root, "type", message));
                None
            }
        };
        let status = match file.status.as_deref() {
            None | Some("" | "stable") => Status::Stable,
            Some("beta") => Status::Beta,
            Some("experimental") => Status::Experimental,
            Some(other) => {
                let message = format!(
                    "status '{other}' was not recognised, expected stable, beta or experimental"
                );
                lints.push(field_lint(&root, "status", message));
                Status::Stable
            }
        };
        if file.name.is_empty() {
            lints.push(field_lint(&root, "name", "a template needs a name"));
        }
        if let Some(metrics_mapping) = &file.metrics_mapping
            && metrics_mapping
                .as_str()
                .is_some_and(|text| !text.trim().is_empty())
        {
            lints.push(Lint::error(
                metrics_mapping.mark,
                "metrics_mapping in templates is not supported yet",
            ));
        }
        let mut fields = Vec::with_capacity(file.fields.len());
        for (index, field) in file.fields.into_iter().enumerate() {
            match compile_field(field, index) {
                Ok(field) => fields.push(field),
                Err(lint) => lints.push(lint),
            }
        }
        let mapping = match file.mapping.as_str() {
            Some(text) => Mapping::parse_in(text, dir).map_err(|err| {
                let at = file.mapping.content_position(err.line(), err.column());
                Lint::error(at, format!("failed to parse mapping: {err}"))
            }),
            None => Err(Lint::error(file.mapping.mark, "expected string value")),
        };
        let mapping = mapping.map_err(|lint| lints.push(lint));
        let (Some(kind), Ok(mapping), true) = (kind, mapping, lints.is_empty()) else {
            return Err(lints);
        };
        let tests = file
            .tests
            .into_iter()
            .map(|t| TemplateTest {
                name: t.name,
                label: t.label,
                config: t.config,
                expected: t.expected,
            })
            .collect();
        Ok(Template {
            // Component names are `&'static str` throughout the registry;
            // a name is kept once however often its template is loaded.
            name: crate::intern::intern(&file.name),
            kind,
            status,
            summary: file.summary,
            description: file.description,
            fields,
            mapping,
            tests,
        })
    }

    /// The component type name the template defines.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The kind of component it defines.
    pub fn kind(&self) -> ComponentKind {
        self.kind
    }

    /// Renders the component config for one use of the template: `config` is
    /// the node under the template's name (null means all defaults) and
    /// `usage` where the template is named. Every node of the result is
    /// marked at `usage`, since it comes from no line of the file.
    pub fn render(&self, config: &Node, usage: Mark) -> BuildResult<Node> {
        let input = self.field_values(config, usage)?;
        let rendered = self.render_json(&input).map_err(|message| {
            vec![Lint::error(
                usage,
                format!("template {}: {message}", self.name),
            )]
        })?;
        // Every node comes from no line of the file: mark it at the use.
        let mut node = Node::from_json(&rendered);
        remark(&mut node, usage);
        Ok(node)
    }

    /// Runs the mapping over the field values; the config it produces as
    /// JSON.
    pub fn render_json(&self, input: &Json) -> Result<Json, String> {
        let message = SimpleMessage::new(serde_json::to_vec(input).unwrap_or_default());
        let output = self
            .mapping
            .exec(std::slice::from_ref(&message), 0)
            .map_err(|err| format!("mapping failed: {err}"))?;
        let bytes = match output.root {
            Root::Value(value) => value.to_json_bytes(),
            Root::Nothing => return Ok(input.clone()),
            Root::Deleted => return Err("mapping deleted the config".to_owned()),
        };
        serde_json::from_slice(&bytes)
            .map_err(|err| format!("mapping produced invalid config: {err}"))
    }

    /// The template's config as the mapping sees it: each field checked
    /// against its type, absent fields given their default.
    pub fn field_values(&self, config: &Node, usage: Mark) -> BuildResult<Json> {
        let entries: &[(Node, Node)] = match &config.kind {
            NodeKind::Map(entries) => entries,
            _ if config.is_null() => &[],
            _ => {
                let message = format!("expected object value, got {}", config.short_tag());
                return Err(vec![Lint::error(config.mark, message)]);
            }
        };
        let mut lints = Vec::new();
        for (key, _) in entries {
            let key_text = key.as_str().unwrap_or_default();
            if !self.fields.iter().any(|f| f.name == key_text) {
                let names = self.fields.iter().map(|f| f.name.as_str());
                let message =
                    with_suggestion(format!("field {key_text} not recognised"), key_text, names);
                lints.push(Lint::error(Mark::new(key.mark.line, 1), message));
            }
        }
        let mut values = JsonMap::new();
        for field in &self.fields {
            let given = entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(field.name.as_str()))
                .map(|(_, v)| v);
            match given.or(field.default.as_ref()) {
                Some(node) => match field.value(node) {
                    Ok(value) => {
                        values.insert(field.name.clone(), value);
                    }
                    Err(message) => {
                        let at = if given.is_some() { node.mark } else { usage };
                        lints.push(Lint::error(at, format!("field {}: {message}", field.name)));
                    }
                },
                None => {
                    let at = if config.mark.line > 0 {
                        config.mark
                    } else {
                        usage
                    };
                    lints.push(Lint::error(at, format!("field {} is required", field.name)));
                }
            }
        }
        if lints.is_empty() {
            Ok(Json::Object(values))
        } else {
            Err(lints)
        }
    }
}

impl TemplateField {
    /// The field's value as the mapping sees it, or why it does not fit.
    fn value(&self, node: &Node) -> Result<Json, String> {
        match self.kind {
            FieldKind::Scalar => scalar_value(self.field_type, node),
            FieldKind::List => match &node.kind {
                NodeKind::Seq(items) => items
                    .iter()
                    .map(|item| scalar_value(self.field_type, item))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Json::Array),
                _ if node.is_null() => Ok(Json::Array(Vec::new())),
                _ => Err(format!("expected array value, got {}", node.short_tag())),
            },
            FieldKind::Map => match &node.kind {
                NodeKind::Map(entries) => entries
                    .iter()
                    .map(|(k, v)| {
                        let key = k.as_str().unwrap_or_default().to_owned();
                        scalar_value(self.field_type, v).map(|value| (key, value))
                    })
                    .collect::<Result<JsonMap<_, _>, _>>()
                    .map(Json::Object),
                _ if node.is_null() => Ok(Json::Object(JsonMap::new())),
                _ => Err(format!("expected object value, got {}", node.short_tag())),
            },
        }
    }
}

fn compile_field(field: FieldFile, index: usize) -> Result<TemplateField, Lint> {
    let type_text = field.field_type.as_ref().and_then(Node::as_str);
    let field_type = match (type_text, &field.field_type) {
        (Some(text), Some(node)) => FieldType::parse(text).ok_or_else(|| {
            Lint::error(
                node.mark,
                format!(
                    "field {index}: type '{text}' was not recognised, expected one of string, int, float, bool, bloblang or unknown"
                ),
            )
        })?,
        (_, Some(node)) => return Err(Lint::error(node.mark, "expected string value")),
        (_, None) => {
            return Err(Lint::error(
                Mark::default(),
                format!("field {index} ({}): missing type field", field.name),
            ));
        }
    };
    let kind = match &field.kind {
        None => FieldKind::Scalar,
        Some(node) => match node.as_str() {
            Some("scalar" | "") => FieldKind::Scalar,
            Some("list") => FieldKind::List,
            Some("map") => FieldKind::Map,
            _ => {
                return Err(Lint::error(
                    node.mark,
                    format!(
                        "field {index}: kind '{}' was not recognised, expected scalar, list or map",
                        node.as_str().unwrap_or_default()
                    ),
                ));
            }
        },
    };
    let compiled = TemplateField {
        name: field.name,
        description: field.description,
        field_type,
        kind,
        default: field.default,
        advanced: field.advanced,
    };
    if let Some(default) = &compiled.default
        && let Err(message) = compiled.value(default)
    {
        return Err(Lint::error(
            default.mark,
            format!("field {}: default: {message}", compiled.name),
        ));
    }
    Ok(compiled)
}

/// One value of a field's type, from its YAML node.
fn scalar_value(field_type: FieldType, node: &Node) -> Result<Json, String> {
    if field_type == FieldType::Unknown {
        return Ok(node.to_json());
    }
    let text = match &node.kind {
        NodeKind::Scalar(text, _) if !node.is_null() => text.as_str(),
        _ => {
            return Err(format!(
                "expected {} value, got {}",
                field_type.as_str(),
                node.short_tag()
            ));
        }
    };
    let mismatch = || format!("expected {} value, got {text:?}", field_type.as_str());
    match field_type {
        FieldType::String | FieldType::Bloblang | FieldType::Unknown => {
            Ok(Json::String(text.to_owned()))
        }
        FieldType::Int => text.parse::<i64>().map(Json::from).map_err(|_| mismatch()),
        FieldType::Float => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .ok_or_else(mismatch),
        FieldType::Bool => match text {
            "true" | "True" | "TRUE" => Ok(Json::Bool(true)),
            "false" | "False" | "FALSE" => Ok(Json::Bool(false)),
            _ => Err(mismatch()),
        },
    }
}

/// The lint for a top-level key of a template file, at its line.
fn field_lint(root: &Node, key: &str, message: impl Into<String>) -> Lint {
    let mark = root
        .as_map()
        .and_then(|entries| entries.iter().find(|(k, _)| k.as_str() == Some(key)))
        .map_or(Mark::default(), |(k, _)| Mark::new(k.mark.line, 1));
    Lint::error(mark, message)
}

/// Marks every node of `node` at `mark`.
fn remark(node: &mut Node, mark: Mark) {
    node.mark = mark;
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(|item| remark(item, mark)),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            remark(k, mark);
            remark(v, mark);
        }),
        NodeKind::Null | NodeKind::Scalar(..) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST_TEMPLATE: &str = r#"
name: upper_list
type: processor
fields:
  - name: prefix
    type: string
    default: "> "
  - name: count
    type: int
  - name: tags
    type: string
    kind: list
    default: []
mapping: |
  root.mapping = "root = \"%s\" + content().string().uppercase() + \" x%d\"".format(this.prefix, this.count)
"#;

    #[test]
    fn renders_fields_with_defaults_through_the_mapping() {
        let template = Template::parse(LIST_TEMPLATE, None).unwrap_or_else(|l| panic!("{l:?}"));
        assert_eq!(template.name(), "upper_list");
        let config = Node::parse("count: 3").unwrap();
        let node = template.render(&config, Mark::new(7, 5)).unwrap();
        assert_eq!(
            node.to_json(),
            serde_json::json!({"mapping": "root = \"> \" + content().string().uppercase() + \" x3\""})
        );
        assert_eq!(node.mark, Mark::new(7, 5));
    }

    #[test]
    fn a_missing_required_field_and_a_wrong_type_are_lints() {
        let template = Template::parse(LIST_TEMPLATE, None).unwrap();
        let lints = template
            .render(&Node::parse("{}").unwrap(), Mark::new(4, 3))
            .unwrap_err();
        assert_eq!(lints[0].message, "field count is required");
        let lints = template
            .render(
                &Node::parse("count: many\ncolour: red").unwrap(),
                Mark::new(4, 3),
            )
            .unwrap_err();
        let messages: Vec<&str> = lints.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "field colour not recognised",
                "field count: expected int value, got \"many\""
            ]
        );
        assert_eq!((lints[0].line, lints[1].line), (2, 1));
    }

    #[test]
    fn a_broken_template_file_names_its_lines() {
        let Err(lints) = Template::parse(
            "name: x\ntype: processor\nfields:\n  - name: a\n    type: colour\nmapping: root = \n",
            None,
        ) else {
            panic!("a broken template parsed");
        };
        let found: Vec<(usize, &str)> =
            lints.iter().map(|l| (l.line, l.message.as_str())).collect();
        assert_eq!(found[0].0, 5);
        assert!(
            found[0].1.contains("type 'colour' was not recognised"),
            "{found:?}"
        );
        assert_eq!(found[1].0, 6);
        assert!(
            found[1].1.starts_with("failed to parse mapping"),
            "{found:?}"
        );
    }
}
