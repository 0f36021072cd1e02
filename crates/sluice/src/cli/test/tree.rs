//! The config tree a case runs against: read with the case's environment,
//! with its mocks swapped in, and addressed by JSON pointer or label.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context as _;
use sluice_core::config::{Node, NodeKind, interpolate_env};

/// The variables a case sees ahead of the process's: the `--env-file`
/// pairs (a later one winning), then the case's `environment` over them.
pub(super) fn case_vars(
    environment: &BTreeMap<String, String>,
    env_files: &[(String, String)],
) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = env_files.iter().cloned().collect();
    vars.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    vars
}

/// Reads `path` with `${VAR}`s taken from `vars` (see [`case_vars`]), then
/// the process. YAML errors name the file and position.
pub(super) fn load(path: &Path, vars: &HashMap<String, String>) -> anyhow::Result<Node> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read config {}", path.display()))?;
    let lookup = |name: &str| -> Option<String> {
        vars.get(name).cloned().or_else(|| std::env::var(name).ok())
    };
    // As in Benthos, a variable the case leaves unset reads as empty rather
    // than failing: a config whose outputs need `${BROKERS}` can still have
    // its processors tested.
    let (text, _unset_variables) = interpolate_env(&text, &lookup);
    Node::parse(&text)
        .map_err(|lint| anyhow::anyhow!("failed to parse config file {}{lint}", path.display()))
}

/// Replaces components by JSON pointer first, then by label, as Benthos
/// does. A mock without a label keeps the label of what it replaces.
pub(super) fn apply_mocks(root: &mut Node, mocks: &[(String, Node)]) -> anyhow::Result<()> {
    let by_pointer = mocks.iter().filter(|(k, _)| k.starts_with('/'));
    let by_label = mocks.iter().filter(|(k, _)| !k.starts_with('/'));
    for (key, mock) in by_pointer.chain(by_label) {
        let segments = if key.starts_with('/') {
            pointer_segments(key)
        } else {
            find_label(root, key).with_context(|| {
                format!("mock for label '{key}' could not be applied as the label was not found in the test target file")
            })?
        };
        // As in a JSON Patch, `-` names the place after a list's last item:
        // the mock is appended (say, a processor that exposes errors).
        if let Some((last, parent)) = segments.split_last()
            && last == "-"
        {
            match get_mut(root, parent).map(|node| &mut node.kind) {
                Some(NodeKind::Seq(items)) => {
                    items.push(mock.clone());
                    continue;
                }
                _ => anyhow::bail!("failed to set mock '{key}': no list at that path"),
            }
        }
        let target = get_mut(root, &segments)
            .with_context(|| format!("failed to set mock '{key}': no component at that path"))?;
        let mut mock = mock.clone();
        if mock.get("label").is_none()
            && let Some(label) = target.get("label").cloned()
            && let NodeKind::Map(entries) = &mut mock.kind
        {
            entries.push((Node::plain("label"), label));
        }
        *target = mock;
    }
    Ok(())
}

/// The node a pointer (`/pipeline/processors/0`) or a label names.
pub(super) fn resolve<'a>(root: &'a Node, target: &str) -> anyhow::Result<&'a Node> {
    let segments = if target.starts_with('/') {
        pointer_segments(target)
    } else {
        find_label(root, target).with_context(|| {
            format!("target for label '{target}' failed as the label was not found in the test target file")
        })?
    };
    get(root, &segments).with_context(|| format!("nothing found at path '{target}'"))
}

/// The unescaped segments of a JSON pointer.
fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn get<'a>(mut node: &'a Node, segments: &[String]) -> Option<&'a Node> {
    for segment in segments {
        node = match &node.kind {
            NodeKind::Map(_) => node.get(segment)?,
            NodeKind::Seq(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn get_mut<'a>(mut node: &'a mut Node, segments: &[String]) -> Option<&'a mut Node> {
    for segment in segments {
        node = match &mut node.kind {
            NodeKind::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(segment.as_str()))
                .map(|(_, v)| v)?,
            NodeKind::Seq(items) => items.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// The path of the component labelled `label`, outside the `tests` section.
fn find_label(root: &Node, label: &str) -> Option<Vec<String>> {
    let mut path = Vec::new();
    walk_for_label(root, label, &mut path, true).then_some(path)
}

fn walk_for_label(node: &Node, label: &str, path: &mut Vec<String>, top: bool) -> bool {
    match &node.kind {
        NodeKind::Map(entries) => {
            if node.get("label").and_then(Node::as_str) == Some(label) {
                return true;
            }
            for (key, value) in entries {
                let key = key.as_str().unwrap_or_default();
                if top && key == "tests" {
                    continue;
                }
                path.push(key.to_owned());
                if walk_for_label(value, label, path, false) {
                    return true;
                }
                path.pop();
            }
            false
        }
        NodeKind::Seq(items) => {
            for (idx, item) in items.iter().enumerate() {
                path.push(idx.to_string());
                if walk_for_label(item, label, path, false) {
                    return true;
                }
                path.pop();
            }
            false
        }
        NodeKind::Null | NodeKind::Scalar(..) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
pipeline:
  processors:
    - mapping: root = "a"
    - label: enrich
      http:
        url: http://example.invalid
output:
  broker:
    outputs:
      - kafka: {}
tests:
  - label: enrich
"#;

    #[test]
    fn resolves_pointers_and_labels() {
        let root = Node::parse(CONFIG).unwrap();
        let first = resolve(&root, "/pipeline/processors/0").unwrap();
        assert!(first.get("mapping").is_some());
        let labelled = resolve(&root, "enrich").unwrap();
        assert!(labelled.get("http").is_some());
        let err = resolve(&root, "missing").unwrap_err().to_string();
        assert!(err.contains("label 'missing'"), "{err}");
    }

    #[test]
    fn mocks_replace_by_pointer_and_keep_the_label() {
        let mut root = Node::parse(CONFIG).unwrap();
        let mocks = [
            (
                "/output/broker/outputs/0".to_owned(),
                Node::parse("drop: {}").unwrap(),
            ),
            (
                "enrich".to_owned(),
                Node::parse("mapping: root = 1").unwrap(),
            ),
        ];
        apply_mocks(&mut root, &mocks).unwrap();
        let out = resolve(&root, "/output/broker/outputs/0").unwrap();
        assert!(out.get("drop").is_some());
        let enrich = resolve(&root, "enrich").unwrap();
        assert!(enrich.get("mapping").is_some());
    }
}
