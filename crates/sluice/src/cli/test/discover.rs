//! Finding test targets: config files with a `tests:` section or a
//! `<name>_benthos_test.yaml` companion, under files, directories and
//! `dir/...` paths.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The suffix Benthos gives a separate test definition file.
const TEST_SUFFIX: &str = "_benthos_test";

/// Config path → the file holding its test definitions (the config itself
/// when it has no companion), in path order.
pub(super) fn targets(paths: &[String]) -> anyhow::Result<BTreeMap<PathBuf, PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        expand(path, &mut files)?;
    }
    let mut out = BTreeMap::new();
    for file in files {
        let (config, definition) = path_pair(&file);
        let definition = if definition.exists() {
            definition
        } else {
            config.clone()
        };
        out.insert(config, definition);
    }
    Ok(out)
}

/// The config and definition paths for either of the two files.
fn path_pair(path: &Path) -> (PathBuf, PathBuf) {
    let path = clean(path);
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    match stem.strip_suffix(TEST_SUFFIX) {
        Some(config_stem) => (dir.join(format!("{config_stem}{ext}")), path.clone()),
        None => (path.clone(), dir.join(format!("{stem}{TEST_SUFFIX}{ext}"))),
    }
}

/// Drops `./` components so reports name files as a person would type them.
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// Adds the YAML files `path` names: itself, or every one under a directory
/// or a `dir/...` path, recursively.
fn expand(path: &str, acc: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let root = match path.strip_suffix("...") {
        Some("") => PathBuf::from("."),
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(path),
    };
    if !root.exists() {
        anyhow::bail!("path '{path}' does not exist");
    }
    if !root.is_dir() {
        acc.push(root);
        return Ok(());
    }
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|err| anyhow::anyhow!("failed to read directory {}: {err}", dir.display()))?;
        let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                stack.push(entry);
            } else if is_yaml(&entry) {
                acc.push(entry);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_a_config_with_its_companion_either_way() {
        let want = (
            PathBuf::from("dir/foo.yaml"),
            PathBuf::from("dir/foo_benthos_test.yaml"),
        );
        assert_eq!(path_pair(Path::new("./dir/foo.yaml")), want);
        assert_eq!(path_pair(Path::new("dir/foo_benthos_test.yaml")), want);
    }
}
