//! Outputs that wrap outputs, over real HTTP: switch, fallback, retry,
//! drop_on and reject_errored, with `sync_response` inside them answering
//! only once the chosen output has acknowledged.

use std::time::Duration;

use crate::support::{Sluice, post, read_lines};

#[tokio::test]
async fn switch_routes_each_request_and_answers_after_its_outputs() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  switch:
    cases:
      - check: this.kind == "audit"
        continue: true
        output:
          file:
            path: '{dir}/audit.jsonl'
            codec: lines
      - check: this.kind == "audit" || this.kind == "order"
        output:
          broker:
            pattern: fan_out
            outputs:
              - file:
                  path: '{dir}/orders.jsonl'
                  codec: lines
              - sync_response: {}
                processors:
                  - mapping: 'root = "stored " + this.id'
      - output:
          sync_response: {}
          processors:
            - mapping: 'root = "other " + this.id'
"#,
    );
    let (status, body) = post(&sluice, "/post", r#"{"kind":"order","id":"o1"}"#).await;
    assert_eq!((status, body.as_str()), (200, "stored o1"));
    let (_, body) = post(&sluice, "/post", r#"{"kind":"audit","id":"a1"}"#).await;
    assert_eq!(body, "stored a1");
    let (_, body) = post(&sluice, "/post", r#"{"kind":"misc","id":"m1"}"#).await;
    assert_eq!(body, "other m1");
    // The answer came after the files were written.
    let orders = std::fs::read_to_string(sluice.dir.join("orders.jsonl")).unwrap();
    assert_eq!(
        orders,
        "{\"kind\":\"order\",\"id\":\"o1\"}\n{\"kind\":\"audit\",\"id\":\"a1\"}\n"
    );
    let audit = read_lines(
        &sluice.dir.join("audit.jsonl"),
        1,
        std::time::Duration::from_secs(5),
    );
    assert_eq!(audit, vec![r#"{"kind":"audit","id":"a1"}"#]);
}

#[tokio::test]
async fn switch_in_strict_mode_refuses_what_no_case_takes() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  switch:
    strict_mode: true
    cases:
      - check: this.ok == true
        output:
          sync_response: {}
"#,
    );
    let (status, body) = post(&sluice, "/post", r#"{"ok":true}"#).await;
    assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#));
    let (status, body) = post(&sluice, "/post", r#"{"ok":false}"#).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("no switch output conditions were met"),
        "{body}"
    );
}

#[tokio::test]
async fn fallback_moves_on_with_the_reason_in_metadata() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  fallback:
    - reject: 'primary is down'
    - sync_response: {}
      processors:
        - mapping: 'root = "fell back: " + @fallback_error'
"#,
    );
    let (status, body) = post(&sluice, "/post", "x").await;
    assert_eq!((status, body.as_str()), (200, "fell back: primary is down"));
}

#[tokio::test]
async fn retry_gives_up_after_max_retries_with_the_last_error() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  retry:
    max_retries: 2
    backoff:
      initial_interval: 10ms
      max_interval: 20ms
    output:
      reject: 'nope ${! content() }'
"#,
    );
    let (status, body) = post(&sluice, "/post", "x").await;
    assert_eq!(status, 502);
    assert!(body.contains("nope x"), "{body}");
    // Both retries were logged before the answer; the log reader may
    // trail it a little.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sluice.logs().matches("Output failed, retrying.").count() < 2
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sluice.logs().matches("Output failed, retrying.").count(), 2);
}

#[tokio::test]
async fn drop_on_error_acknowledges_what_its_output_refused() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  drop_on:
    error_patterns: [ 'refused' ]
    output:
      reject: 'refused ${! content() }'
"#,
    );
    let (status, _) = post(&sluice, "/post", "x").await;
    assert_eq!(
        status, 200,
        "the refusal matched a pattern: dropped and acked"
    );
    // The log is read from the process's stderr, which may trail the answer.
    assert!(
        sluice.wait_for_log("Output failed, batch dropped.", Duration::from_secs(5)),
        "{}",
        sluice.logs()
    );
}

#[tokio::test]
async fn reject_errored_refuses_failed_messages_only() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: 'root = this.number().string()'
output:
  reject_errored:
    sync_response: {}
"#,
    );
    let (status, body) = post(&sluice, "/post", "12").await;
    assert_eq!((status, body.as_str()), (200, "12"));
    let (status, body) = post(&sluice, "/post", r#""abc""#).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("rejected due to failed processing"), "{body}");
}
