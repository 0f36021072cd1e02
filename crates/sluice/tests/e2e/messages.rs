//! Spec section 1: copies, processor failures, nacks and the response store.

use futures::StreamExt as _;

use crate::support::{Sluice, client};

#[tokio::test]
async fn fan_out_copies_do_not_share_changes() {
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
          path: "{dir}/a.txt"
        processors:
          - mapping: root = "A"
      - sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("original")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "original");
    let stored = std::fs::read_to_string(sluice.dir.join("a.txt")).unwrap();
    assert_eq!(stored, "A\n");
}

#[tokio::test]
async fn failed_mapping_answers_the_unchanged_body() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = this.missing.uppercase()
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"a":1}"#);
    assert!(
        sluice.wait_for_log(
            "failed assignment (line 1)",
            std::time::Duration::from_secs(2)
        ),
        "the mapping failure is logged: {}",
        sluice.logs()
    );
}

#[tokio::test]
async fn deleting_every_message_acks_with_an_empty_reply() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = deleted()
output:
  reject: "should never be written"
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "0");
    assert!(res.headers().get("content-type").is_none());
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn reject_output_nacks_with_502_and_the_reason() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  reject: 'nope'
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.text().await.unwrap(), "nope\n");
}

/// Splits a `multipart/form-data` reply into (part content type, part body).
pub(crate) fn multipart_parts(content_type: &str, body: &str) -> Vec<(String, String)> {
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let delimiter = format!("--{boundary}");
    let (parts, end) = body
        .rsplit_once(&format!("{delimiter}--"))
        .unwrap_or_else(|| panic!("no closing boundary in {body:?}"));
    assert!(end == "\r\n" || end.is_empty(), "trailer {end:?}");
    parts
        .split(&delimiter)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let part = part
                .strip_prefix("\r\n")
                .expect("part starts on a new line");
            let part = part.strip_suffix("\r\n").unwrap_or(part);
            let (head, body) = part.split_once("\r\n\r\n").expect("part header");
            let content_type = head
                .strip_prefix("Content-Type: ")
                .unwrap_or_else(|| panic!("part header {head:?}"));
            (content_type.to_owned(), body.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn processor_and_output_responders_give_a_multipart_reply() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - sync_response: {}
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let parts = multipart_parts(&content_type, &res.text().await.unwrap());
    assert_eq!(
        parts,
        vec![
            ("text/plain; charset=utf-8".to_owned(), "hi".to_owned()),
            ("text/plain; charset=utf-8".to_owned(), "hi".to_owned()),
        ]
    );
}

#[tokio::test]
async fn batching_across_requests_answers_each_caller_with_its_own_body() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  broker:
    batching:
      count: 4
      period: 50ms
    outputs:
      - sync_response: {}
      - file:
          path: "{dir}/batched.txt"
"#,
    );
    let client = client();
    let replies: Vec<(String, u16, String)> = futures::stream::iter(0..4)
        .map(|i| {
            let client = client.clone();
            let url = sluice.url("/post");
            async move {
                let body = format!("caller-{i}");
                let res = client.post(url).body(body.clone()).send().await.unwrap();
                let status = res.status().as_u16();
                (body, status, res.text().await.unwrap())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (sent, status, got) in replies {
        assert_eq!(status, 200);
        assert_eq!(got, sent);
    }
    let mut stored = crate::support::read_lines(
        &sluice.dir.join("batched.txt"),
        4,
        std::time::Duration::from_secs(1),
    );
    stored.sort();
    assert_eq!(stored, ["caller-0", "caller-1", "caller-2", "caller-3"]);
}
