//! `sluice docs`: one Markdown page per component, an index, and README's
//! component table, all generated from the registry's config schemas so
//! that the docs cannot drift from what the config loader accepts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Map, Value};
use sluice_core::config::ComponentKind;
use sluice_core::config::json_schema::{KIND_KEYWORD, component_definition, config_schema};
use sluice_core::environment::{Environment, Status};

use super::load::environment;

/// Arguments of `sluice docs`.
#[derive(clap::Args)]
pub(crate) struct DocsArgs {
    /// The directory the component pages are written to.
    #[arg(long, default_value = "docs/components")]
    dir: PathBuf,
    /// The README whose component table (between the
    /// `<!-- components:start -->` and `<!-- components:end -->` markers) is
    /// rewritten.
    #[arg(long, default_value = "README.md")]
    readme: PathBuf,
}

/// `write!` into a `String`, which cannot fail.
macro_rules! put {
    ($($arg:tt)*) => {
        write!($($arg)*).expect("writing to a String cannot fail")
    };
}

/// `writeln!` into a `String`, which cannot fail.
macro_rules! putln {
    ($($arg:tt)*) => {
        writeln!($($arg)*).expect("writing to a String cannot fail")
    };
}

/// The marker lines around the generated table in README.md.
const TABLE_START: &str = "<!-- components:start -->";
const TABLE_END: &str = "<!-- components:end -->";

/// Kinds with pages, and the folder each is written to.
const KINDS: [(ComponentKind, &str); 6] = [
    (ComponentKind::Input, "inputs"),
    (ComponentKind::Buffer, "buffers"),
    (ComponentKind::Processor, "processors"),
    (ComponentKind::Output, "outputs"),
    (ComponentKind::Cache, "caches"),
    (ComponentKind::RateLimit, "rate_limits"),
];

pub(crate) fn run(args: &DocsArgs) -> anyhow::Result<ExitCode> {
    let env = environment();
    let pages = pages(&env);
    for (_, folder) in KINDS {
        let dir = args.dir.join(folder);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Pages of components that no longer exist would otherwise linger.
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let relative = Path::new(folder).join(path.file_name().unwrap_or_default());
            let generated = pages.iter().any(|(page, _)| *page == relative);
            if path.extension().is_some_and(|e| e == "md") && !generated {
                std::fs::remove_file(&path)?;
            }
        }
    }
    for (relative, text) in &pages {
        let path = args.dir.join(relative);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let readme = std::fs::read_to_string(&args.readme)
        .with_context(|| format!("reading {}", args.readme.display()))?;
    let updated = replace_table(&readme, &readme_table(&env, &args.dir))
        .with_context(|| format!("updating {}", args.readme.display()))?;
    std::fs::write(&args.readme, updated)?;
    Ok(ExitCode::SUCCESS)
}

/// Basic facts of one registered component.
struct Component {
    kind: ComponentKind,
    folder: &'static str,
    name: &'static str,
    status: Status,
    summary: &'static str,
}

fn components(env: &Environment) -> Vec<Component> {
    let mut all = Vec::new();
    for (kind, folder) in KINDS {
        let specs: Vec<(&'static str, Status, &'static str)> = match kind {
            ComponentKind::Input => env
                .inputs()
                .map(|s| (s.name, s.status, s.summary))
                .collect(),
            ComponentKind::Processor => env
                .processors()
                .map(|s| (s.name, s.status, s.summary))
                .collect(),
            ComponentKind::Output => env
                .outputs()
                .map(|s| (s.name, s.status, s.summary))
                .collect(),
            ComponentKind::Cache => env
                .caches()
                .map(|s| (s.name, s.status, s.summary))
                .collect(),
            ComponentKind::Buffer => env
                .buffers()
                .map(|s| (s.name, s.status, s.summary))
                .collect(),
            _ => env
                .rate_limits()
                .map(|s| (s.name, s.status, s.summary))
                .collect(),
        };
        all.extend(specs.into_iter().map(|(name, status, summary)| Component {
            kind,
            folder,
            name,
            status,
            summary,
        }));
    }
    all
}

