//! Splitting a component node (`http_server: {...}` plus `label` and
//! `processors`) into its parts, with Benthos's lints for malformed ones.

use std::fmt;

use super::lint::with_suggestion;
use super::{Lint, Mark, Node, NodeKind};

/// The kinds of component a config can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    /// `input`
    Input,
    /// `processor`
    Processor,
    /// `output`
    Output,
    /// `rate_limit`
    RateLimit,
    /// `cache`
    Cache,
    /// `buffer`
    Buffer,
    /// `metrics`
    Metrics,
    /// `tracer`
    Tracer,
}

impl ComponentKind {
    /// The name Benthos uses in messages and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Input => "input",
            ComponentKind::Processor => "processor",
            ComponentKind::Output => "output",
            ComponentKind::RateLimit => "rate_limit",
            ComponentKind::Cache => "cache",
            ComponentKind::Buffer => "buffer",
            ComponentKind::Metrics => "metrics",
            ComponentKind::Tracer => "tracer",
        }
    }

    /// Whether `label` is accepted next to the type key.
    pub fn has_label(self) -> bool {
        matches!(
            self,
            ComponentKind::Input
                | ComponentKind::Processor
                | ComponentKind::Output
                | ComponentKind::Cache
                | ComponentKind::RateLimit
        )
    }

    /// Whether `processors` is accepted next to the type key.
    pub fn has_processors(self) -> bool {
        matches!(self, ComponentKind::Input | ComponentKind::Output)
    }

    /// Keys next to the type key that are not component types.
    fn is_reserved(self, key: &str) -> bool {
        match key {
            "type" | "plugin" => true,
            "label" => self.has_label(),
            "processors" => self.has_processors(),
            "mapping" => self == ComponentKind::Metrics,
            _ => false,
        }
    }

    /// The type used for an empty component node, where there is one.
    fn default_type(self, known_names: &[&str]) -> Option<&'static str> {
        let wanted = match self {
            ComponentKind::Input => "stdin",
            ComponentKind::Output => "stdout",
            ComponentKind::Buffer | ComponentKind::Tracer => "none",
            ComponentKind::Metrics if known_names.contains(&"prometheus") => "prometheus",
            ComponentKind::Metrics => "none",
            ComponentKind::Processor | ComponentKind::Cache | ComponentKind::RateLimit => {
                return None;
            }
        };
        known_names.contains(&wanted).then_some(wanted)
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component node split into its parts.
#[derive(Clone, Copy, Debug)]
pub struct ComponentNode<'a> {
    /// What kind of component this is.
    pub kind: ComponentKind,
    /// The component type, e.g. `http_server`.
    pub type_name: &'a str,
    /// Where the type is named (the type key, or the `type:` value).
    pub type_mark: Mark,
    /// The type's own config. A null node (`~`, or absent in the legacy and
    /// default forms) means all defaults; an absent one is marked at line 0.
    pub config: &'a Node,
    /// The `label`, if any.
    pub label: Option<&'a str>,
    /// The sibling `processors` list of an input or output, if any.
    pub processors: Option<&'a Node>,
    /// The whole component node.
    pub node: &'a Node,
}

/// Stands in for an absent config; a null config means all defaults.
static NULL_NODE: Node = Node {
    kind: NodeKind::Null,
    mark: Mark { line: 0, col: 0 },
};

/// Splits a component node of `kind`; `known_names` are the registered types
/// of that kind. Accepts the single-key form, the legacy `type: X` + `X: {}`
/// form and an empty node (the kind's default type).
pub fn split_component<'a>(
    node: &'a Node,
    kind: ComponentKind,
    known_names: &[&str],
) -> Result<ComponentNode<'a>, Vec<Lint>> {
    match split_component_tolerant(node, kind, known_names)? {
        (component, soft) if soft.is_empty() => Ok(component),
        (_, soft) => Err(soft),
    }
}

