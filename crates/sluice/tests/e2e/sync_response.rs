//! Spec section 4: the `sync_response` output and processor. The seed
//! configs of 4.1 and 4.2 (fan_out with sibling processors, partial
//! processing) are in `seeds.rs`.

use std::time::Duration;

use crate::support::{Sluice, client, read_lines};

#[tokio::test]
async fn stored_response_survives_deleting_the_message() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /oauth/token
pipeline:
  processors:
    - mapping: 'root = {"access_token": "tok", "token_type": "bearer"}'
    - sync_response: {}
    - mapping: root = deleted()
output:
  reject: "nothing reaches the output"
"#,
    );
    let res = client()
        .post(sluice.url("/oauth/token"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"access_token":"tok","token_type":"bearer"}"#
    );
}

#[tokio::test]
async fn processor_reply_waits_for_the_output() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - sync_response: {}
output:
  reject: "downstream failed"
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.text().await.unwrap(), "downstream failed\n");
}

#[tokio::test]
async fn sync_response_without_a_request_is_dropped_without_penalty() {
    let sluice = Sluice::start(
        r#"
input:
  generate:
    count: 2
    interval: 1ms
    mapping: root = "generated"
output:
  broker:
    pattern: fan_out_sequential
    outputs:
      - sync_response: {}
      - file:
          path: "{dir}/out.txt"
"#,
    );
    let lines = read_lines(&sluice.dir.join("out.txt"), 2, Duration::from_secs(5));
    assert_eq!(lines, ["generated", "generated"]);
}
