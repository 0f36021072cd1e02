//! `inproc` pipes between streams, the `sequence` input, input scanners and
//! the `ttlru` and `multilevel` caches, through the real binary.

use std::time::Duration;

use crate::support::{Sluice, post, read_lines, run_cli, write_config};

/// A stream that answers each POST to `/in` once the message went through
/// the inproc pipe `pipe` and the reading stream's output took it.
fn inproc_writer(pipe: &str) -> String {
    format!(
        r#"
input:
  http_server:
    path: /in
output:
  inproc: {pipe}
"#
    )
}

#[tokio::test]
async fn inproc_joins_streams_and_acknowledges_once_the_reader_wrote() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.txt");
    let reader = format!(
        r#"
input:
  inproc: records
pipeline:
  processors:
    - mapping: 'root = content().uppercase()'
output:
  file:
    path: {}
    codec: lines
"#,
        out.display()
    );
    let sluice = Sluice::start_streams(
        &[
            ("ingest.yaml", &inproc_writer("records")),
            ("store.yaml", &reader),
        ],
        &[],
    );
    for body in ["one", "two", "three"] {
        let (status, _) = post(&sluice, "/ingest/in", body).await;
        assert_eq!(status, 200, "{}", sluice.logs());
    }
    // Each request was answered after the reader's output wrote its line.
    assert_eq!(
        read_lines(&out, 3, Duration::from_millis(0)),
        ["ONE", "TWO", "THREE"]
    );
}

#[tokio::test]
async fn an_inproc_write_fails_when_the_reading_stream_fails_it() {
    let reader = r#"
input:
  inproc: refused
output:
  reject: 'no room for ${! content() }'
"#;
    let sluice = Sluice::start_streams(
        &[
            ("ingest.yaml", &inproc_writer("refused")),
            ("refuse.yaml", reader),
        ],
        &[],
    );
    let (status, body) = post(&sluice, "/ingest/in", "this").await;
    assert_eq!(status, 502, "{}", sluice.logs());
    assert!(body.contains("no room for this"), "{body}");
}

#[tokio::test]
async fn inproc_works_inside_one_config_and_keeps_the_callers_response() {
    // The first pass goes round the pipe; the second answers the request
    // the message came from, which the pipe carried along.
    let sluice = Sluice::start(
        r#"
input:
  broker:
    inputs:
      - http_server:
          path: /in
      - inproc: loop
output:
  switch:
    cases:
      - check: '!content().string().has_prefix("looped ")'
        output:
          inproc: loop
          processors:
            - mapping: 'root = "looped " + content()'
      - output:
          sync_response: {}
"#,
    );
    let (status, body) = post(&sluice, "/in", "hi").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "looped hi"),
        "{}",
        sluice.logs()
    );
}

/// Runs `yaml` (with `{dir}` a temp directory that `files` are written
/// into) until its input ends; the temp directory. Configs that check the
/// order of their output run one pipeline thread.
fn run_to_end(yaml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let (dir, path) = write_config(yaml);
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = path.display().to_string();
    let (code, stdout, stderr) = run_cli(&["-c", &path, "--set", "http.address=127.0.0.1:0"], "");
    assert_eq!(code, 0, "{stdout}{stderr}");
    dir
}

