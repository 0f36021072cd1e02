//! Processors that query, check or parse documents in languages other than
//! Bloblang (jmespath, jq, grok, json_schema), and the utility ones
//! (metric, parallel, crash), over real HTTP against the binary.

use std::time::{Duration, Instant};

use crate::support::{Sluice, post};

fn responder(processors: &str) -> Sluice {
    Sluice::start(&responder_config(processors))
}

/// A responder whose messages may take at most `max_steps` steps.
fn responder_with_steps(max_steps: u64, processors: &str) -> Sluice {
    Sluice::start(&format!(
        "bloblang:\n  max_steps: {max_steps}\n{}",
        responder_config(processors)
    ))
}

fn responder_config(processors: &str) -> String {
    format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
{processors}
output:
  sync_response: {{}}
"#
    )
}

/// Turns a flagged message into its error text, so a test reads it in the body.
const ERROR_AS_BODY: &str = r#"    - catch:
        - mapping: 'root = "error: " + error()'"#;

#[tokio::test]
async fn jmespath_replaces_the_document_with_the_query_result() {
    let sluice = responder(&format!(
        r#"    - jmespath:
        query: "locations[?state == 'WA'].name | sort(@) | {{Cities: join(', ', @)}}"
{ERROR_AS_BODY}"#
    ));
    let (status, body) = post(
        &sluice,
        "/post",
        r#"{"locations":[{"name":"Seattle","state":"WA"},{"name":"New York","state":"NY"},{"name":"Bellevue","state":"WA"},{"name":"Olympia","state":"WA"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"Cities":"Bellevue, Olympia, Seattle"}"#);
    let (_, body) = post(&sluice, "/post", "not json").await;
    assert!(body.starts_with("error: "), "{body}");
}

#[test]
fn a_jmespath_query_that_does_not_compile_fails_lint_with_its_line() {
    let (code, text) =
        crate::support::lint("pipeline:\n  processors:\n    - jmespath:\n        query: 'foo[?'\n");
    assert_ne!(code, 0);
    assert!(text.contains("(4,"), "{text}");
    assert!(text.contains("failed to compile JMESPath query"), "{text}");
}

#[tokio::test]
async fn jq_sees_metadata_and_gathers_several_outputs_into_an_array() {
    let sluice = responder(
        r#"    - mapping: |
        meta tenant = "acme"
        root = this
    - jq:
        query: '.items[] | {name, tenant: $metadata.tenant}'"#,
    );
    let (status, body) = post(&sluice, "/post", r#"{"items":[{"name":"a"},{"name":"b"}]}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"[{"name":"a","tenant":"acme"},{"name":"b","tenant":"acme"}]"#
    );
    // One output is the document itself, not an array of one.
    let (_, body) = post(&sluice, "/post", r#"{"items":[{"name":"c"}]}"#).await;
    assert_eq!(body, r#"{"name":"c","tenant":"acme"}"#);
}

#[tokio::test]
async fn jq_raw_in_and_out_and_no_output_drops_the_message() {
    let sluice = responder(
        r#"    - jq:
        raw: true
        output_raw: true
        query: 'select(length > 3) | ascii_upcase'"#,
    );
    let (status, body) = post(&sluice, "/post", "hello").await;
    assert_eq!((status, body.as_str()), (200, "HELLO"));
    // `select` gave nothing: the message is gone and the caller gets the
    // empty answer of a dropped message.
    let (status, body) = post(&sluice, "/post", "hi").await;
    assert_eq!((status, body.as_str()), (200, ""));
}

#[tokio::test]
async fn jq_fromjson_refuses_text_nested_deeper_than_json_allows() {
    let sluice = responder(&format!(
        r#"    - jq:
        query: '.p | fromjson | length'
{ERROR_AS_BODY}"#
    ));
    let (status, body) = post(&sluice, "/post", r#"{"p":"[1,[2,{\"a\":[3]}]]"}"#).await;
    assert_eq!((status, body.as_str()), (200, "2"));
    // Half a million levels would overflow jaq's recursive parser and abort
    // the process; the message fails instead, and the server stays up.
    let deep = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
    let (status, body) = post(&sluice, "/post", &format!(r#"{{"p":"{deep}"}}"#)).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("error: ")
            && body.contains("cannot parse JSON nested more than 10000 deep"),
        "{body}"
    );
    let (status, body) = post(&sluice, "/post", r#"{"p":"[[]]"}"#).await;
    assert_eq!((status, body.as_str()), (200, "1"));
}

#[tokio::test]
async fn jq_loops_run_under_the_message_step_limit() {
    let sluice = responder_with_steps(
        1_000_000,
        &format!(
            r#"    - jq:
        query: '[range(.n)] | length'
{ERROR_AS_BODY}"#
        ),
    );
    let (status, body) = post(&sluice, "/post", r#"{"n":1000}"#).await;
    assert_eq!((status, body.as_str()), (200, "1000"));
    // A trillion turns would take the process's memory (it did: 24 GB,
    // then the kernel's OOM killer); the message fails at the step limit.
    let (status, body) = post(&sluice, "/post", r#"{"n":1000000000000}"#).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("error: ")
            && body.contains("the jq filter exceeded its limit of 1000000 evaluation steps"),
        "{body}"
    );
    let (status, body) = post(&sluice, "/post", r#"{"n":3}"#).await;
    assert_eq!((status, body.as_str()), (200, "3"));
}

#[tokio::test]
async fn jq_generators_keep_their_results_under_the_step_limit() {
    let sluice = responder(&format!(
        r#"    - jq:
        query: '[[range(1; 10; 3)], [range(5; 0; -2)], [range(2; 2; 0)], [limit(3; repeat(.n))], [.n | recurse(if . < 3 then . + 1 else empty end)], [.n | while(. < 8; . * 2)], (.n | until(. > 100; . * 3)), [try (range(.big) | error) catch .] ]'
{ERROR_AS_BODY}"#
    ));
    let (status, body) = post(&sluice, "/post", r#"{"n":1,"big":2}"#).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "[[1,4,7],[5,3,1],[],[1,1,1],[1,2,3],[1,2,4],243,[0]]")
    );
    // A filter that catches the limit's error cannot go on: every step
    // after the limit fails again.
    let sluice = responder_with_steps(
        100_000,
        &format!(
            r#"    - jq:
        query: '[repeat(try (repeat(1)) catch 0)] | length'
{ERROR_AS_BODY}"#
        ),
    );
    let (status, body) = post(&sluice, "/post", "{}").await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("error: ") && body.contains("the jq filter exceeded its limit"),
        "{body}"
    );
}

#[tokio::test]
async fn jq_output_nested_past_the_json_limit_fails_the_message() {
    let sluice = responder(&format!(
        r#"    - jq:
        query: 'reduce range(.n) as $i (0; [.])'
{ERROR_AS_BODY}"#
    ));
    let (status, body) = post(&sluice, "/post", r#"{"n":2}"#).await;
    assert_eq!((status, body.as_str()), (200, "[[0]]"));
    let (status, body) = post(&sluice, "/post", r#"{"n":20000}"#).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("error: ")
            && body.contains("the jq filter built a value nested more than 10000 deep"),
        "{body}"
    );
    // Two hundred thousand levels overflowed the stack writing the output,
    // and five million dropping the value, aborting the process; the turns of
    // the loop run out first.
    for n in [200_000, 1_000_000_000] {
        let (status, body) = post(&sluice, "/post", &format!(r#"{{"n":{n}}}"#)).await;
        assert_eq!(status, 200);
        assert!(
            body.starts_with("error: ") && body.contains("the jq filter exceeded its limit"),
            "{body}"
        );
    }
    let (status, body) = post(&sluice, "/post", r#"{"n":1}"#).await;
    assert_eq!((status, body.as_str()), (200, "[0]"));
}

#[tokio::test]
async fn jq_reads_documents_nested_as_deep_as_json_allows() {
    let sluice = responder(
        r#"    - jq:
        query: '[paths | length] | max'"#,
    );
    // Deeper than serde_json's 128 levels, as gojq reads it.
    let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    let (status, body) = post(&sluice, "/post", &deep).await;
    assert_eq!((status, body.as_str()), (200, "500"));
}

#[tokio::test]
async fn grok_parses_a_log_line_with_typed_and_custom_patterns() {
    let sluice = responder(&format!(
        r#"    - grok:
        expressions:
          - '%{{IPORHOST:client.ip}} %{{WORD:method}} %{{URIPATHPARAM:request}} %{{NUMBER:bytes:int}} %{{NUMBER:duration:float}} %{{TICKET:ticket}}'
        pattern_definitions:
          TICKET: 'T-[0-9]+'
{ERROR_AS_BODY}"#
    ));
    let (status, body) = post(
        &sluice,
        "/post",
        "55.3.244.1 GET /index.html?x=1 15824 0.043 T-991",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"bytes":15824,"client":{"ip":"55.3.244.1"},"duration":0.043,"method":"GET","request":"/index.html?x=1","ticket":"T-991"}"#
    );
    let (_, body) = post(&sluice, "/post", "nothing to see").await;
    assert_eq!(body, "error: no pattern matches found");
}

#[tokio::test]
async fn json_schema_flags_documents_with_benthos_error_texts() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("person.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}}"#,
    )
    .unwrap();
    let sluice = responder(&format!(
        r#"    - json_schema:
        schema_path: "file://{}"
{ERROR_AS_BODY}"#,
        schema.display()
    ));
    let (status, body) = post(&sluice, "/post", r#"{"name":"Ada","age":36}"#).await;
    assert_eq!((status, body.as_str()), (200, r#"{"name":"Ada","age":36}"#));
    let (_, body) = post(&sluice, "/post", r#"{"name":"Ada","age":-1}"#).await;
    assert_eq!(body, "error: age must be greater than or equal to 0");
    let (_, body) = post(&sluice, "/post", r#"{"age":1}"#).await;
    assert_eq!(body, "error: (root) name is required");
}

#[tokio::test]
async fn metric_counts_and_sets_custom_metrics_on_the_metrics_endpoint() {
    let sluice = responder(
        r#"    - metric:
        type: counter
        name: orders_seen
        labels:
          kind: ${! json("kind") }
    - metric:
        type: gauge
        name: order_size
        value: ${! json("size") }
    - metric:
        type: counter_by
        name: items_total
        value: ${! json("size") }"#,
    );
    for (kind, size) in [("book", 3), ("book", 5), ("film", 2)] {
        let (status, _) = post(
            &sluice,
            "/post",
            &format!(r#"{{"kind":"{kind}","size":{size}}}"#),
        )
        .await;
        assert_eq!(status, 200);
    }
    let metrics = sluice.metrics().await;
    assert!(
        metrics.contains(r#"orders_seen{kind="book"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"orders_seen{kind="film"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("order_size 2"), "{metrics}");
    assert!(metrics.contains("items_total 10"), "{metrics}");
}

#[tokio::test]
async fn parallel_runs_the_messages_of_a_batch_at_once_and_keeps_their_order() {
    let sluice = responder(
        r#"    - unarchive:
        format: json_array
    - parallel:
        cap: 4
        processors:
          - sleep:
              duration: 400ms
          - mapping: 'root = this * 10'
    - archive:
        format: json_array"#,
    );
    let started = Instant::now();
    let (status, body) = post(&sluice, "/post", "[1,2,3,4]").await;
    let took = started.elapsed();
    assert_eq!((status, body.as_str()), (200, "[10,20,30,40]"));
    // One after another would take 1.6 s.
    assert!(took < Duration::from_millis(1200), "took {took:?}");
}

#[tokio::test]
async fn crash_logs_its_message_and_ends_the_process_with_status_1() {
    let mut sluice = responder(r#"    - crash: 'poisoned order ${! json("id") }'"#);
    // The process ends before it answers: the request fails.
    let answered = post_may_fail(&sluice, r#"{"id":"o-7"}"#).await;
    assert!(answered.is_err(), "{answered:?}");
    let status = sluice
        .wait_exit(Duration::from_secs(10))
        .expect("the process ends");
    assert_eq!(status.code(), Some(1));
    assert!(sluice.wait_for_log("poisoned order o-7", Duration::from_secs(5)));
}

async fn post_may_fail(sluice: &Sluice, body: &str) -> Result<u16, reqwest::Error> {
    crate::support::client()
        .post(sluice.url("/post"))
        .body(body.to_owned())
        .send()
        .await
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn workflow_orders_branches_by_their_maps_and_records_the_outcome() {
    let sluice = responder(
        r#"    - workflow:
        branches:
          price:
            request_map: 'root = this.sku'
            processors:
              - sleep:
                  duration: 400ms
              - mapping: 'root = {"amount": 12}'
            result_map: 'root.price = this.amount'
          stock:
            request_map: 'root = this.sku'
            processors:
              - sleep:
                  duration: 400ms
              - mapping: 'root = 3'
            result_map: 'root.stock = this'
          total:
            request_map: 'root = this.price * this.stock'
            processors:
              - mapping: 'root = this'
            result_map: 'root.total = this'
          broken:
            request_map: 'root = this.sku'
            processors:
              - mapping: 'root = throw("no such warehouse")'
            result_map: 'root.warehouse = this'"#,
    );
    let started = Instant::now();
    let (status, body) = post(&sluice, "/post", r#"{"sku":"a-1"}"#).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    // `total` ran after the two it reads from, which ran side by side.
    assert_eq!(doc["total"], 36, "{body}");
    assert!(took < Duration::from_millis(780), "took {took:?}");
    assert_eq!(
        doc["meta"]["workflow"]["succeeded"],
        serde_json::json!(["price", "stock", "total"])
    );
    let failed = doc["meta"]["workflow"]["failed"]["broken"]
        .as_str()
        .unwrap();
    assert!(failed.contains("no such warehouse"), "{failed}");
    assert!(doc.get("warehouse").is_none(), "{body}");

    // Sent again with its record, a message only runs what did not succeed.
    let (_, again) = post(&sluice, "/post", &body).await;
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        again["meta"]["workflow"]["skipped"],
        serde_json::json!(["price", "stock", "total"])
    );
    assert!(again["meta"]["workflow"]["failed"]["broken"].is_string());
    assert_eq!(
        again["meta"]["workflow"]["previous"],
        doc["meta"]["workflow"]
    );
}

#[tokio::test]
async fn workflow_without_a_meta_path_flags_the_message_and_follows_an_explicit_order() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - workflow:
        meta_path: ""
        order: [ [ first ], [ second, failing ] ]
        branch_resources: [ first ]
        branches:
          second:
            request_map: 'root = this.first'
            processors:
              - mapping: 'root = content().string() + " then two"'
            result_map: 'root.second = content().string()'
          failing:
            processors:
              - mapping: 'root = throw("down")'
    - catch:
        - mapping: 'root = this.merge({"error": error()})'
output:
  sync_response: {}
processor_resources:
  - label: first
    branch:
      processors:
        - mapping: 'root = "one"'
      result_map: 'root.first = content().string()'
"#,
    );
    let (status, body) = post(&sluice, "/post", r#"{"id":1}"#).await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["first"], "one", "{body}");
    // The order put `first` in a tier before `second`, which read its result.
    assert_eq!(doc["second"], "one then two", "{body}");
    assert_eq!(
        doc["error"], "workflow branches failed: [failing]",
        "{body}"
    );
    assert!(doc.get("meta").is_none(), "{body}");
}

#[test]
fn a_workflow_with_circular_dependencies_fails_lint() {
    let (code, text) = crate::support::lint(
        r#"pipeline:
  processors:
    - workflow:
        branches:
          a:
            request_map: 'root = this.b'
            processors: [ { mapping: 'root = this' } ]
            result_map: 'root.a = this'
          b:
            request_map: 'root = this.a'
            processors: [ { mapping: 'root = this' } ]
            result_map: 'root.b = this'
"#,
    );
    assert_ne!(code, 0);
    assert!(
        text.contains("circular dependencies detected for branches: [a b]"),
        "{text}"
    );
}

#[test]
fn awk_is_refused_with_the_reason_and_its_line() {
    let (code, text) = crate::support::lint(
        "pipeline:\n  processors:\n    - awk:\n        program: '{ print $1 }'\n",
    );
    assert_ne!(code, 0);
    assert!(
        text.contains("(3,")
            && text.contains(
                "processor type 'awk' is not supported yet: there is no maintained awk interpreter"
            ),
        "{text}"
    );
}

const PERSON_PROTO: &str = r#"
syntax = "proto3";
package shop.v1;
import "shop/v1/common.proto";
message Person {
  string full_name = 1;
  int32 age = 2;
  Tier tier = 3;
  repeated string tags = 4;
}
"#;

const COMMON_PROTO: &str = r#"
syntax = "proto3";
package shop.v1;
enum Tier { TIER_UNSPECIFIED = 0; TIER_GOLD = 1; }
"#;

#[tokio::test]
async fn protobuf_converts_json_to_protobuf_bytes_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let protos = dir.path().join("protos/shop/v1");
    std::fs::create_dir_all(&protos).unwrap();
    std::fs::write(protos.join("person.proto"), PERSON_PROTO).unwrap();
    std::fs::write(protos.join("common.proto"), COMMON_PROTO).unwrap();
    let import = dir.path().join("protos");
    let sluice = responder(&format!(
        r#"    - try:
        - protobuf:
            operator: from_json
            message: shop.v1.Person
            import_paths: [ "{import}" ]
        - mapping: 'meta wire = content().encode("hex")'
        - protobuf:
            operator: to_json
            message: shop.v1.Person
            import_paths: [ "{import}" ]
        - mapping: 'root = this.merge({{"wire": @wire}})'
{ERROR_AS_BODY}"#,
        import = import.display()
    ));
    let (status, body) = post(
        &sluice,
        "/post",
        r#"{"fullName":"Ada","age":36,"tier":"TIER_GOLD"}"#,
    )
    .await;
    assert_eq!(status, 200);
    // Field 1 "Ada", field 2 varint 36, field 3 varint 1: the standard wire format.
    assert_eq!(
        body,
        r#"{"age":36,"fullName":"Ada","tier":"TIER_GOLD","wire":"0a0341646110241801"}"#
    );
    // An unknown field is an error unless discard_unknown is set.
    let (_, body) = post(&sluice, "/post", r#"{"fullName":"Ada","shoeSize":9}"#).await;
    assert!(
        body.starts_with("error: unmarshalling JSON message 'shop.v1.Person'"),
        "{body}"
    );
}

#[test]
fn a_protobuf_message_type_that_is_not_defined_fails_lint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("common.proto"), COMMON_PROTO).unwrap();
    let (code, text) = crate::support::lint(&format!(
        "pipeline:\n  processors:\n    - protobuf:\n        operator: to_json\n        message: shop.v1.Missing\n        import_paths: [ \"{}\" ]\n",
        dir.path().display()
    ));
    assert_ne!(code, 0);
    assert!(
        text.contains("unable to find message 'shop.v1.Missing'"),
        "{text}"
    );
}
