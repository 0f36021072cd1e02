//! Reading test definitions: the `tests:` list of a config file or of its
//! `<name>_benthos_test.yaml` companion, checked and compiled up front so a
//! broken definition is reported with its position before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use sluice_bloblang::Mapping;
use sluice_core::config::{Lint, Node, NodeKind, from_node, from_node_all};

use super::condition::Condition;

/// One test case, ready to run.
pub(super) struct Case {
    pub(super) name: String,
    /// Where the case starts in the definition file.
    pub(super) line: usize,
    /// Variables the config is read with.
    pub(super) environment: BTreeMap<String, String>,
    /// Components to replace, by JSON pointer or label, in file order.
    pub(super) mocks: Vec<(String, Node)>,
    pub(super) kind: CaseKind,
}

/// What a case exercises.
pub(super) enum CaseKind {
    /// Feeds batches through some processors and checks what comes out.
    Processors {
        target: Target,
        input_batches: Vec<Vec<InputMessage>>,
        output_batches: Vec<Vec<Vec<(&'static str, Condition)>>>,
    },
    /// Runs the whole stream and sends it one HTTP request.
    Http {
        request: HttpRequest,
        response: HttpResponse,
    },
}

/// What a processors case runs.
pub(super) enum Target {
    /// A JSON pointer (`/pipeline/processors/0`), optionally in another file
    /// (`other.yaml#/pipeline/processors`), or a processor label.
    Processors(String),
    /// A Bloblang file, run as a `mapping` processor.
    Mapping(PathBuf),
}

/// One input message.
pub(super) struct InputMessage {
    pub(super) content: Vec<u8>,
    pub(super) metadata: BTreeMap<String, serde_json::Value>,
}

/// The request an HTTP case sends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpRequest {
    #[serde(default = "default_path")]
    pub(super) path: String,
    #[serde(default = "default_verb")]
    pub(super) verb: String,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) body: String,
}

fn default_path() -> String {
    "/".to_owned()
}

fn default_verb() -> String {
    "POST".to_owned()
}

/// What an HTTP case expects back; absent fields are not checked.
pub(super) struct HttpResponse {
    pub(super) status: Option<u16>,
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: Option<String>,
    pub(super) json_equals: Option<serde_json::Value>,
    pub(super) json_contains: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseConfig {
    name: String,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default = "default_target")]
    target_processors: String,
    #[serde(default)]
    target_mapping: String,
    #[serde(default)]
    mocks: Option<Node>,
    #[serde(default)]
    input_batch: Option<Vec<InputConfig>>,
    #[serde(default)]
    input_batches: Option<Vec<Vec<InputConfig>>>,
    #[serde(default)]
    output_batches: Vec<Vec<ConditionsConfig>>,
    #[serde(default)]
    http_request: Option<HttpRequest>,
    #[serde(default)]
    http_response: Option<HttpResponseConfig>,
}