fn output_lines(dir: &tempfile::TempDir) -> Vec<String> {
    std::fs::read_to_string(dir.path().join("out.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn sequence_reads_its_inputs_one_after_another() {
    let dir = run_to_end(
        r#"
input:
  sequence:
    inputs:
      - file:
          paths: [ "{dir}/first.txt" ]
      - file:
          paths: [ "{dir}/second.txt" ]
        processors:
          - mapping: 'root = "second " + content()'
pipeline:
  threads: 1
output:
  file:
    path: "{dir}/out.txt"
    codec: lines
"#,
        &[("first.txt", "1\n2\n3\n"), ("second.txt", "4\n5\n")],
    );
    assert_eq!(output_lines(&dir), ["1", "2", "3", "second 4", "second 5"]);
}

#[test]
fn a_sharded_join_merges_the_rows_of_all_inputs_by_identifier() {
    let dir = run_to_end(
        r#"
input:
  sequence:
    sharded_join:
      type: full-outer
      id_path: uuid
      iterations: 3
      merge_strategy: array
    inputs:
      - file:
          paths: [ "{dir}/hobbies.csv", "{dir}/main.csv" ]
          scanner:
            csv: {}
pipeline:
  threads: 1
output:
  file:
    path: "{dir}/out.txt"
    codec: lines
"#,
        &[
            (
                "hobbies.csv",
                "uuid,hobby\nCCC,pokemon go\nAAA,rowing\nAAA,golf\n",
            ),
            (
                "main.csv",
                "uuid,name,age\nAAA,Melanie,34\nBBB,Emma,28\nCCC,Geri,45\n",
            ),
        ],
    );
    let mut joined = output_lines(&dir);
    // Shards come out one after another, so only the set is fixed.
    joined.sort();
    assert_eq!(
        joined,
        [
            r#"{"age":"28","name":"Emma","uuid":"BBB"}"#,
            r#"{"age":"34","hobby":["rowing","golf"],"name":"Melanie","uuid":"AAA"}"#,
            r#"{"age":"45","hobby":"pokemon go","name":"Geri","uuid":"CCC"}"#,
        ]
    );
}

#[test]
fn the_csv_scanner_turns_rows_into_objects_keyed_by_the_header() {
    let dir = run_to_end(
        r#"
input:
  file:
    paths: [ "{dir}/people.csv" ]
    scanner:
      csv:
        custom_delimiter: ";"
pipeline:
  threads: 1
  processors:
    - mutation: 'root.row = @csv_row'
output:
  file:
    path: "{dir}/out.txt"
    codec: lines
"#,
        &[(
            "people.csv",
            "name;age;city\nann;34;\"Oslo; Norway\"\n\nbo;28;\"Rome\"\n",
        )],
    );
    assert_eq!(
        output_lines(&dir),
        [
            r#"{"age":"34","city":"Oslo; Norway","name":"ann","row":0}"#,
            r#"{"age":"28","city":"Rome","name":"bo","row":1}"#,
        ]
    );
}

#[test]
fn lines_and_to_the_end_scanners_split_as_configured() {
    let dir = run_to_end(
        r#"
input:
  sequence:
    inputs:
      - file:
          paths: [ "{dir}/pipes.txt" ]
          scanner:
            lines:
              custom_delimiter: "|"
              omit_empty: true
      - file:
          paths: [ "{dir}/whole.txt" ]
          scanner:
            to_the_end: {}
        processors:
          - mapping: 'root = content().string().replace_all("\n", "+")'
pipeline:
  threads: 1
output:
  file:
    path: "{dir}/out.txt"
    codec: lines
"#,
        &[("pipes.txt", "a||b|c"), ("whole.txt", "x\ny\n")],
    );
    assert_eq!(output_lines(&dir), ["a", "b", "c", "x+y+"]);
}

#[test]
fn unsupported_scanners_and_joins_are_lints_at_their_position() {
    let (_dir, path) = write_config(
        r#"input:
  sequence:
    sharded_join:
      type: full-outer
      merge_strategy: nope
    inputs:
      - file:
          paths: [ a.tar ]
          scanner:
            tar: {}
      - stdin:
          scanner:
            lines:
              max_buffer_size: 10
              nope: true
output:
  drop: {}
"#,
    );
    let path = path.display().to_string();
    let (code, _, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(code, 1);
    assert_eq!(
        stderr.replace(&path, "x.yaml"),
        "x.yaml(4,7) invalid sharded join config: the id path must not be empty\n\
         x.yaml(5,23) invalid sharded join config: merge strategy 'nope' was not recognised\n\
         x.yaml(10,13) scanner 'tar' is not supported yet\n\
         x.yaml(15,1) field nope not recognised\n"
    );
}

#[tokio::test]
async fn multilevel_reads_through_and_fills_the_earlier_level() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /cache
pipeline:
  processors:
    - switch:
        - check: this.op == "get"
          processors:
            - cache:
                resource: leveled
                operator: get
                key: ${! this.key }
        - check: this.op == "set"
          processors:
            - cache:
                resource: leveled
                operator: set
                key: ${! this.key }
                value: ${! this.value }
            - mapping: root = "stored"
        - check: this.op == "hot" || this.op == "cold"
          processors:
            - switch:
                - check: this.op == "hot"
                  processors:
                    - cache: { resource: hot, operator: get, key: "${! this.key }" }
                - processors:
                    - cache: { resource: cold, operator: get, key: "${! this.key }" }
    - catch:
        - mapping: 'root = "failed: " + error()'
output:
  sync_response: {}
cache_resources:
  - label: leveled
    multilevel: [ hot, cold ]
  - label: hot
    memory: {}
  - label: cold
    ttlru:
      cap: 10
      default_ttl: 1h
      init_values:
        k: from cold
"#,
    );
    let ask = |op: &str, key: &str, value: &str| {
        format!(r#"{{"op":"{op}","key":"{key}","value":"{value}"}}"#)
    };
    let send = async |body: String| {
        let (status, text) = post(&sluice, "/cache", &body).await;
        assert_eq!(status, 200, "{}", sluice.logs());
        text
    };
    assert_eq!(
        send(ask("hot", "k", "")).await,
        "failed: key does not exist"
    );
    assert_eq!(send(ask("get", "k", "")).await, "from cold");
    // The hit in the second level was written back to the first.
    assert_eq!(send(ask("hot", "k", "")).await, "from cold");

    assert_eq!(send(ask("set", "n", "new")).await, "stored");
    assert_eq!(send(ask("hot", "n", "")).await, "new");
    assert_eq!(send(ask("cold", "n", "")).await, "new");
}

#[test]
fn multilevel_needs_two_levels_that_exist() {
    let (_dir, path) = write_config(
        r#"input:
  stdin: {}
output:
  drop: {}
cache_resources:
  - label: one
    multilevel: [ hot ]
  - label: two
    multilevel: [ hot, missing ]
  - label: hot
    ttlru:
      cap: 0
"#,
    );
    let path = path.display().to_string();
    let (code, _, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(code, 1);
    let stderr = stderr.replace(&path, "x.yaml");
    assert!(
        stderr.contains("x.yaml(7,17) expected at least two cache levels, found 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("x.yaml(9,24) cache resource 'missing' was not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "x.yaml(12,12) invalid ttlru cache parameter capacity: must be bigger than 0"
        ),
        "{stderr}"
    );
}

#[test]
fn ttlru_takes_its_deprecated_ttl_with_a_warning() {
    let (_dir, path) = write_config(
        r#"input:
  generate:
    count: 1
    mapping: 'root = "k"'
pipeline:
  processors:
    - cache:
        resource: lookup
        operator: get
        key: ${! content() }
output:
  stdout: {}
cache_resources:
  - label: lookup
    ttlru:
      ttl: 1m
      init_values:
        k: found
"#,
    );
    let path = path.display().to_string();
    let (code, stdout, stderr) = run_cli(&["-c", &path, "--set", "http.address=127.0.0.1:0"], "");
    assert_eq!((code, stdout.as_str()), (0, "found\n"), "{stderr}");
    assert!(
        stderr.contains(r#"(16,12) field \"ttl\" is deprecated, please use \"default_ttl\""#),
        "{stderr}"
    );
}