/// Like [`split_component`], but keys that do not belong beside the type
/// come back as lints beside the component instead of failing the split,
/// for `--chilled`.
pub fn split_component_tolerant<'a>(
    node: &'a Node,
    kind: ComponentKind,
    known_names: &[&str],
) -> Result<(ComponentNode<'a>, Vec<Lint>), Vec<Lint>> {
    let line = node.report_line();
    let entries: &'a [(Node, Node)] = match &node.kind {
        NodeKind::Map(entries) => entries,
        _ if node.is_null() => &[],
        _ => {
            let message = format!("expected object value, got {}", node.short_tag());
            return Err(vec![Lint::at_line(line, message)]);
        }
    };
    let key_of = |entry: &'a (Node, Node)| entry.0.as_str().unwrap_or_default();
    let mut lints = Vec::new();

    let explicit = entries.iter().find(|entry| key_of(entry) == "type");
    let (type_name, type_mark): (&'a str, Mark) = match explicit {
        Some((_, value)) => {
            let name = value.as_str().unwrap_or_default();
            if !known_names.contains(&name) {
                let message = with_suggestion(
                    format!("{kind} type '{name}' was not recognised"),
                    name,
                    known_names.iter().copied(),
                );
                return Err(vec![Lint::at_line(value.report_line(), message)]);
            }
            (name, value.mark)
        }
        None => {
            let candidates: Vec<&'a (Node, Node)> = entries
                .iter()
                .filter(|entry| !kind.is_reserved(key_of(entry)))
                .collect();
            let known: Vec<&'a (Node, Node)> = candidates
                .iter()
                .copied()
                .filter(|entry| known_names.contains(&key_of(entry)))
                .collect();
            match (candidates.len(), known.as_slice()) {
                (0, _) => match kind.default_type(known_names) {
                    Some(name) => (name, node.mark),
                    None => {
                        let message = format!("an explicit {kind} type must be specified");
                        return Err(vec![Lint::at_line(line, message)]);
                    }
                },
                (_, [entry]) => (key_of(entry), entry.0.mark),
                (_, _) => {
                    // Benthos lists every key of the node here.
                    let keys: Vec<&str> = entries.iter().map(key_of).collect();
                    let mut message = match keys.as_slice() {
                        [single] => format!("unable to infer component type: {single}"),
                        _ => format!("unable to infer component type: [{}]", keys.join(" ")),
                    };
                    if let ([entry], []) = (candidates.as_slice(), known.as_slice()) {
                        message =
                            with_suggestion(message, key_of(entry), known_names.iter().copied());
                    }
                    return Err(vec![Lint::at_line(line, message)]);
                }
            }
        }
    };

    let mut config = &NULL_NODE;
    let mut label = None;
    let mut processors = None;
    for entry in entries {
        let (key, value) = (key_of(entry), &entry.1);
        match key {
            _ if key == type_name => config = value,
            "type" => {}
            "label" if kind.has_label() => match &value.kind {
                NodeKind::Scalar(text, _) if !value.is_null() => {
                    if let Err(err) = validate_label(text) {
                        lints.push(Lint::at_line(value.report_line(), err));
                    }
                    label = Some(text.as_str());
                }
                _ if value.is_null() => {}
                _ => lints.push(Lint::at_line(value.report_line(), "expected string value")),
            },
            "processors" if kind.has_processors() => {
                if !value.is_null() && !matches!(value.kind, NodeKind::Seq(_)) {
                    lints.push(Lint::at_line(value.report_line(), "expected array value"));
                }
                processors = Some(value);
            }
            "plugin" | "mapping" if kind.is_reserved(key) => {}
            _ => lints.push(Lint::at_line(
                entry.0.mark.line,
                format!("field {key} is invalid when the component type is {type_name} ({kind})"),
            )),
        }
    }
    Ok((
        ComponentNode {
            kind,
            type_name,
            type_mark,
            config,
            label,
            processors,
            node,
        },
        lints,
    ))
}

