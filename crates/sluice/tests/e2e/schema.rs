//! `sluice list` formats and the JSON Schema of the whole config: the schema
//! accepts the example and seed configs, refuses what the loader refuses,
//! and the generated component docs and README table are up to date.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{bin, run_cli, write_config};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema_of(args: &[&str]) -> Value {
    let (code, out, err) = run_cli(args, "");
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("the schema is JSON")
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft7::new(schema).expect("the schema is a valid draft-07 schema")
}

/// The config as an editor sees it: YAML with `${VAR:default}` substituted.
fn config_json(text: &str) -> Value {
    let (text, _) = sluice_core::config::interpolate_env(text, &|_| None);
    serde_yaml::from_str(&text).expect("config is YAML")
}

fn errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    validator
        .iter_errors(&config_json(text))
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// The raw-string configs of a test file (those with an input or output).
fn configs_in(source: &str) -> Vec<String> {
    source
        .split("r#\"")
        .skip(1)
        .filter_map(|rest| rest.split("\"#").next())
        .filter(|text| text.contains("\ninput:") || text.contains("\noutput:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn schema_accepts_the_examples_and_seed_configs() {
    let validator = validator(&schema_of(&["list", "--format", "jsonschema"]));
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let problems = errors(&validator, &text);
            assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
            checked += 1;
        }
    }
    let seeds = include_str!("seeds.rs");
    for config in configs_in(seeds) {
        let problems = errors(&validator, &config);
        assert!(problems.is_empty(), "{config}\n{problems:#?}");
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} configs checked");
}

/// The older `type:` form of naming a component is accepted, as lint
/// accepts it; a wrong type name or a stray key still is not.
#[test]
fn schema_accepts_the_type_form_of_components() {
    let validator = validator(&schema_of(&["list", "--format", "jsonschema"]));
    let legacy = "input:\n  type: http_server\n  http_server:\n    path: /x\npipeline:\n  processors:\n    - type: mapping\n      mapping: root = this\noutput:\n  type: drop\n";
    assert_eq!(errors(&validator, legacy), Vec::<String>::new());
    let (_dir, path) = write_config(legacy);
    let (code, _, err) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    for wrong in [
        "input:\n  type: http_sever\n",
        "input:\n  type: http_server\n  http_server:\n    pth: /x\n",
        "output:\n  type: drop\n  extra: 1\n",
    ] {
        assert!(
            !errors(&validator, wrong).is_empty(),
            "the schema accepts:\n{wrong}"
        );
    }
}

#[test]
fn schema_and_lint_both_refuse_unknown_fields_and_types() {
    let validator = validator(&schema_of(&["list", "--format", "jsonschema"]));
    for (config, expected_lint) in [
        (
            "input:\n  http_server:\n    path: /x\n    pth: /y\noutput:\n  sync_response: {}\n",
            "field pth not recognised",
        ),
        (
            "input:\n  stdin: {}\nnope: 1\n",
            "field nope not recognised",
        ),
        (
            "input:\n  nonsuch: {}\n",
            "unable to infer component type: nonsuch",
        ),
        (
            "pipeline:\n  processors:\n    - mapping: root = this\n      processors: []\n",
            "field processors is invalid when the component type is mapping (processor)",
        ),
        (
            "output:\n  broker:\n    outputs:\n      - drop: {}\n        fan: 1\n",
            "field fan is invalid when the component type is drop (output)",
        ),
        (
            "pipeline:\n  processors:\n    - switch:\n        - check: this.a\n          procesors: []\n",
            "field procesors not recognised",
        ),
    ] {
        assert!(
            !errors(&validator, config).is_empty(),
            "the schema accepts:\n{config}"
        );
        let (_dir, path) = write_config(config);
        let (code, out, err) = run_cli(&["lint", path.to_str().unwrap()], "");
        assert_ne!(code, 0, "lint accepts:\n{config}");
        assert!(
            out.contains(expected_lint) || err.contains(expected_lint),
            "{config}\nstdout: {out}\nstderr: {err}"
        );
    }
}

#[test]
fn schema_of_named_components_and_errors() {
    let schema = schema_of(&["list", "--format", "jsonschema", "inputs", "http_server"]);
    let validator = validator(&schema);
    assert!(validator.is_valid(&config_json("http_server:\n  path: /x\nlabel: a\n")));
    assert!(!validator.is_valid(&config_json("stdin: {}\n")));
    assert!(!validator.is_valid(&config_json("http_server:\n  timeout: [1]\n")));

    let (code, _, err) = run_cli(&["list", "--format", "jsonschema", "inputs", "nonsuch"], "");
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "input type 'nonsuch' was not recognised");
    let (code, _, err) = run_cli(&["list", "--format", "jsonschema", "inptus"], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown component type 'inptus'") && err.contains("did you mean inputs?"),
        "{err}"
    );
    let (code, _, err) = run_cli(&["list", "--format", "cue"], "");
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "list format 'cue' is not supported yet");
}

#[test]
fn list_text_json_and_status() {
    let (code, out, _) = run_cli(&["list", "rate-limits", "caches", "buffers"], "");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Caches:\n  - lru\n  - memory\n  - multilevel\n  - redis\n  - ttlru\n\nRate Limits:\n  - local\n  - redis\n\nBuffers:\n  - memory\n  - none\n  - system_window\n"
    );
    let (code, out, _) = run_cli(&["list", "--format", "json", "outputs"], "");
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&out).unwrap();
    let outputs = listed["outputs"].as_array().unwrap();
    assert!(outputs.contains(&"sync_response".into()) && outputs.contains(&"http_client".into()));
    let (_, out, _) = run_cli(
        &["list", "--format", "json", "--status", "stable", "outputs"],
        "",
    );
    let stable: Value = serde_json::from_str(&out).unwrap();
    let stable = stable["outputs"].as_array().unwrap();
    assert!(stable.contains(&"sync_response".into()));
    assert!(
        !stable.contains(&"http_client".into()),
        "http_client is beta"
    );
    let (code, _, err) = run_cli(&["list", "--status", "solid"], "");
    assert_eq!(code, 1);
    assert!(err.contains("unknown status 'solid'"), "{err}");
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn component_docs_and_readme_table_are_fresh() {
    const REFRESH: &str =
        "run `cargo run -p sluice -- docs` from the repository root and commit the result";
    let root = repo_root();
    let scratch = tempfile::tempdir().unwrap();
    std::fs::copy(root.join("README.md"), scratch.path().join("README.md")).unwrap();
    let status = Command::new(bin())
        .args(["docs", "--dir", "docs/components", "--readme", "README.md"])
        .current_dir(scratch.path())
        .status()
        .unwrap();
    assert!(status.success());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let fresh = std::fs::read_to_string(scratch.path().join("README.md")).unwrap();
    assert!(
        readme == fresh,
        "README.md's component table is stale: {REFRESH}"
    );
    let committed = root.join("docs/components");
    let generated = scratch.path().join("docs/components");
    assert_eq!(
        files_under(&committed),
        files_under(&generated),
        "docs/components has missing or extra pages: {REFRESH}"
    );
    for page in files_under(&generated) {
        let old = std::fs::read_to_string(committed.join(&page)).unwrap();
        let new = std::fs::read_to_string(generated.join(&page)).unwrap();
        assert!(
            old == new,
            "docs/components/{} is stale: {REFRESH}",
            page.display()
        );
    }
}
