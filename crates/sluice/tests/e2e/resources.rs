//! `input_resources`, `processor_resources` and `output_resources`, used
//! through `resource` components.

use crate::support::{Sluice, post, run_cli, write_config};

#[tokio::test]
async fn processor_and_output_resources_run_where_they_are_named() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - resource: shout
    - resource: exclaim
    - resource: exclaim
output:
  resource: reply
processor_resources:
  - label: shout
    mapping: root = content().uppercase()
  - label: exclaim
    mapping: root = content() + "!"
output_resources:
  - label: reply
    sync_response: {}
"#,
    );
    assert_eq!(post(&sluice, "/post", "hi").await, (200, "HI!!".to_owned()));
}

#[tokio::test]
async fn an_input_resource_brings_its_processors() {
    let sluice = Sluice::start(
        r#"
input:
  resource: api
  processors:
    - mapping: root = content() + " and more"
pipeline:
  processors: []
output:
  sync_response: {}
input_resources:
  - label: api
    http_server:
      path: /api
    processors:
      - mapping: root = "got " + content()
"#,
    );
    assert_eq!(
        post(&sluice, "/api", "x").await,
        (200, "got x and more".to_owned())
    );
}

#[test]
fn resource_mistakes_are_lints_with_their_lines() {
    let (_dir, path) = write_config(
        r#"input:
  resource: api
pipeline:
  processors:
    - resource: missing
    - resource: loop
output:
  drop: {}
input_resources:
  - label: api
    stdin: {}
processor_resources:
  - mapping: root = this
  - label: loop
    resource: loop
  - label: broken
    mapping: root = (
"#,
    );
    let path = path.to_str().unwrap();
    let (code, _, stderr) = run_cli(&["lint", path], "");
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.matches("refers to itself").count(), 1, "{stderr}");
    for expected in [
        "(5,17) processor resource 'missing' was not found",
        "(15,15) processor resource 'loop' refers to itself",
        "(13,5) processor resource requires a label",
        "(17,22) failed to parse mapping: line 1 char 9",
    ] {
        assert!(
            stderr.contains(&format!("{path}{expected}")),
            "{expected} missing in:\n{stderr}"
        );
    }
}

#[test]
fn an_input_resource_is_read_by_one_consumer() {
    let (_dir, path) = write_config(
        r#"input:
  broker:
    inputs:
      - resource: lines
      - resource: lines
output:
  drop: {}
input_resources:
  - label: lines
    stdin: {}
"#,
    );
    let path = path.to_str().unwrap();
    let (code, _, stderr) = run_cli(&["lint", path], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "{path}(5,19) input resource 'lines' is used more than once"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn resource_files_from_the_command_line_join_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.yaml");
    std::fs::write(
        &file,
        "processor_resources:\n  - label: shout\n    mapping: root = content().uppercase()\n",
    )
    .unwrap();
    let pattern = dir.path().join("*.yaml");
    let sluice = Sluice::start_with_args(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - resource: shout
output:
  sync_response: {}
"#,
        &["-r", pattern.to_str().unwrap()],
    );
    assert_eq!(post(&sluice, "/post", "hi").await, (200, "HI".to_owned()));
}

#[test]
fn a_resource_file_with_problems_is_reported_with_its_own_lines() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "processor_resources:\n  - label: bad\n    mapping: root = (\n",
    )
    .unwrap();
    let misplaced = dir.path().join("misplaced.yaml");
    std::fs::write(&misplaced, "input:\n  stdin: {}\n").unwrap();
    let (_cfg_dir, config) = write_config("input:\n  stdin: {}\noutput:\n  drop: {}\n");
    let config = config.to_str().unwrap();

    let (code, _, stderr) = run_cli(&["run", "-r", broken.to_str().unwrap(), config], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "{}(3,22) failed to parse mapping: line 1 char 9",
            broken.display()
        )),
        "{stderr}"
    );
    let (code, _, stderr) = run_cli(&["run", "-r", misplaced.to_str().unwrap(), config], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("field input is not allowed in a resource file"),
        "{stderr}"
    );
    let missing = dir.path().join("nothing-*.yaml");
    let (code, _, stderr) = run_cli(&["run", "-r", missing.to_str().unwrap(), config], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("was not found"), "{stderr}");
}

/// As in Benthos, a resource is one instance however often it is named: an
/// `http` processor resource used twice keeps one connection pool, and an
/// `http_client` output resource behind two `switch` cases one client, so
/// each downstream sees a single kept-alive connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reference_to_a_resource_shares_its_one_instance() {
    use crate::upstream::{Reply, Upstream};
    let enrich = Upstream::start(|seen, _| Reply::ok(format!("{}+", seen.text()))).await;
    let store = Upstream::always(Reply::ok("stored")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - resource: enrich
    - resource: enrich
output:
  broker:
    pattern: fan_out
    outputs:
      - switch:
          cases:
            - check: content().has_prefix("a")
              output:
                resource: store
            - output:
                resource: store
      - sync_response: {{}}
processor_resources:
  - label: enrich
    http:
      url: {enrich_url}
      verb: POST
output_resources:
  - label: store
    http_client:
      url: {store_url}
      verb: POST
"#,
        enrich_url = enrich.url("/enrich"),
        store_url = store.url("/store"),
    ));
    for body in ["a1", "b1", "a2", "b2"] {
        assert_eq!(
            post(&sluice, "/post", body).await,
            (200, format!("{body}++")),
            "{}",
            sluice.logs()
        );
    }
    assert_eq!(enrich.seen().len(), 8);
    assert_eq!(store.seen().len(), 4);
    assert_eq!(
        (enrich.connections(), store.connections()),
        (1, 1),
        "each resource should hold one connection to its downstream"
    );
}
