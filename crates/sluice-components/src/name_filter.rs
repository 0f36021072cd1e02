//! Include filters over names (`include_prefixes`, `include_patterns`):
//! which metadata keys or header names a component copies.

use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{Lint, Mark};
use sluice_core::environment::BuildResult;

/// The config block of an include filter.
#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct IncludeFilterConfig {
    /// Keys starting with any of these prefixes are included.
    pub(crate) include_prefixes: Vec<String>,
    /// Keys matching any of these regular expressions are included.
    pub(crate) include_patterns: Vec<String>,
}

/// Which names pass: any with one of the prefixes or matching one of the
/// (unanchored, RE2-style) patterns.
pub(crate) struct NameFilter {
    prefixes: Vec<String>,
    patterns: Vec<Regex>,
}

impl NameFilter {
    /// Compiles the patterns; a bad one is a lint at `mark`.
    pub(crate) fn build(config: &IncludeFilterConfig, mark: Mark) -> BuildResult<NameFilter> {
        let mut patterns = Vec::new();
        let mut lints = Vec::new();
        for p in &config.include_patterns {
            match Regex::new(p) {
                Ok(r) => patterns.push(r),
                Err(e) => lints.push(Lint::error(
                    mark,
                    format!("invalid include pattern {p:?}: {e}"),
                )),
            }
        }
        if !lints.is_empty() {
            return Err(lints);
        }
        Ok(NameFilter {
            prefixes: config.include_prefixes.clone(),
            patterns,
        })
    }

    /// Whether nothing passes (nothing configured).
    pub(crate) fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.patterns.is_empty()
    }

    /// Whether `name` passes.
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
            || self.patterns.iter().any(|r| r.is_match(name))
    }
}
