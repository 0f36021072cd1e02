//! `grok`: parses each message's text with the first of a list of grok
//! expressions that matches, into a JSON object of the named captures.

use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Map, Value};
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Batch;

use super::doc_path;

const fn default_true() -> bool {
    true
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrokConfig {
    /// The grok expressions tried in order; the first that matches wins.
    expressions: Vec<String>,
    /// Custom patterns by name, usable in the expressions as `%{NAME}`.
    #[serde(default)]
    pattern_definitions: BTreeMap<String, String>,
    /// Files (or directories of files) of `NAME pattern` lines to add.
    #[serde(default)]
    pattern_paths: Vec<String>,
    /// Whether only captures with a name of their own (`%{WORD:name}`) are kept.
    #[serde(default = "default_true")]
    named_captures_only: bool,
    /// Whether the standard logstash patterns are available.
    #[serde(default = "default_true")]
    use_default_patterns: bool,
    /// Whether captures that matched nothing are left out.
    #[serde(default = "default_true")]
    remove_empty_values: bool,
}

struct GrokProcessor {
    patterns: Vec<grok::Pattern>,
    remove_empty_values: bool,
}

/// A capture's value, converted when its pattern asked for a type
/// (`%{NUMBER:n:int}`, `:float`); a value that does not convert stays text.
fn typed(text: &str, kind: Option<&str>) -> Value {
    match kind {
        Some("int") => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.into()), Value::from),
        Some("float") => text
            .parse::<f64>()
            .map_or_else(|_| Value::String(text.into()), Value::from),
        _ => Value::String(text.into()),
    }
}

impl GrokProcessor {
    fn parse(&self, text: &str) -> Option<Value> {
        for pattern in &self.patterns {
            let Some(matches) = pattern.match_against(text) else {
                continue;
            };
            // Capture names such as `user.name` nest, as in Benthos.
            let mut doc = Value::Object(Map::new());
            for (name, value) in matches.iter() {
                if self.remove_empty_values && value.is_empty() {
                    continue;
                }
                let path: Vec<&str> = name.split('.').collect();
                doc_path::set(&mut doc, &path, typed(value, pattern.get_extract(name)));
            }
            if matches!(&doc, Value::Object(map) if !map.is_empty()) {
                return Some(doc);
            }
        }
        None
    }
}

#[async_trait]
impl Processor for GrokProcessor {
    async fn process(&self, mut batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        for msg in batch.iter_mut() {
            let parsed = self.parse(&String::from_utf8_lossy(msg.content()));
            match parsed {
                Some(doc) => msg.set_structured(doc),
                None => {
                    tracing::debug!("No grok pattern matches the message.");
                    msg.set_error("no pattern matches found");
                }
            }
        }
        Ok(vec![batch])
    }
}

/// The `NAME pattern` lines of a file, or of every file in a directory;
/// empty lines and `#` comments are skipped.
fn patterns_from_path(path: &str, into: &mut BTreeMap<String, String>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let files = if meta.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| e.to_string())?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![std::path::PathBuf::from(path)]
    };
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, pattern) = line.split_once(' ').unwrap_or((line, ""));
            into.insert(name.to_owned(), pattern.to_owned());
        }
    }
    Ok(())
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: GrokConfig = builder.config(node)?;
    let lint = |text: String| vec![Lint::error(node.mark, text)];
    let mut definitions = config.pattern_definitions.clone();
    for path in &config.pattern_paths {
        patterns_from_path(path, &mut definitions)
            .map_err(|e| lint(format!("failed to parse patterns from path '{path}': {e}")))?;
    }
    let mut compiler = if config.use_default_patterns {
        grok::Grok::with_default_patterns()
    } else {
        grok::Grok::empty()
    };
    for (name, pattern) in definitions {
        compiler.add_pattern(name, pattern);
    }
    let patterns = config
        .expressions
        .iter()
        .map(|expr| {
            compiler
                .compile(expr, config.named_captures_only)
                .map_err(|e| lint(format!("failed to compile Grok pattern '{expr}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(GrokProcessor {
        patterns,
        remove_empty_values: config.remove_empty_values,
    }))
}