/// Every page, as a path relative to the docs folder and its text.
fn pages(env: &Environment) -> Vec<(PathBuf, String)> {
    let schema = config_schema(env);
    let definitions = schema["definitions"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let components = components(env);
    let mut pages: Vec<(PathBuf, String)> = components
        .iter()
        .map(|component| {
            let path = Path::new(component.folder).join(format!("{}.md", component.name));
            (path, page(component, &definitions))
        })
        .collect();
    pages.push((PathBuf::from("README.md"), index(&components)));
    pages
}

const GENERATED: &str =
    "<!-- Generated from the component registry by `sluice docs`; do not edit. -->";

fn page(component: &Component, definitions: &Map<String, Value>) -> String {
    let config = &definitions[&component_definition(component.kind, component.name)];
    let mut out = String::new();
    putln!(out, "# `{}` {}\n", component.name, component.kind);
    putln!(out, "{GENERATED}\n");
    putln!(out, "**Status:** {}\n", component.status.as_str());
    putln!(out, "{}\n", component.summary);
    putln!(out, "## Config\n");
    putln!(
        out,
        "With every field at its default (required fields empty):\n"
    );
    putln!(out, "```yaml");
    out.push_str(&example_yaml(component, config, definitions));
    putln!(out, "```\n");
    let mut rows = Vec::new();
    field_rows(&mut rows, "", config, definitions);
    if rows.is_empty() {
        putln!(out, "## Value\n");
        putln!(out, "**Type:** {}\n", type_label(config, definitions));
        if let Some(description) = describe(config, definitions) {
            putln!(out, "{description}");
        }
    } else {
        putln!(out, "## Fields\n");
        putln!(out, "| field | type | default | description |");
        putln!(out, "|---|---|---|---|");
        for row in rows {
            putln!(out, "{row}");
        }
    }
    out
}

fn index(components: &[Component]) -> String {
    let mut out = String::new();
    putln!(out, "# Components\n");
    putln!(out, "{GENERATED}\n");
    putln!(
        out,
        "Every component sluice supports. `sluice list --format jsonschema` prints a JSON Schema of the whole config for editors."
    );
    for (kind, folder) in KINDS {
        putln!(out, "\n## {}\n", heading(kind));
        putln!(out, "| component | status | summary |");
        putln!(out, "|---|---|---|");
        for component in components.iter().filter(|c| c.kind == kind) {
            putln!(
                out,
                "| [`{name}`]({folder}/{name}.md) | {} | {} |",
                component.status.as_str(),
                cell(component.summary),
                name = component.name,
            );
        }
    }
    out
}

fn heading(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Input => "Inputs",
        ComponentKind::Processor => "Processors",
        ComponentKind::Output => "Outputs",
        ComponentKind::Buffer => "Buffers",
        ComponentKind::Cache => "Caches",
        _ => "Rate limits",
    }
}

/// README's component table, linking into `docs_dir`.
fn readme_table(env: &Environment, docs_dir: &Path) -> String {
    let docs = docs_dir.to_string_lossy().replace('\\', "/");
    let mut out = String::new();
    putln!(
        out,
        "Generated from the component registry by `cargo run -p sluice -- docs`, which also writes a page per component with every field, its type and default ([{docs}/README.md]({docs}/README.md)). `sluice list --format jsonschema` prints a JSON Schema of the whole config for editors such as the YAML language server.\n"
    );
    putln!(out, "| kind | component | status | summary |");
    putln!(out, "|---|---|---|---|");
    for component in components(env) {
        let kind = component.kind.as_str().replace('_', " ");
        putln!(
            out,
            "| {kind} | [`{name}`]({docs}/{folder}/{name}.md) | {} | {} |",
            component.status.as_str(),
            cell(component.summary),
            name = component.name,
            folder = component.folder,
        );
    }
    out
}

/// `readme` with the text between the table markers replaced by `table`.
fn replace_table(readme: &str, table: &str) -> anyhow::Result<String> {
    let start = readme
        .find(TABLE_START)
        .with_context(|| format!("no {TABLE_START} marker"))?;
    let end = readme
        .find(TABLE_END)
        .with_context(|| format!("no {TABLE_END} marker"))?;
    anyhow::ensure!(start < end, "{TABLE_END} comes before {TABLE_START}");
    let before = readme.get(..start + TABLE_START.len()).unwrap_or_default();
    let after = readme.get(end..).unwrap_or_default();
    Ok(format!("{before}\n{table}{after}"))
}

/// Escapes a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Follows `$ref` and single-element `allOf` wrappers to the schema they
/// point at.
fn resolve<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return match component_ref(reference) {
            Some(_) => schema,
            None => definitions
                .get(name)
                .map_or(schema, |d| resolve(d, definitions)),
        };
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