fn default_target() -> String {
    "/pipeline/processors".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputConfig {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    json_content: Option<Node>,
    #[serde(default)]
    file_content: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionsConfig {
    #[serde(default)]
    bloblang: Option<Node>,
    #[serde(default)]
    content_equals: Option<String>,
    #[serde(default)]
    content_matches: Option<Node>,
    #[serde(default)]
    metadata_equals: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    file_equals: Option<String>,
    #[serde(default)]
    file_json_equals: Option<String>,
    #[serde(default)]
    file_json_contains: Option<String>,
    #[serde(default)]
    json_equals: Option<Node>,
    #[serde(default)]
    json_contains: Option<Node>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpResponseConfig {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    json_equals: Option<Node>,
    #[serde(default)]
    json_contains: Option<Node>,
}

/// Reads the cases of the definition `text`. `dir` is where relative files
/// (`file_content`, `file_equals`, `target_mapping`) are looked up. A file
/// without a `tests` key has no cases. Returns every problem found.
pub(super) fn parse(text: &str, dir: &Path) -> Result<Vec<Case>, Vec<Lint>> {
    let root = Node::parse(text).map_err(|lint| vec![lint])?;
    let Some(tests) = root.get("tests") else {
        return Ok(Vec::new());
    };
    if tests.is_null() {
        return Ok(Vec::new());
    }
    let Some(nodes) = tests.as_seq() else {
        return Err(vec![Lint::error(tests.mark, "expected array value")]);
    };
    let mut lints = Vec::new();
    let mut cases = Vec::new();
    for node in nodes {
        match from_node_all::<CaseConfig>(node) {
            Ok(config) => match compile(config, node, dir) {
                Ok(case) => cases.push(case),
                Err(l) => lints.extend(l),
            },
            Err(l) => lints.extend(l),
        }
    }
    if lints.is_empty() {
        Ok(cases)
    } else {
        lints.sort_by_key(|l| (l.line, l.col));
        Err(lints)
    }
}

fn compile(config: CaseConfig, node: &Node, dir: &Path) -> Result<Case, Vec<Lint>> {
    let mut lints = Vec::new();
    let at = |key: &str| node.get(key).map_or(node.mark, |n| n.mark);
    let mocks = match &config.mocks {
        None => Vec::new(),
        Some(mocks) if mocks.is_null() => Vec::new(),
        Some(mocks) => match mocks.as_map() {
            Some(entries) => entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v.clone()))
                .collect(),
            None => {
                lints.push(Lint::error(mocks.mark, "expected object value"));
                Vec::new()
            }
        },
    };
    let kind = if let Some(request) = config.http_request {
        for (field, set) in [
            ("input_batch", config.input_batch.is_some()),
            ("input_batches", config.input_batches.is_some()),
            ("output_batches", !config.output_batches.is_empty()),
            ("target_mapping", !config.target_mapping.is_empty()),
            ("target_processors", node.get("target_processors").is_some()),
        ] {
            if set {
                lints.push(Lint::error(
                    at(field),
                    format!(
                        "{field} cannot be combined with http_request, which runs the whole stream"
                    ),
                ));
            }
        }
        let Some(response) = config.http_response else {
            lints.push(Lint::error(
                at("http_request"),
                "http_request needs an http_response to check",
            ));
            return Err(lints);
        };
        let response = HttpResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
            json_equals: response
                .json_equals
                .and_then(|n| json_value(&n, &mut lints)),
            json_contains: response
                .json_contains
                .and_then(|n| json_value(&n, &mut lints)),
        };
        CaseKind::Http { request, response }
    } else {
        if config.http_response.is_some() {
            lints.push(Lint::error(
                at("http_response"),
                "http_response needs an http_request to answer",
            ));
        }
        let target = if config.target_mapping.is_empty() {
            Target::Processors(config.target_processors)
        } else {
            Target::Mapping(dir.join(&config.target_mapping))
        };
        let mut input_batches = Vec::new();
        let raw_batches = config
            .input_batches
            .into_iter()
            .flatten()
            .chain(config.input_batch);
        let batch_nodes = node
            .get("input_batches")
            .and_then(Node::as_seq)
            .map(<[Node]>::to_vec)
            .unwrap_or_default()
            .into_iter()
            .chain(node.get("input_batch").cloned());
        for (batch, batch_node) in raw_batches.zip(batch_nodes) {
            let msg_nodes = batch_node.as_seq().unwrap_or_default();
            let messages = batch
                .into_iter()
                .zip(msg_nodes)
                .filter_map(|(input, n)| input_message(input, n, dir, &mut lints))
                .collect();
            input_batches.push(messages);
        }
        let mut output_batches = Vec::new();
        for batch in config.output_batches {
            let mut messages = Vec::new();
            for conditions in batch {
                messages.push(conditions_of(conditions, dir, &mut lints));
            }
            output_batches.push(messages);
        }
        CaseKind::Processors {
            target,
            input_batches,
            output_batches,
        }
    };
    if lints.is_empty() {
        Ok(Case {
            name: config.name,
            line: node.mark.line,
            environment: config.environment,
            mocks,
            kind,
        })
    } else {
        Err(lints)
    }
}

fn input_message(
    input: InputConfig,
    node: &Node,
    dir: &Path,
    lints: &mut Vec<Lint>,
) -> Option<InputMessage> {
    let given = [
        input.content.is_some(),
        input.json_content.is_some(),
        input.file_content.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        lints.push(Lint::error(
            node.mark,
            "only one of content, json_content and file_content may be set",
        ));
        return None;
    }
    let content = if let Some(json) = &input.json_content {
        let value = json_document(json, lints)?;
        serde_json::to_vec(&value).expect("a JSON value always serialises")
    } else if let Some(file) = &input.file_content {
        let path = dir.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) => {
                let at = node.get("file_content").map_or(node.mark, |n| n.mark);
                lints.push(Lint::error(
                    at,
                    format!("failed to read {}: {err}", path.display()),
                ));
                return None;
            }
        }
    } else {
        input.content.unwrap_or_default().into_bytes()
    };
    Some(InputMessage {
        content,
        metadata: input.metadata,
    })
}

