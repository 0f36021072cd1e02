//! Every config of the seed documents, verbatim apart from Kafka and external
//! URLs (swapped for a `file` output until those components exist), answers
//! what the documents say.

use crate::support::{Sluice, client};

#[tokio::test]
async fn weather_mapping_answers_the_documented_json() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /weather

pipeline:
  processors:
    - mapping: |
        root = {
          city: json("location"),
          forecast: "Clear skies with light winds",
          temperature_c: 22
        }

output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/weather"))
        .body(r#"{ "location": "Berlin" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"city":"Berlin","forecast":"Clear skies with light winds","temperature_c":22}"#
    );
}

#[tokio::test]
async fn uppercase_with_bloblang_processor() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - bloblang: root = content().uppercase()
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("foo bar")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "FOO BAR");
}

#[tokio::test]
async fn fan_out_with_sibling_processors_answers_uppercase_and_stores_original() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  broker:
    pattern: fan_out
    outputs:
      - file:
          path: "{dir}/foo_topic.txt"
      - sync_response: {}
        processors:
          - bloblang: root = content().uppercase()
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("foo bar")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "FOO BAR");
    // The 200 means every output acknowledged: the record is already there.
    let stored = std::fs::read_to_string(sluice.dir.join("foo_topic.txt")).unwrap();
    assert_eq!(stored, "foo bar\n");
}

#[tokio::test]
async fn fan_out_with_nested_processors_returns_the_status_document() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /weather

output:
  broker:
    pattern: fan_out
    outputs:
      - file:
          path: "{dir}/weather.requests"
      - sync_response:
          processors:
            - mapping: |
                root = {
                  status: "received",
                  received_at: now()
                }
"#,
    );
    let res = client()
        .post(sluice.url("/weather"))
        .body(r#"{ "location": "Berlin" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "received");
    assert!(body["received_at"].as_str().unwrap().contains('T'));
    assert_eq!(body.as_object().unwrap().len(), 2);
    let stored = std::fs::read_to_string(sluice.dir.join("weather.requests")).unwrap();
    assert_eq!(stored, "{ \"location\": \"Berlin\" }\n");
    assert!(
        sluice
            .logs()
            .contains("processors nested inside sync_response"),
        "expected a startup warning about decision 12.2: {}",
        sluice.logs()
    );
}

#[tokio::test]
async fn partial_processing_answers_before_the_last_mapping() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post

pipeline:
  processors:
    - bloblang: root = "%v baz".format(content().string())
    - sync_response: {}
    - bloblang: root = content().uppercase()

output:
  file:
    path: "{dir}/foo_topic.txt"
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("foo bar")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "foo bar baz");
    let stored = std::fs::read_to_string(sluice.dir.join("foo_topic.txt")).unwrap();
    assert_eq!(stored, "FOO BAR BAZ\n");
}

#[tokio::test]
async fn weather_report_is_returned_as_raw_text() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /weather
pipeline:
  processors:
    - mapping: root = "Received weather report for %s".format(json("location"))
    - sync_response: {}
    - mapping: root.reported_at = now()
output:
  file:
    path: "{dir}/reports.txt"
"#,
    );
    let res = client()
        .post(sluice.url("/weather"))
        .body(r#"{ "location": "Berlin" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        res.text().await.unwrap(),
        "Received weather report for Berlin"
    );
    let stored = std::fs::read_to_string(sluice.dir.join("reports.txt")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(stored.trim_end()).unwrap();
    assert!(doc["reported_at"].is_string(), "stored {stored}");
}
