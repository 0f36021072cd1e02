//! The `buffer` section: `memory` answers callers once their message is
//! buffered and batches what leaves it; `system_window` holds messages
//! until their window of the clock closes and emits the window as a batch.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::{Sluice, client, lint, post};
use crate::upstream::{Reply, Upstream};

#[tokio::test]
async fn memory_buffer_answers_at_once_batches_by_policy_and_redelivers_nacks() {
    // The first write fails: the batch goes back into the buffer and is
    // written again, so nothing the callers were promised is lost.
    let upstream = Upstream::sequence(vec![Reply::new(500, "down"), Reply::ok("")]).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /in
buffer:
  memory:
    batch_policy:
      enabled: true
      count: 3
pipeline:
  threads: 1
  processors:
    - archive: {{ format: lines }}
output:
  http_client:
    url: {}
    verb: POST
    retries: 0
    max_in_flight: 1
"#,
        upstream.url("/out")
    ));
    for n in 1..=6 {
        let (status, body) = post(&sluice, "/in", &format!("m{n}")).await;
        // Acknowledged by the buffer: an empty 200, whatever happens later.
        assert_eq!((status, body.as_str()), (200, ""), "m{n}");
    }
    let seen = upstream.wait_for(3, Duration::from_secs(10)).await;
    let bodies: Vec<String> = seen.iter().map(|s| s.text()).collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(bodies[0], "m1\nm2\nm3", "the first batch, refused");
    let mut delivered = bodies[1..].to_vec();
    delivered.sort();
    assert_eq!(delivered, ["m1\nm2\nm3", "m4\nm5\nm6"]);
}

#[tokio::test]
async fn memory_buffer_flushes_a_partial_batch_after_the_period() {
    let upstream = Upstream::always(Reply::ok("")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /in
buffer:
  memory:
    batch_policy:
      enabled: true
      count: 100
      period: 300ms
      processors:
        - archive: {{ format: json_array }}
output:
  http_client:
    url: {}
    verb: POST
"#,
        upstream.url("/out")
    ));
    let started = Instant::now();
    post(&sluice, "/in", r#"{"n":1}"#).await;
    post(&sluice, "/in", r#"{"n":2}"#).await;
    let seen = upstream.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(seen.len(), 1);
    let batch: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(batch, json!([{"n": 1}, {"n": 2}]));
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn memory_buffer_refuses_a_message_larger_than_its_limit() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /in
buffer:
  memory:
    limit: 10
output:
  drop: {}
"#,
    );
    let (status, body) = post(&sluice, "/in", "small").await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, body) = post(&sluice, "/in", "far too large for it").await;
    assert_eq!(status, 502);
    assert_eq!(body, "message body larger than buffer space\n");
}

const BUFFERED_SYNC_RESPONSE: &str = r#"
input:
  http_server:
    path: /in
  processors:
    - mapping: 'root = content().uppercase()'
    - sync_response: {}
buffer:
  memory: {}
pipeline:
  processors:
    - mapping: 'root = "from the pipeline"'
output:
  sync_response: {}
"#;

#[tokio::test]
async fn past_a_memory_buffer_only_the_inputs_processors_can_answer() {
    // As in Benthos: the caller is answered when its message is buffered,
    // with what the input's processors stored; the output's answer comes
    // too late for anyone.
    let sluice = Sluice::start(BUFFERED_SYNC_RESPONSE);
    let (status, body) = post(&sluice, "/in", "hello").await;
    assert_eq!((status, body.as_str()), (200, "HELLO"));
    let without_input_answer = BUFFERED_SYNC_RESPONSE.replace("    - sync_response: {}\n", "");
    let sluice = Sluice::start(&without_input_answer);
    let (status, body) = post(&sluice, "/in", "hello").await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(
        sluice.wait_for_log(
            "the memory buffer acknowledges each http_server request once it is buffered",
            Duration::from_secs(5)
        ),
        "{}",
        sluice.logs()
    );
}