/// Compiles the conditions of one expected message, sorted by name as
/// Benthos reports them.
fn conditions_of(
    config: ConditionsConfig,
    dir: &Path,
    lints: &mut Vec<Lint>,
) -> Vec<(&'static str, Condition)> {
    let mut out = Vec::new();
    if let Some(text) = &config.bloblang {
        match text.as_str().map(Mapping::parse) {
            Some(Ok(mapping)) => out.push(("bloblang", Condition::Bloblang(mapping))),
            Some(Err(err)) => lints.push(Lint::error(
                text.content_position(err.line(), err.column()),
                format!("failed to parse bloblang condition: {err}"),
            )),
            None => lints.push(Lint::error(text.mark, "expected string value")),
        }
    }
    if let Some(expected) = config.content_equals {
        out.push(("content_equals", Condition::ContentEquals(expected)));
    }
    if let Some(pattern) = &config.content_matches {
        match pattern.as_str().map(Regex::new) {
            Some(Ok(re)) => out.push(("content_matches", Condition::ContentMatches(re))),
            Some(Err(err)) => lints.push(Lint::error(
                pattern.mark,
                format!("invalid regular expression: {err}"),
            )),
            None => lints.push(Lint::error(pattern.mark, "expected string value")),
        }
    }
    if let Some(file) = config.file_equals {
        out.push(("file_equals", Condition::FileEquals(dir.join(file))));
    }
    if let Some(file) = config.file_json_contains {
        out.push((
            "file_json_contains",
            Condition::FileJsonContains(dir.join(file)),
        ));
    }
    if let Some(file) = config.file_json_equals {
        out.push((
            "file_json_equals",
            Condition::FileJsonEquals(dir.join(file)),
        ));
    }
    if let Some(expected) = config.json_contains.and_then(|n| json_value(&n, lints)) {
        out.push(("json_contains", Condition::JsonContains(expected)));
    }
    if let Some(expected) = config.json_equals.and_then(|n| json_value(&n, lints)) {
        out.push(("json_equals", Condition::JsonEquals(expected)));
    }
    if let Some(expected) = config.metadata_equals {
        out.push(("metadata_equals", Condition::MetadataEquals(expected)));
    }
    out
}

/// An expected JSON document: a YAML structure, or a string holding JSON
/// text (as Benthos reads `json_equals: '{"a":1}'`).
fn json_value(node: &Node, lints: &mut Vec<Lint>) -> Option<serde_json::Value> {
    if let NodeKind::Scalar(text, style) = &node.kind
        && *style != sluice_core::config::ScalarStyle::Plain
    {
        return match serde_json::from_str(text) {
            Ok(value) => Some(value),
            Err(err) => {
                lints.push(Lint::error(
                    node.mark,
                    format!("expected a JSON document: {err}"),
                ));
                None
            }
        };
    }
    json_document(node, lints)
}

/// A YAML structure read as JSON.
fn json_document(node: &Node, lints: &mut Vec<Lint>) -> Option<serde_json::Value> {
    match from_node::<serde_json::Value>(node) {
        Ok(value) => Some(value),
        Err(lint) => {
            lints.push(lint);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_error(text: &str, want: &str) {
        let lints = parse(text, Path::new("."))
            .err()
            .expect("a broken definition");
        let got: Vec<String> = lints.iter().map(ToString::to_string).collect();
        assert_eq!(got.join("\n"), want);
    }

    #[test]
    fn a_file_without_tests_has_no_cases() {
        assert!(
            parse("input:\n  stdin: {}\n", Path::new("."))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn reads_batches_and_conditions() {
        let cases = parse(
            r#"
tests:
  - name: upper
    input_batches:
      - - content: a
        - json_content: {x: 1}
      - - content: b
    output_batches:
      - - content_equals: A
          bloblang: 'content() == "A"'
"#,
            Path::new("."),
        )
        .unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].line, 3);
        let CaseKind::Processors {
            input_batches,
            output_batches,
            ..
        } = &cases[0].kind
        else {
            panic!("a processors case");
        };
        assert_eq!(input_batches.len(), 2);
        assert_eq!(input_batches[0][1].content, br#"{"x":1}"#);
        let names: Vec<_> = output_batches[0][0].iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["bloblang", "content_equals"]);
    }

    #[test]
    fn unknown_fields_and_bad_mappings_are_positioned() {
        check_error(
            "tests:\n  - name: x\n    output_batches:\n      - - content_equal: a\n",
            "(4,1) field content_equal not recognised (did you mean content_equals?)",
        );
        check_error(
            "tests:\n  - name: x\n    output_batches:\n      - - bloblang: 'root = '\n",
            "(4,29) failed to parse bloblang condition: line 1 char 8: expected query",
        );
    }
}
