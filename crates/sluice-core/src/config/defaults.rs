//! A config with every default filled in, as `sluice echo` prints it: each
//! field a user left out is added with its default, read from the config
//! schema (the same one `sluice list --format jsonschema` prints).

use serde_json::{Map, Value as Json};

use super::{ComponentKind, Node, NodeKind};

/// The top-level sections in the order Benthos prints them.
const SECTION_ORDER: [&str; 19] = [
    "http",
    "input",
    "buffer",
    "pipeline",
    "output",
    "input_resources",
    "cache_resources",
    "processor_resources",
    "rate_limit_resources",
    "output_resources",
    "logger",
    "metrics",
    "tracer",
    "redpanda",
    "shutdown_delay",
    "shutdown_timeout",
    "error_handling",
    "bloblang",
    "tests",
];

/// `root` with the defaults of `schema` (a whole-config schema with its
/// `definitions`) filled in. What the user wrote stays as written, in its
/// order; missing top-level sections follow Benthos's order, missing
/// fields of a component come after the given ones.
pub fn with_defaults(root: &Node, schema: &Json) -> Node {
    let empty = Map::new();
    let filler = Filler {
        definitions: schema
            .get("definitions")
            .and_then(Json::as_object)
            .unwrap_or(&empty),
    };
    let mut root = root.clone();
    if root.is_null() {
        root = Node::empty_map();
    }
    filler.fill(&mut root, schema);
    if let NodeKind::Map(entries) = &mut root.kind {
        let rank = |key: &Node| {
            let key = key.as_str().unwrap_or_default();
            SECTION_ORDER
                .iter()
                .position(|s| *s == key)
                .unwrap_or(SECTION_ORDER.len())
        };
        entries.sort_by_key(|(k, _)| rank(k));
    }
    root
}

struct Filler<'a> {
    definitions: &'a Map<String, Json>,
}

impl<'a> Filler<'a> {
    /// Follows `$ref`s to the schema they name.
    fn resolve(&self, mut schema: &'a Json) -> &'a Json {
        while let Some(name) = schema
            .get("$ref")
            .and_then(Json::as_str)
            .and_then(|r| r.strip_prefix("#/definitions/"))
        {
            match self.definitions.get(name) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    /// Whether `schema` describes an object with fields of its own.
    fn is_object(&self, schema: &'a Json) -> bool {
        if Self::component_kind(schema).is_some() {
            return false;
        }
        let schema = self.resolve(schema);
        match schema.get("allOf").and_then(Json::as_array) {
            Some(branches) => branches.iter().any(|b| self.is_object(b)),
            None => schema.get("properties").is_some(),
        }
    }

    /// The component kind a schema stands for, when it refers to one of
    /// the per-kind definitions.
    fn component_kind(schema: &Json) -> Option<ComponentKind> {
        let name = schema
            .get("$ref")
            .and_then(Json::as_str)?
            .strip_prefix("#/definitions/")?;
        Some(match name {
            "input" => ComponentKind::Input,
            "processor" => ComponentKind::Processor,
            "output" => ComponentKind::Output,
            "rate_limit" => ComponentKind::RateLimit,
            "buffer" => ComponentKind::Buffer,
            _ => return None,
        })
    }

    fn fill(&self, node: &mut Node, schema: &'a Json) {
        if let Some(kind) = Self::component_kind(schema) {
            self.fill_component(node, kind);
            return;
        }
        let schema = self.resolve(schema);
        for combinator in ["allOf", "anyOf", "oneOf"] {
            let Some(branches) = schema.get(combinator).and_then(Json::as_array) else {
                continue;
            };
            // `null` or a config: the config branch says what to fill.
            let branch = branches
                .iter()
                .find(|b| b.get("type").and_then(Json::as_str) != Some("null"));
            if let Some(branch) = branch {
                self.fill(node, branch);
            }
            return;
        }
        if let Some(properties) = schema.get("properties").and_then(Json::as_object) {
            self.fill_object(node, properties);
        } else if let (Some(items), NodeKind::Seq(values)) = (schema.get("items"), &mut node.kind) {
            values.iter_mut().for_each(|value| self.fill(value, items));
        } else if let (Some(values_schema), NodeKind::Map(entries)) = (
            schema.get("additionalProperties").filter(|s| s.is_object()),
            &mut node.kind,
        ) {
            entries
                .iter_mut()
                .for_each(|(_, value)| self.fill(value, values_schema));
        }
    }

    fn fill_object(&self, node: &mut Node, properties: &'a Map<String, Json>) {
        if node.is_null() {
            *node = Node::empty_map();
        }
        let NodeKind::Map(entries) = &mut node.kind else {
            return;
        };
        for (key, value) in entries.iter_mut() {
            if let Some(property) = key.as_str().and_then(|k| properties.get(k)) {
                self.fill(value, property);
            }
        }
        for (name, property) in properties {
            if entries
                .iter()
                .any(|(k, _)| k.as_str() == Some(name.as_str()))
            {
                continue;
            }
            let default = property
                .get("default")
                .or_else(|| self.resolve(property).get("default"));
            let mut value = match default {
                Some(default) if !default.is_null() => Node::from_json(default),
                // A section without a default of its own whose fields have
                // theirs (`cors: {enabled: false, ...}`).
                None if self.is_object(property) => Node::empty_map(),
                _ => continue,
            };
            self.fill(&mut value, property);
            if matches!(&value.kind, NodeKind::Map(fields) if fields.is_empty())
                && default.is_none()
            {
                continue;
            }
            entries.push((Node::plain(name.as_str()), value));
        }
    }

    /// Fills a component node: `label` first, then its type's config.
    fn fill_component(&self, node: &mut Node, kind: ComponentKind) {
        let NodeKind::Map(entries) = &mut node.kind else {
            return;
        };
        let reserved = |key: &str| matches!(key, "label" | "processors" | "type" | "plugin");
        // The legacy `type: x` form is printed as written.
        if entries.iter().any(|(k, _)| k.as_str() == Some("type")) {
            return;
        }
        let Some(type_name) = entries
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .find(|k| !reserved(k))
            .map(str::to_owned)
        else {
            return;
        };
        let definition = format!("{}.{type_name}", kind.as_str());
        if let Some(config_schema) = self.definitions.get(&definition) {
            for (key, value) in entries.iter_mut() {
                if key.as_str() == Some(type_name.as_str()) {
                    let object = config_schema.get("properties").is_some();
                    if object || !value.is_null() {
                        self.fill(value, config_schema);
                    }
                }
            }
        }
        if let Some((_, processors)) = entries
            .iter_mut()
            .find(|(k, _)| k.as_str() == Some("processors"))
            && let NodeKind::Seq(items) = &mut processors.kind
        {
            for item in items {
                self.fill_component(item, ComponentKind::Processor);
            }
        }
        if kind.has_label() && !entries.iter().any(|(k, _)| k.as_str() == Some("label")) {
            entries.insert(0, (Node::plain("label"), Node::from_json(&Json::from(""))));
        }
    }
}