/// Checks a component label as Benthos does: `[a-z0-9_]+`, not starting
/// with an underscore. Empty labels are allowed (no label).
pub fn validate_label(label: &str) -> Result<(), String> {
    let valid = label
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if label.is_empty() || (valid && !label.starts_with('_')) {
        return Ok(());
    }
    Err(format!(
        "invalid label '{label}': should match the regular expression /^[a-z0-9_]+$/ and must not start with an underscore"
    ))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    const KNOWN: &[&str] = &[
        "stdin",
        "stdout",
        "http_server",
        "sync_response",
        "kafka",
        "mapping",
        "none",
        "drop",
    ];

    /// Splits the component at `key` of `text` and renders its parts or lints.
    fn check(text: &str, key: &str, kind: ComponentKind, expected: Expect) {
        let root = Node::parse(text).unwrap();
        let node = root.get(key).unwrap();
        let actual = match split_component(node, kind, KNOWN) {
            Ok(c) => format!(
                "{} {} at {}:{} config {}:{} {} label {:?} processors {:?}",
                c.kind,
                c.type_name,
                c.type_mark.line,
                c.type_mark.col,
                c.config.mark.line,
                c.config.mark.col,
                if c.config.is_null() {
                    "null"
                } else {
                    c.config.short_tag()
                },
                c.label,
                c.processors.map(|p| p.mark.line),
            ),
            Err(lints) => lints.iter().map(|lint| format!("{lint}\n")).collect(),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn splits_the_single_key_form() {
        check(
            "input:\n  label: in\n  http_server:\n    path: /x\n  processors:\n    - mapping: root = this\n",
            "input",
            ComponentKind::Input,
            expect![[
                r#"input http_server at 3:3 config 4:5 !!map label Some("in") processors Some(6)"#
            ]],
        );
        check(
            "output:\n  sync_response: ~\n",
            "output",
            ComponentKind::Output,
            expect!["output sync_response at 2:3 config 2:18 null label None processors None"],
        );
        check(
            "output:\n  sync_response: {}\n",
            "output",
            ComponentKind::Output,
            expect!["output sync_response at 2:3 config 2:18 !!map label None processors None"],
        );
    }

    #[test]
    fn splits_the_legacy_type_form() {
        check(
            "output:\n  type: kafka\n  kafka:\n    topic: x\n",
            "output",
            ComponentKind::Output,
            expect!["output kafka at 2:9 config 4:5 !!map label None processors None"],
        );
        check(
            "output:\n  type: drop\n",
            "output",
            ComponentKind::Output,
            expect!["output drop at 2:9 config 0:0 null label None processors None"],
        );
        check(
            "output:\n  type: kafak\n",
            "output",
            ComponentKind::Output,
            expect![[r#"
                (2,1) output type 'kafak' was not recognised (did you mean kafka?)
            "#]],
        );
    }

    #[test]
    fn empty_nodes_take_the_default_type() {
        check(
            "input: ~\n",
            "input",
            ComponentKind::Input,
            expect!["input stdin at 1:8 config 0:0 null label None processors None"],
        );
        check(
            "output: {}\n",
            "output",
            ComponentKind::Output,
            expect!["output stdout at 1:9 config 0:0 null label None processors None"],
        );
        check(
            "p: {}\n",
            "p",
            ComponentKind::Processor,
            expect![[r#"
            (1,1) an explicit processor type must be specified
        "#]],
        );
    }

    #[test]
    fn lints_unknown_and_ambiguous_types() {
        check(
            "input:\n  kafak: {}\n",
            "input",
            ComponentKind::Input,
            expect![[r#"
            (2,1) unable to infer component type: kafak (did you mean kafka?)
        "#]],
        );
        check(
            "input:\n  nope: {}\n",
            "input",
            ComponentKind::Input,
            expect![[r#"
            (2,1) unable to infer component type: nope (did you mean none?)
        "#]],
        );
        check(
            "input:\n  kafka: {}\n  stdin: {}\n",
            "input",
            ComponentKind::Input,
            expect![[r#"
            (2,1) unable to infer component type: [kafka stdin]
        "#]],
        );
        check(
            "input:\n  label: a\n  nope: {}\n  other: 1\n",
            "input",
            ComponentKind::Input,
            expect![[r#"
            (2,1) unable to infer component type: [label nope other]
        "#]],
        );
    }

    #[test]
    fn lints_keys_beside_the_type() {
        check(
            "output:\n  kafka: {}\n  timeout: 5s\n",
            "output",
            ComponentKind::Output,
            expect![[r#"
                (3,1) field timeout is invalid when the component type is kafka (output)
            "#]],
        );
        check(
            "p:\n  mapping: root = this\n  processors: []\n",
            "p",
            ComponentKind::Processor,
            expect![[r#"
                (3,1) field processors is invalid when the component type is mapping (processor)
            "#]],
        );
        check(
            "input:\n  label: Bad-Label\n  stdin: {}\n",
            "input",
            ComponentKind::Input,
            expect![[r#"
                (2,1) invalid label 'Bad-Label': should match the regular expression /^[a-z0-9_]+$/ and must not start with an underscore
            "#]],
        );
        check(
            "output: stdout\n",
            "output",
            ComponentKind::Output,
            expect![[r#"
            (1,1) expected object value, got !!str
        "#]],
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the lints matter here")]
    struct HttpServerConfig {
        #[serde(default)]
        path: String,
    }

    #[test]
    fn unknown_component_fields_are_reported_at_their_line() {
        let text = "input:\n  label: in\n  http_server:\n    path: /post\n    nope: 1\n";
        let root = Node::parse(text).unwrap();
        let component = split_component(root.get("input").unwrap(), ComponentKind::Input, KNOWN);
        let lint = crate::config::from_node::<HttpServerConfig>(component.unwrap().config);
        expect!["(5,1) field nope not recognised"].assert_eq(&lint.unwrap_err().to_string());
    }
}
