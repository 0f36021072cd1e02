//! The `http` processor: the `http_client` request mid-pipeline, its
//! response replacing the message, a failure flagging it (spec 1.3).

use std::time::Duration;

use crate::messages::multipart_parts;
use crate::support::{Sluice, client, post};
use crate::upstream::{Reply, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrich_call_and_answer_with_sync_response() {
    let upstream = Upstream::start(|seen, _| {
        let input: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
        Reply::ok(
            serde_json::json!({
                "city": input["location"],
                "units": input["units"],
                "temperature": 22,
            })
            .to_string(),
        )
        .header("Content-Type", "application/json")
    })
    .await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: |
        root = this
        root.units = "metric"
    - http:
        url: {}
        verb: POST
        retry_period: 100ms
    - mapping: |
        root = this
        root.status = @http_status_code
output:
  sync_response: {{}}
"#,
        upstream.url("/forecast")
    ));
    let (status, body) = post(&sluice, "/post", r#"{"location":"Berlin"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"city":"Berlin","status":200,"temperature":22,"units":"metric"}"#
    );
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].text(), r#"{"location":"Berlin","units":"metric"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_flags_the_message_and_the_caller_gets_it_unchanged() {
    let upstream = Upstream::always(Reply::new(500, "down")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = content().uppercase()
    - http:
        url: {}
        retries: 1
        retry_period: 100ms
output:
  sync_response: {{}}
"#,
        upstream.url("/x")
    ));
    let (status, body) = post(&sluice, "/post", "abc").await;
    assert_eq!((status, body.as_str()), (200, "ABC"));
    assert_eq!(upstream.wait_for(2, Duration::from_secs(1)).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_and_status_of_a_failed_request_can_be_caught() {
    let upstream = Upstream::always(Reply::new(503, "busy")).await;
    let url = upstream.url("/x");
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - http:
        url: {url}
        retries: 0
    - catch:
        - mapping: 'root = "%v|%s".format(@http_status_code, error())'
output:
  sync_response: {{}}
"#
    ));
    let (status, body) = post(&sluice, "/post", "abc").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!(
            "503|{url}: HTTP request returned unexpected response code (503): 503 Service Unavailable, Error: busy"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_response_becomes_several_messages() {
    let upstream = Upstream::always(Reply::multipart(&["a", "b", "c"])).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - http:
        url: {}
    - mapping: root = content().uppercase()
output:
  sync_response: {{}}
"#,
        upstream.url("/x")
    ));
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    let body = res.text().await.unwrap();
    let bodies: Vec<String> = multipart_parts(&content_type, &body)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(bodies, ["A", "B", "C"]);
}

#[test]
fn output_only_fields_are_refused_on_the_processor() {
    for (field, yaml) in [
        ("propagate_response", "propagate_response: true"),
        ("multipart", "multipart: [{body: x}]"),
        ("max_in_flight", "max_in_flight: 2"),
    ] {
        let (_dir, path) = crate::support::write_config(&format!(
            r#"
input:
  stdin: {{}}
pipeline:
  processors:
    - http:
        url: http://127.0.0.1:9/x
        {yaml}
output:
  drop: {{}}
"#
        ));
        let (code, stdout, stderr) =
            crate::support::run_cli(&["lint", &path.display().to_string()], "");
        assert_ne!(code, 0, "{field}");
        assert!(
            format!("{stdout}{stderr}").contains(&format!(
                "field {field} is invalid when the component type is http"
            )),
            "{stdout}{stderr}"
        );
    }
}

/// The `http_client` input polls its URL; each response is a message, the
/// payload of the next request reads the previous response, and an empty
/// body is skipped.
// Two workers: the upstream answers while the test waits for the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_client_input_polls_and_carries_a_cursor_forward() {
    let upstream = Upstream::start(|_, n| match n {
        2 => Reply::ok(""),
        n => Reply::ok(format!(r#"{{"page":{n}}}"#)).header("X-Cursor", &format!("c{n}")),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pages.jsonl");
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_client:
    url: {}
    verb: POST
    payload: 'after=${{! meta("x-cursor").or("start") }}'
    extract_headers:
      include_patterns: [ "^x-cursor$" ]
    rate_limit: pace
pipeline:
  processors:
    - mapping: 'root = this.merge({{"status": meta("http_status_code")}})'
output:
  file:
    path: {}
    codec: lines
rate_limit_resources:
  - label: pace
    local:
      count: 1
      interval: 100ms
"#,
        upstream.url("/feed"),
        out.display()
    ));
    let lines = crate::support::read_lines(&out, 3, Duration::from_secs(10));
    assert!(lines.len() >= 3, "{lines:?} {}", sluice.logs());
    assert_eq!(
        &lines[..3],
        [
            r#"{"page":0,"status":"200"}"#,
            r#"{"page":1,"status":"200"}"#,
            r#"{"page":3,"status":"200"}"#
        ]
    );
    let seen = upstream.seen();
    assert_eq!(seen[0].text(), "after=start");
    assert_eq!(seen[1].text(), "after=c0");
    assert_eq!(seen[2].text(), "after=c1");
    // The empty answer made no message and left the cursor where it was.
    assert_eq!(seen[3].text(), "after=c1");
    assert_eq!(seen[0].method, "POST");
}