/// The component kind a `$ref` points at, if it points at one.
fn component_ref(reference: &str) -> Option<&'static str> {
    match reference.rsplit('/').next() {
        Some("input") => Some("input"),
        Some("processor") => Some("processor"),
        Some("output") => Some("output"),
        Some("rate_limit") => Some("rate limit"),
        _ => None,
    }
}

/// The schema without `null` alternatives (`Option<T>`, nullable configs).
fn non_null<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    let schema = resolve(schema, definitions);
    if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = alternatives
            .iter()
            .filter(|alt| alt.get("type").is_none_or(|t| t != "null"))
            .collect();
        if let [only] = rest.as_slice() {
            return non_null(only, definitions);
        }
    }
    schema
}

fn type_label(schema: &Value, definitions: &Map<String, Value>) -> String {
    let schema = non_null(schema, definitions);
    if let Some(kind) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(component_ref)
    {
        return format!("{kind} component");
    }
    match schema.get(KIND_KEYWORD).and_then(Value::as_str) {
        Some("duration") => return "duration".to_owned(),
        Some("bloblang") => return "Bloblang mapping".to_owned(),
        Some("interpolated") => return "string, interpolated".to_owned(),
        _ => {}
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        // Any scalar is read into a string field; it is documented as one.
        ["string", "number", "boolean"] => "string".to_owned(),
        ["array"] => match schema.get("items") {
            Some(items) => format!("array of {}", type_label(items, definitions)),
            None => "array".to_owned(),
        },
        ["object"] if schema.get("properties").is_none() => {
            match schema.get("additionalProperties") {
                Some(values @ Value::Object(_)) => {
                    format!("map of {}", type_label(values, definitions))
                }
                _ => "object".to_owned(),
            }
        }
        [one] => (*one).to_owned(),
        [] => "any".to_owned(),
        many => many.join(" or "),
    }
}

fn describe(schema: &Value, definitions: &Map<String, Value>) -> Option<String> {
    schema
        .get("description")
        .or_else(|| non_null(schema, definitions).get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Whether `schema` is an object with fields of its own (documented row by
/// row rather than as one value).
fn has_fields(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// One table row per field, nested objects flattened as `a.b` and lists of
/// objects as `a[].b`.
fn field_rows(
    rows: &mut Vec<String>,
    prefix: &str,
    schema: &Value,
    definitions: &Map<String, Value>,
) {
    let schema = non_null(schema, definitions);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        if schema.get("type").is_some_and(|t| t == "array")
            && let Some(items) = schema.get("items")
            && has_fields(non_null(items, definitions))
        {
            field_rows(rows, &format!("{prefix}[]."), items, definitions);
        }
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort();
    for name in names {
        let field = &properties[name];
        let path = format!("{prefix}{name}");
        let default = match field.get("default") {
            Some(value) => format!("`{}`", inline_json(value)),
            None if required.contains(&name.as_str()) => "required".to_owned(),
            None => String::new(),
        };
        rows.push(format!(
            "| `{path}` | {} | {} | {} |",
            type_label(field, definitions),
            cell(&default),
            cell(&describe(field, definitions).unwrap_or_default()),
        ));
        let inner = non_null(field, definitions);
        if has_fields(inner) {
            field_rows(rows, &format!("{path}."), inner, definitions);
        } else if inner.get("type").is_some_and(|t| t == "array")
            && let Some(items) = inner.get("items")
            && has_fields(non_null(items, definitions))
        {
            field_rows(rows, &format!("{path}[]."), items, definitions);
        }
    }
}

fn inline_json(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The value a field shows in the example: its default, its nested
/// defaults, or an empty value of its type when it is required.
fn example_value(schema: &Value, definitions: &Map<String, Value>) -> Value {
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    let inner = non_null(schema, definitions);
    if let Some(default) = inner.get("default") {
        return default.clone();
    }
    if let Some(properties) = inner.get("properties").and_then(Value::as_object) {
        let mut names: Vec<&String> = properties.keys().collect();
        names.sort();
        return Value::Object(
            names
                .into_iter()
                .map(|name| (name.clone(), example_value(&properties[name], definitions)))
                .collect(),
        );
    }
    let first_type = match inner.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.first().and_then(Value::as_str).unwrap_or("null"),
        _ => "null",
    };
    match first_type {
        "string" => Value::String(String::new()),
        "integer" | "number" => Value::from(0),
        "boolean" => Value::Bool(false),
        "array" => Value::Array(Vec::new()),
        "object" => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

fn example_yaml(component: &Component, config: &Value, definitions: &Map<String, Value>) -> String {
    let mut node = Map::new();
    node.insert(component.name.into(), example_value(config, definitions));
    let mut out = String::new();
    // `label` goes first, as in a hand-written config.
    let indent = match component.kind {
        ComponentKind::Input | ComponentKind::Output => {
            putln!(out, "{}:", component.kind.as_str());
            putln!(out, "  label: \"\"");
            2
        }
        ComponentKind::RateLimit => {
            putln!(out, "rate_limit_resources:");
            putln!(out, "  - label: \"\"");
            4
        }
        ComponentKind::Cache => {
            putln!(out, "cache_resources:");
            putln!(out, "  - label: \"\"");
            4
        }
        ComponentKind::Buffer => {
            putln!(out, "buffer:");
            2
        }
        _ => {
            putln!(out, "label: \"\"");
            0
        }
    };
    write_yaml(&mut out, &Value::Object(node), indent);
    out
}

/// Writes `value` as block YAML at `indent` (only what JSON can hold).
fn write_yaml(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                put!(out, "{pad}{}:", yaml_scalar(key));
                write_nested(out, item, indent);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                put!(out, "{pad}-");
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The first key goes on the dash line.
                        let mut nested = String::new();
                        write_yaml(&mut nested, item, indent + 2);
                        out.push(' ');
                        out.push_str(nested.trim_start());
                    }
                    _ => write_nested(out, item, indent),
                }
            }
        }
        other => {
            putln!(out, "{pad}{}", inline_yaml(other));
        }
    }
}

fn write_nested(out: &mut String, item: &Value, indent: usize) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_yaml(out, item, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_yaml(out, item, indent + 2);
        }
        other => {
            putln!(out, " {}", inline_yaml(other));
        }
    }
}

