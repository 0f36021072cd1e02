//! Config templates (`-t`): components defined by fields and a mapping that
//! renders the config of an existing component, and `sluice template lint`.

use crate::support::{Sluice, post, run_cli, write_config};

/// A processor template: upper-cases one field and adds `marks` marks.
const SHOUT: &str = r#"
name: shout
type: processor
summary: Upper-cases a field of the document.
fields:
  - name: field
    type: string
  - name: marks
    type: int
    default: 1
mapping: |
  root.mapping = "root = this\nroot.%s = this.%s.uppercase() + \"%s\"".format(this.field, this.field, range(0, this.marks).map_each(_ -> "!").join(""))
tests:
  - name: one mark by default
    config:
      field: name
    expected:
      mapping: "root = this\nroot.name = this.name.uppercase() + \"!\""
"#;

/// An input template: an `http_server` on a path, tagging each message.
const TAGGED_API: &str = r#"
name: tagged_api
type: input
fields:
  - name: path
    type: string
  - name: tag
    type: string
    default: api
mapping: |
  root.http_server.path = this.path
  root.processors = [ { "mapping": "root = \"%s:\" + content().string()".format(this.tag) } ]
"#;

/// An output template: a file written as lines, each with a suffix.
const SUFFIXED_FILE: &str = r#"
name: suffixed_file
type: output
fields:
  - name: path
    type: string
  - name: suffix
    type: string
mapping: |
  root.file = { "path": this.path, "codec": "lines" }
  root.processors = [ { "mapping": "root = content().string() + \"%s\"".format(this.suffix) } ]
"#;

/// Writes the template files beside the config; the `-t` glob that loads
/// them all.
fn write_templates(dir: &std::path::Path) -> String {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    for (name, text) in [
        ("shout.yaml", SHOUT),
        ("tagged_api.yaml", TAGGED_API),
        ("suffixed_file.yaml", SUFFIXED_FILE),
    ] {
        std::fs::write(templates.join(name), text).unwrap();
    }
    templates.join("*.yaml").display().to_string()
}

#[tokio::test]
async fn a_processor_template_runs_with_its_fields_and_defaults() {
    let templates_dir = tempfile::tempdir().unwrap();
    let glob = write_templates(templates_dir.path());
    let sluice = Sluice::start_with_args(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - shout:
        field: city
        marks: 3
    - shout:
        field: country
output:
  sync_response: {}
"#,
        &["-t", &glob],
    );
    assert_eq!(
        post(&sluice, "/post", r#"{"city":"berlin","country":"de"}"#).await,
        (200, r#"{"city":"BERLIN!!!","country":"DE!"}"#.to_owned())
    );
}

/// The use's own processors run after an input template's and before an
/// output template's, and the use's label names the rendered component.
#[tokio::test]
async fn input_and_output_templates_combine_with_the_uses_processors() {
    let templates_dir = tempfile::tempdir().unwrap();
    let glob = write_templates(templates_dir.path());
    let sluice = Sluice::start_with_args(
        r#"
input:
  label: front_door
  tagged_api:
    path: /in
    tag: web
  processors:
    - mapping: root = content().string() + " (checked)"
output:
  suffixed_file:
    path: "{dir}/out.txt"
    suffix: " [stored]"
  processors:
    - mapping: root = content().string().uppercase()
"#,
        &["-t", &glob],
    );
    assert_eq!(post(&sluice, "/in", "hello").await.0, 200);
    let stored = std::fs::read_to_string(sluice.dir.join("out.txt")).unwrap();
    assert_eq!(stored, "WEB:HELLO (CHECKED) [stored]\n");
    let metrics = sluice.metrics().await;
    assert!(
        metrics.contains(r#"input_received{label="front_door""#),
        "{metrics}"
    );
}

#[test]
fn mistakes_in_a_template_use_are_lints_at_their_lines() {
    let templates_dir = tempfile::tempdir().unwrap();
    let glob = write_templates(templates_dir.path());
    let (_dir, path) = write_config(
        r#"input:
  http_server:
    path: /post
pipeline:
  processors:
    - shout:
        feild: city
        marks: lots
output:
  sync_response: {}
"#,
    );
    let config = path.to_str().unwrap();
    let (code, _, stderr) = run_cli(&["-t", &glob, "lint", config], "");
    assert_eq!(code, 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{config}(7,1) field feild not recognised (did you mean field?)"),
            format!("{config}(7,9) field field is required"),
            format!("{config}(8,16) field marks: expected int value, got \"lots\""),
        ]
    );
    // Without the templates the type is unknown.
    let (code, _, stderr) = run_cli(&["lint", config], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("(6,1) unable to infer component type: shout"),
        "{stderr}"
    );
}

#[test]
fn a_broken_template_file_stops_the_run_with_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("broken.yaml");
    std::fs::write(
        &template,
        "name: broken\ntype: processor\nfields:\n  - name: a\n    type: colour\nmapping: root = this.(\n",
    )
    .unwrap();
    let (_config_dir, config) = write_config("output:\n  drop: {}\n");
    let (code, _, stderr) = run_cli(
        &[
            "run",
            "-t",
            template.to_str().unwrap(),
            config.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 1);
    let template = template.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{template}(5,11) field 0: type 'colour' was not recognised"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{template}(6,")) && stderr.contains("failed to parse mapping"),
        "{stderr}"
    );
}

#[test]
fn template_lint_runs_the_tests_a_template_carries() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("shout.yaml");
    std::fs::write(&good, SHOUT).unwrap();
    let (code, stdout, _) = run_cli(&["template", "lint", good.to_str().unwrap()], "");
    assert_eq!((code, stdout.as_str()), (0, ""));

    let wrong = dir.path().join("wrong.yaml");
    let expectation =
        "      mapping: \"root = this\\nroot.name = this.name.uppercase() + \\\"!\\\"\"";
    std::fs::write(
        &wrong,
        SHOUT
            .replace("name: shout", "name: shout_wrong")
            .replace(expectation, "      mapping: root = 1")
            .replace("      field: name", "      field: name\n      colour: red"),
    )
    .unwrap();
    let (code, stdout, _) = run_cli(&["template", "lint", wrong.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(
        stdout.contains("test 'one mark by default': field colour not recognised"),
        "{stdout}"
    );

    let mismatch = dir.path().join("mismatch.yaml");
    std::fs::write(
        &mismatch,
        SHOUT
            .replace("name: shout", "name: shout_mismatch")
            .replace(expectation, "      mapping: root = 1"),
    )
    .unwrap();
    let (code, stdout, _) = run_cli(&["template", "lint", mismatch.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(
        stdout.contains("test 'one mark by default': mismatch between expected and actual"),
        "{stdout}"
    );
}