#[test]
fn lint_warns_when_a_buffer_makes_the_synchronous_response_useless() {
    let (code, out) = lint(BUFFERED_SYNC_RESPONSE);
    assert_eq!(code, 0, "warnings do not fail lint: {out}");
    assert_eq!(
        out.trim(),
        "x.yaml(9,3) warning: the memory buffer acknowledges each http_server request once it is buffered, so the caller gets an empty 200 before the synchronous response at line 14 is made (as in Benthos); answer from the input's processors instead"
    );
    let window = r#"
input:
  http_server:
    path: /in
buffer:
  system_window:
    size: 1m
output:
  sync_response: {}
"#;
    let (code, out) = lint(window);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "x.yaml(6,3) warning: the system_window buffer holds each http_server request until its window is delivered, up to 1m0s, longer than the http_server timeout of 5s: callers still waiting then get 408 and the synchronous response at line 9 answers nobody"
    );
    let (code, out) = lint(&window.replace("1m", "2s"));
    assert_eq!(
        (code, out.trim()),
        (0, ""),
        "a window shorter than the timeout"
    );
}

#[tokio::test]
async fn system_window_emits_each_window_of_event_time_as_a_batch() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /in
    timeout: 15s
buffer:
  system_window:
    timestamp_mapping: root = this.ts
    size: 2s
pipeline:
  threads: 1
  processors:
    - mapping: |
        root.id = this.id
        root.window_end = @window_end_timestamp
        root.window_end_unix = @window_end_timestamp.ts_unix()
        root.in_window = batch_size()
output:
  sync_response: {}
"#,
    );
    // The window after the current one, so that none of the messages is
    // late whatever the moment the test runs.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let start = (now.as_secs() / 2 + 1) * 2;
    let events = [
        ("a", start as f64 + 0.2),
        ("b", start as f64 + 0.9),
        ("c", start as f64 + 1.7),
        ("d", start as f64 + 2.5),
    ];
    let calls = events.iter().map(|(id, ts)| {
        let url = sluice.url("/in");
        let body = json!({"id": id, "ts": ts}).to_string();
        async move {
            let res = client().post(url).body(body).send().await.unwrap();
            let status = res.status().as_u16();
            let bytes = res.bytes().await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    });
    let answers = futures::future::join_all(calls).await;
    // Each caller is answered with its own message, once its window closed.
    let end = start + 2;
    let end_text = |unix: u64| {
        chrono::DateTime::from_timestamp(i64::try_from(unix).expect("in range"), 0)
            .expect("a representable time")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let expected: Vec<(u16, Value)> = vec![
        (
            200,
            json!({"id": "a", "window_end": end_text(end), "window_end_unix": end, "in_window": 3}),
        ),
        (
            200,
            json!({"id": "b", "window_end": end_text(end), "window_end_unix": end, "in_window": 3}),
        ),
        (
            200,
            json!({"id": "c", "window_end": end_text(end), "window_end_unix": end, "in_window": 3}),
        ),
        (
            200,
            json!({"id": "d", "window_end": end_text(end + 2), "window_end_unix": end + 2, "in_window": 1}),
        ),
    ];
    assert_eq!(answers, expected);
    // A message without a usable timestamp is refused with the reason.
    let (status, body) = post(&sluice, "/in", r#"{"id": "e"}"#).await;
    assert_eq!(status, 502);
    assert!(
        body.starts_with("unable to parse result of timestamp mapping as timestamp"),
        "{body}"
    );
}

// `wait_exit` blocks its thread; the caller's request runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_nacks_the_messages_of_unfinished_windows() {
    let mut sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /in
    timeout: 2m
buffer:
  system_window:
    size: 1h
output:
  drop: {}
"#,
    );
    let url = sluice.url("/in");
    let call = tokio::spawn(async move {
        let res = client().post(url).body("late").send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    });
    // Wait until the message is in its window.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sluice
        .metrics()
        .await
        .lines()
        .any(|l| l.starts_with("input_received{") && l.ends_with(" 1"))
    {
        assert!(Instant::now() < deadline, "the message never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = Instant::now();
    sluice.terminate();
    let (status, body) = call.await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (502, "message rejected as window did not complete\n")
    );
    assert!(sluice.wait_exit(Duration::from_secs(10)).is_some());
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "well before the shutdown timeout"
    );
}