fn inline_yaml(value: &Value) -> String {
    match value {
        Value::String(text) => yaml_scalar(text),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

/// A string as a YAML scalar: plain when YAML would read it back as the
/// same string, double-quoted (JSON escaping is valid YAML) otherwise.
fn yaml_scalar(text: &str) -> String {
    let reserved = [
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
        "no", "on", "off", "y", "n",
    ];
    // A leading digit is fine for words such as `5s` that YAML cannot read
    // as a number (but `0x1F` and `1e5` it can).
    let starts_well = match text.chars().next() {
        Some(c) if c.is_ascii_digit() => {
            text.chars().all(|c| c.is_ascii_alphanumeric())
                && text.chars().any(|c| c.is_ascii_alphabetic())
                && !text.starts_with("0x")
                && !text.starts_with("0o")
        }
        Some(c) => c.is_ascii_alphabetic() || c == '/' || c == '_',
        None => false,
    };
    let plain = !reserved.contains(&text)
        && starts_well
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./@ ".contains(c) || (c == ':'))
        && !text.contains(": ")
        && !text.ends_with(':')
        && !text.ends_with(' ')
        && text.parse::<f64>().is_err();
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_table_region() {
        let readme =
            "# t\n\nbefore\n<!-- components:start -->\nold\n<!-- components:end -->\nafter\n";
        assert_eq!(
            replace_table(readme, "| new |\n").unwrap(),
            "# t\n\nbefore\n<!-- components:start -->\n| new |\n<!-- components:end -->\nafter\n"
        );
        assert!(replace_table("no markers", "x").is_err());
    }

    #[test]
    fn yaml_scalars_round_trip() {
        for (text, expected) in [
            ("/post", "/post"),
            ("0.0.0.0:4195", "\"0.0.0.0:4195\""),
            ("", "\"\""),
            ("true", "\"true\""),
            ("5s", "5s"),
            ("1m30s", "1m30s"),
            ("0x1F", "\"0x1F\""),
            ("1e5", "\"1e5\""),
            ("200", "\"200\""),
            ("root = this", "\"root = this\""),
            ("application/octet-stream", "application/octet-stream"),
            ("fan_out", "fan_out"),
        ] {
            assert_eq!(yaml_scalar(text), expected, "{text}");
        }
    }
}
