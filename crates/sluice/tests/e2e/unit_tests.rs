//! `sluice test`: config unit tests as Benthos runs them, plus HTTP
//! request/response cases that run the whole stream over loopback.

use std::path::Path;
use std::process::Command;

use crate::support::{bin, run_cli};

/// Writes `files` (name, text) into a fresh directory.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write file");
    }
    dir
}

/// Runs `sluice test ARGS` inside `dir`; (exit code, stdout, stderr).
fn sluice_test(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .arg("test")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run sluice test");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const UPPERCASE: &str = r#"
pipeline:
  processors:
    - label: shout
      mapping: |
        meta topic = "orders"
        root = content().uppercase()
    - label: wrap
      mapping: 'root = {"value": content().string(), "size": content().length()}'
"#;

#[test]
fn every_condition_passes_when_it_holds() {
    let config = format!(
        r#"{UPPERCASE}
tests:
  - name: content checks
    target_processors: /pipeline/processors/0
    input_batch:
      - content: hello
    output_batches:
      - - content_equals: HELLO
          content_matches: ^HEL+O$
          metadata_equals: {{topic: orders}}
          bloblang: 'content() == "HELLO" && @topic == "orders"'
          file_equals: expected.txt
  - name: json checks
    input_batch:
      - content: hello
    output_batches:
      - - json_equals: {{value: HELLO, size: 5}}
          json_contains: {{value: HELLO}}
          file_json_equals: expected.json
          file_json_contains: partial.json
"#
    );
    let dir = project(&[
        ("config.yaml", &config),
        ("expected.txt", "HELLO"),
        ("expected.json", r#"{ "size": 5, "value": "HELLO" }"#),
        ("partial.json", r#"{"size": 5}"#),
    ]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Test 'config.yaml' succeeded\n  PASS content checks [line 12]\n  PASS json checks [line 22]\n"
    );
}

#[test]
fn every_condition_reports_what_it_expected_and_what_it_got() {
    let config = format!(
        r#"{UPPERCASE}
tests:
  - name: content checks
    target_processors: /pipeline/processors/0
    input_batch:
      - content: hello
    output_batches:
      - - content_equals: hello
          content_matches: ^bye
          metadata_equals: {{topic: refunds}}
          bloblang: 'content() == "hello"'
          file_equals: expected.txt
  - name: json checks
    input_batch:
      - content: hello
    output_batches:
      - - json_equals: {{value: HELLO, size: 6}}
          json_contains: {{value: hello}}
          file_json_equals: expected.json
          file_json_contains: partial.json
"#
    );
    let dir = project(&[
        ("config.yaml", &config),
        ("expected.txt", "hello"),
        ("expected.json", r#"{"value": "HELLO"}"#),
        ("partial.json", r#"{"size": 4}"#),
    ]);
    let (code, stdout, _) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 1, "{stdout}");
    let expected = r#"Test 'config.yaml' failed
  FAIL content checks [line 12]
  FAIL json checks [line 22]

Failures:

--- config.yaml ---

content checks [line 12]:
batch 0 message 0: bloblang: bloblang expression was false
batch 0 message 0: content_equals: content mismatch
  expected: hello
  received: HELLO
batch 0 message 0: content_matches: pattern mismatch
   pattern: ^bye
  received: HELLO
batch 0 message 0: file_equals: content mismatch
  expected: hello
  received: HELLO
batch 0 message 0: metadata_equals: metadata key 'topic' mismatch
  expected: refunds
  received: orders

json checks [line 22]:
batch 0 message 0: file_json_contains: JSON superset mismatch
  expected: {"size":4}
  received: {"size":5,"value":"HELLO"}
    /size: expected 4, received 5
batch 0 message 0: file_json_equals: JSON content mismatch
  expected: {"value":"HELLO"}
  received: {"size":5,"value":"HELLO"}
    /size: unexpected 5
batch 0 message 0: json_contains: JSON superset mismatch
  expected: {"value":"hello"}
  received: {"size":5,"value":"HELLO"}
    /value: expected "hello", received "HELLO"
batch 0 message 0: json_equals: JSON content mismatch
  expected: {"size":6,"value":"HELLO"}
  received: {"size":5,"value":"HELLO"}
    /size: expected 6, received 5
"#;
    assert_eq!(stdout, expected);
}

#[test]
fn several_input_batches_come_out_as_several_batches() {
    let dir = project(&[(
        "config.yaml",
        r#"
pipeline:
  processors:
    - mapping: root = content().uppercase()
tests:
  - name: two batches
    input_batches:
      - - content: a
        - content: b
      - - content: c
    output_batches:
      - - content_equals: A
        - content_equals: B
      - - content_equals: C
  - name: too few expected
    input_batches:
      - - content: a
      - - content: c
    output_batches:
      - - content_equals: A
"#,
    )]);
    let (code, stdout, _) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("  PASS two batches [line 6]\n"), "{stdout}");
    assert!(
        stdout.contains("too few expected [line 15]:\nunexpected batch: [C]\n"),
        "{stdout}"
    );
}

#[test]
fn target_processors_by_path_by_label_and_in_another_file() {
    let dir = project(&[
        ("config.yaml", UPPERCASE),
        (
            "config_benthos_test.yaml",
            r#"
tests:
  - name: by label
    target_processors: wrap
    input_batch:
      - content: hey
    output_batches:
      - - json_equals: {value: hey, size: 3}
  - name: by path
    target_processors: /pipeline/processors/1
    input_batch:
      - content: hey
    output_batches:
      - - json_equals: {value: hey, size: 3}
  - name: in another file
    target_processors: 'other.yaml#/pipeline/processors'
    input_batch:
      - content: hey
    output_batches:
      - - content_equals: hey!
  - name: unknown label
    target_processors: nope
    input_batch:
      - content: hey
"#,
        ),
        (
            "other.yaml",
            "pipeline:\n  processors:\n    - mapping: root = content() + \"!\"\n",
        ),
    ]);
    let (code, stdout, _) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("  PASS by label [line 3]\n"), "{stdout}");
    assert!(stdout.contains("  PASS by path [line 9]\n"), "{stdout}");
    assert!(
        stdout.contains("  PASS in another file [line 15]\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "unknown label [line 21]:\nfailed to initialise processors 'nope': target for label 'nope' failed as the label was not found in the test target file\n"
        ),
        "{stdout}"
    );
}

#[test]
fn mocks_replace_a_labelled_processor_and_environment_is_read() {
    let dir = project(&[(
        "config.yaml",
        r#"
pipeline:
  processors:
    - label: fetch
      http:
        url: http://127.0.0.1:1/never
    - mapping: root = content().string() + " ${SUFFIX}"
tests:
  - name: mocked fetch
    environment:
      SUFFIX: from env
    mocks:
      fetch:
        mapping: root = "fetched"
    input_batch:
      - content: x
    output_batches:
      - - content_equals: fetched from env
  - name: mocked by path
    environment:
      SUFFIX: again
    mocks:
      /pipeline/processors/0:
        mapping: root = "by path"
    input_batch:
      - content: x
    output_batches:
      - - content_equals: by path again
"#,
    )]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("  PASS mocked fetch [line 9]\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  PASS mocked by path [line 19]\n"),
        "{stdout}"
    );
}

#[test]
fn env_in_mappings_reads_each_case_environment_and_mocks_can_append() {
    let dir = project(&[(
        "config.yaml",
        r#"
pipeline:
  processors:
    - mapping: 'root = content().string() + " " + env("SLUICE_CASE_VAR").or("unset")'
    - label: fails
      mapping: 'root = throw("it broke")'
tests:
  - name: first
    environment:
      SLUICE_CASE_VAR: one
    input_batch:
      - content: x
    output_batches:
      - - content_equals: x one
  - name: second leaves it unset
    mocks:
      fails:
        mapping: root = content()
    input_batch:
      - content: x
    output_batches:
      - - content_equals: x unset
  - name: an appended processor sees the error
    environment:
      SLUICE_CASE_VAR: two
    mocks:
      /pipeline/processors/-:
        mapping: 'root = content().string() + " / " + error()'
    input_batch:
      - content: x
    output_batches:
      - - content_equals: 'x two / failed assignment (line 1): it broke'
"#,
    )]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for line in [
        "  PASS first [line 8]\n",
        "  PASS second leaves it unset [line 15]\n",
        "  PASS an appended processor sees the error [line 23]\n",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
}

#[test]
fn target_mapping_tests_a_bloblang_file() {
    let dir = project(&[
        (
            "mapping_benthos_test.yaml",
            r#"
tests:
  - name: doubles
    target_mapping: double.blobl
    input_batch:
      - json_content: {n: 21}
    output_batches:
      - - json_equals: {n: 42}
"#,
        ),
        ("mapping.yaml", "input:\n  stdin: {}\n"),
        ("double.blobl", "root.n = this.n * 2\n"),
    ]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Test 'mapping.yaml' succeeded\n  PASS doubles [line 3]\n"
    );
}

#[test]
fn companion_test_files_are_found_under_a_recursive_path() {
    let dir = project(&[
        ("configs/a.yaml", UPPERCASE),
        (
            "configs/a_benthos_test.yaml",
            r#"
tests:
  - name: shouts
    target_processors: shout
    input_batch:
      - content: hi
    output_batches:
      - - content_equals: HI
"#,
        ),
        ("configs/nested/b.yaml", "input:\n  stdin: {}\n"),
    ]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["./..."]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Test 'configs/a.yaml' succeeded\n  PASS shouts [line 3]\n"
    );
    // The test file itself names the same target.
    let (code, stdout, _) = sluice_test(dir.path(), &["configs/a_benthos_test.yaml"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("Test 'configs/a.yaml' succeeded\n"),
        "{stdout}"
    );
}

#[test]
fn a_broken_test_file_is_named_with_its_position() {
    let dir = project(&[
        ("config.yaml", UPPERCASE),
        (
            "config_benthos_test.yaml",
            "tests:\n  - name: typo\n    input_batch:\n      - content: a\n    output_batches:\n      - - content_equal: A\n",
        ),
    ]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        stderr,
        "Failed to read test definition 'config_benthos_test.yaml':\n  config_benthos_test.yaml(6,1) field content_equal not recognised (did you mean content_equals?)\n"
    );

    let dir = project(&[("config.yaml", "tests:\n  - name: bad\n    input_batch: [\n")]);
    let (code, _, stderr) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("Failed to read test definition 'config.yaml':\n  config.yaml("),
        "{stderr}"
    );
}

#[test]
fn set_is_refused_and_no_tests_is_a_failure() {
    let dir = project(&[("config.yaml", UPPERCASE)]);
    let (code, _, stderr) = sluice_test(dir.path(), &["--set", "a.b=c", "config.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "cannot override fields with --set (-s) during unit tests\n"
    );
    let (code, stdout, _) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "No tests were found\n");
    let (code, _, stderr) = run_cli(&["test", "/no/such/dir/..."], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("path '/no/such/dir/...' does not exist"),
        "{stderr}"
    );
}

/// A seed config: an HTTP endpoint answered by a mapping.
const WEATHER: &str = r#"
input:
  http_server:
    address: 0.0.0.0:4195
    path: /weather
pipeline:
  processors:
    - mapping: |
        root = {
          "city": this.location,
          "temperature_c": 22
        }
output:
  sync_response: {}
"#;

#[test]
fn http_cases_send_a_request_through_the_whole_stream() {
    let config = format!(
        r#"{WEATHER}
tests:
  - name: answers berlin
    http_request:
      path: /weather
      verb: POST
      headers:
        Content-Type: application/json
      body: '{{"location": "Berlin"}}'
    http_response:
      status: 200
      headers:
        content-type: application/octet-stream
      json_equals: {{city: Berlin, temperature_c: 22}}
  - name: unknown path
    http_request:
      path: /nope
      verb: GET
    http_response:
      status: 404
"#
    );
    let dir = project(&[("weather.yaml", &config)]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["weather.yaml"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Test 'weather.yaml' succeeded\n  PASS answers berlin [line 17]\n  PASS unknown path [line 29]\n"
    );
}

#[test]
fn http_case_with_a_mocked_kafka_output_in_a_fan_out() {
    let dir = project(&[
        (
            "orders.yaml",
            r#"
input:
  http_server:
    path: /orders
pipeline:
  processors:
    - mapping: 'root = this.merge({"status": "accepted"})'
output:
  broker:
    pattern: fan_out
    outputs:
      - kafka:
          addresses: [ "broker.invalid:9092" ]
          topic: orders
      - sync_response: {}
"#,
        ),
        (
            "orders_benthos_test.yaml",
            r#"
tests:
  - name: accepts an order
    mocks:
      /output/broker/outputs/0:
        drop: {}
    http_request:
      path: /orders
      body: '{"id": 7}'
    http_response:
      status: 200
      body: '{"id":7,"status":"accepted"}'
  - name: wrong expectation
    mocks:
      /output/broker/outputs/0:
        drop: {}
    http_request:
      path: /orders
      body: '{"id": 8}'
    http_response:
      status: 201
      json_contains: {status: rejected}
"#,
        ),
    ]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["orders.yaml"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let expected = r#"Test 'orders.yaml' failed
  PASS accepts an order [line 3]
  FAIL wrong expectation [line 13]

Failures:

--- orders.yaml ---

wrong expectation [line 13]:
http_response: status mismatch
  expected: 201
  received: 200
  body: {"id":8,"status":"accepted"}
http_response: json_contains: JSON superset mismatch
  expected: {"status":"rejected"}
  received: {"id":8,"status":"accepted"}
    /status: expected "rejected", received "accepted"
"#;
    assert_eq!(stdout, expected);
}

#[test]
fn config_problems_fail_the_target_with_their_position() {
    let dir = project(&[
        (
            "bad.yaml",
            r#"pipeline:
  processors:
    - mappin: root = 1
tests:
  - name: typo in the config
    input_batch:
      - content: a
    output_batches:
      - - content_equals: "1"
"#,
        ),
        (
            "stdin.yaml",
            r#"input:
  stdin: {}
output:
  drop: {}
tests:
  - name: no server
    http_request: { path: /post }
    http_response: { status: 200 }
"#,
        ),
    ]);
    let (code, stdout, _) = sluice_test(dir.path(), &["bad.yaml", "stdin.yaml"]);
    assert_eq!(code, 1, "{stdout}");
    let expected = r#"Test 'bad.yaml' failed
  FAIL typo in the config [line 5]
Test 'stdin.yaml' failed
  FAIL no server [line 6]

Failures:

--- bad.yaml ---

Lint: bad.yaml(3,1) unable to infer component type: mappin (did you mean mapping?)

typo in the config [line 5]:
failed to initialise processors '/pipeline/processors': bad.yaml(3,1) unable to infer component type: mappin (did you mean mapping?)

--- stdin.yaml ---

no server [line 6]:
http_request cases need an http_server input, but the input is 'stdin'
"#;
    assert_eq!(stdout, expected);
}

#[test]
fn file_content_metadata_and_unset_variables() {
    let dir = project(&[
        (
            "config.yaml",
            r#"
pipeline:
  processors:
    - mapping: 'root = content().string() + " for " + @customer'
output:
  kafka:
    addresses: [ "${BROKERS}" ]
    topic: orders
tests:
  - name: reads a file and metadata
    input_batch:
      - file_content: inputs/order.txt
        metadata: { customer: acme }
    output_batches:
      - - content_equals: order 7 for acme
          metadata_equals: { customer: acme }
"#,
        ),
        ("inputs/order.txt", "order 7"),
    ]);
    let (code, stdout, stderr) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Test 'config.yaml' succeeded\n  PASS reads a file and metadata [line 10]\n"
    );
}

#[test]
fn components_log_only_when_asked() {
    let config = r#"
pipeline:
  processors:
    - log:
        level: INFO
        message: 'seen ${! content() }'
tests:
  - name: logs
    input_batch:
      - content: hello
    output_batches:
      - - content_equals: hello
"#;
    let dir = project(&[("config.yaml", config)]);
    let (code, _, stderr) = sluice_test(dir.path(), &["config.yaml"]);
    assert_eq!(code, 0);
    assert_eq!(stderr, "");
    let (code, stdout, stderr) = sluice_test(dir.path(), &["--log", "INFO", "-c", "config.yaml"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("seen hello"), "{stderr}");
    assert_eq!(
        stdout,
        "Test 'config.yaml' succeeded\n  PASS logs [line 8]\n"
    );
}
