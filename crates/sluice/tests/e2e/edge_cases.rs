//! Spec section 13: the edge cases users trip over (1, 3, 4, 6 and 7; the
//! others need Kafka or http_client).

use std::time::{Duration, Instant};

use futures::StreamExt as _;

use crate::messages::multipart_parts;
use crate::support::{Sluice, client, read_lines};

#[tokio::test]
async fn output_batching_still_answers_each_caller_with_its_own_messages() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  broker:
    batching:
      count: 3
      period: 50ms
    outputs:
      - sync_response: {}
        processors:
          - mapping: root = content().string() + "!"
"#,
    );
    let client = client();
    let replies: Vec<(String, u16, String)> = futures::stream::iter(0..6)
        .map(|i| {
            let client = client.clone();
            let url = sluice.url("/post");
            async move {
                let body = format!("req{i}");
                let res = client.post(url).body(body.clone()).send().await.unwrap();
                let status = res.status().as_u16();
                (body, status, res.text().await.unwrap())
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    for (sent, status, got) in replies {
        assert_eq!(status, 200, "{sent}");
        assert_eq!(got, format!("{}!", sent.to_uppercase()));
    }
}

#[tokio::test]
async fn failed_mapping_is_not_an_error_unless_caught() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = this.n + 1
    - catch:
        - mapping: 'root = {"error": error()}'
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "2");
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"n":"one"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.starts_with("failed assignment (line 1)"), "{error}");
}

#[tokio::test]
async fn strict_error_handling_nacks_failed_messages() {
    let sluice = Sluice::start(
        r#"
error_handling:
  strict: true
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = this.n + 1
output:
  file:
    path: "{dir}/strict.txt"
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body = res.text().await.unwrap();
    assert!(
        body.starts_with("rejected due to failed processing: "),
        "{body}"
    );
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stored = std::fs::read_to_string(sluice.dir.join("strict.txt")).unwrap();
    assert_eq!(stored, "2\n");
}

/// Strict mode: after a failed step the message skips the rest of the
/// stage (it keeps its pre-failure content), apart from `catch`, which still
/// sees it. Without strict mode the later steps run on it.
#[tokio::test]
async fn strict_error_handling_skips_the_remaining_processors() {
    let config = |strict: bool| {
        format!(
            r#"
error_handling:
  strict: {strict}
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = this.n + 1
    - mapping: root = content().string() + " after"
output:
  sync_response: {{}}
"#
        )
    };
    let strict = Sluice::start(&config(true));
    let lenient = Sluice::start(&config(false));
    let post = |sluice: &Sluice, body: &'static str| {
        let url = sluice.url("/post");
        async move {
            let res = client().post(url).body(body).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    assert_eq!(post(&strict, r#"{"n":1}"#).await, (200, "2 after".into()));
    assert_eq!(
        post(&strict, r#"{"n":"x"}"#).await,
        (200, r#"{"n":"x"}"#.into())
    );
    assert_eq!(
        post(&lenient, r#"{"n":"x"}"#).await,
        (200, r#"{"n":"x"} after"#.into())
    );
}

/// Strict mode leaves `catch` steps of a stage running on failed messages,
/// so a user can still recover them.
#[tokio::test]
async fn strict_error_handling_still_runs_catch() {
    let sluice = Sluice::start(
        r#"
error_handling:
  strict: true
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = this.n + 1
    - mapping: root = "skipped"
    - catch:
        - mapping: root = "recovered " + content().string()
output:
  file:
    path: "{dir}/strict.txt"
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("oops")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stored = std::fs::read_to_string(sluice.dir.join("strict.txt")).unwrap();
    assert_eq!(stored, "recovered oops\n");
}

#[tokio::test]
async fn two_responders_take_status_and_headers_from_the_first_part() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      status: '${! @code }'
      headers:
        X-Part: '${! content() }'
        content-type: '${! @type }'
pipeline:
  processors:
    - mapping: |
        meta code = "202"
        meta type = "text/first"
        root = "first"
    - sync_response: {}
    - mapping: |
        meta code = "500"
        meta type = "text/second"
        root = "second"
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["x-part"], "first");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    let parts = multipart_parts(&content_type, &res.text().await.unwrap());
    assert_eq!(
        parts,
        vec![
            ("text/first".to_owned(), "first".to_owned()),
            ("text/second".to_owned(), "second".to_owned()),
        ]
    );
}

#[tokio::test]
async fn timeout_applies_to_hand_off_and_ack_and_does_not_stop_delivery() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    timeout: 500ms
pipeline:
  threads: 1
  processors:
    - sleep:
        duration: 400ms
output:
  file:
    path: "{dir}/late.txt"
"#,
    );
    let client = client();
    let started = Instant::now();
    let replies: Vec<(u16, Duration)> = futures::stream::iter(0..6)
        .map(|i| {
            let client = client.clone();
            let url = sluice.url("/post");
            async move {
                let res = client.post(url).body(format!("m{i}")).send().await.unwrap();
                (res.status().as_u16(), started.elapsed())
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    let delivered = replies.iter().filter(|(status, _)| *status == 200).count();
    for (status, _) in &replies {
        assert!(*status == 200 || *status == 408, "{replies:?}");
    }
    // One message takes 400ms and only one is processed at a time, so the
    // later callers wait for the hand-off and some then wait for the ack too:
    // longer than one timeout, never much more than two.
    let longest = replies.iter().map(|(_, took)| *took).max().unwrap();
    assert!(
        longest > Duration::from_millis(600) && longest < Duration::from_millis(1500),
        "{replies:?}"
    );
    // Messages whose callers got a 408 after the hand-off are still written.
    let stored = read_lines(
        &sluice.dir.join("late.txt"),
        delivered + 1,
        Duration::from_secs(4),
    );
    assert!(stored.len() > delivered, "{stored:?} after {replies:?}");
}

#[tokio::test]
async fn missing_field_interpolates_as_null_and_fails_a_status() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      status: '${! json("code") }'
      headers:
        X-Name: 'name=${! json("name") }'
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"code":201,"name":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-name"], "name=x");
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn missing_field_in_a_file_path_writes_to_null() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  file:
    path: '{dir}/${! json("topic") }.txt'
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stored = std::fs::read_to_string(sluice.dir.join("null.txt")).unwrap();
    assert_eq!(stored, "{}\n");
}
