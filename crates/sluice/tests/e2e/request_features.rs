//! The opt-in request features beyond Benthos, over real sockets: load
//! shedding (`max_in_flight`), idempotent requests (`idempotency`, with a
//! memory cache and with a redis-server shared by two instances), streamed
//! replies (`sync_response.stream`) and deadline propagation.

use std::time::{Duration, Instant};

use crate::brokers::{Kafka, Record, blocking, consume_until, kafka_brokers, redis_url, unique};
use crate::support::{Sluice, client, post, run_cli, write_config};
use crate::upstream::{Reply, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_in_flight_requests_get_503_at_once_never_408() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /slow
    timeout: 2s
    max_in_flight: 4
pipeline:
  threads: 8
  processors:
    - sleep:
        duration: 300ms
output:
  sync_response: {}
"#,
    );
    let http = client();
    // Ten times what the path admits, all at once.
    let requests = (0..40).map(|i| {
        let http = http.clone();
        let url = sluice.url("/slow");
        async move {
            let started = Instant::now();
            let res = http.post(url).body(format!("r{i}")).send().await.unwrap();
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, retry_after, started.elapsed())
        }
    });
    let answers = futures::future::join_all(requests).await;
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let shed: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    assert_eq!(ok + shed.len(), 40, "only 200 or 503: {answers:?}");
    assert!(ok >= 4, "the admitted ones are answered: {answers:?}");
    assert!(
        shed.len() >= 20,
        "most of a 10x overload is shed: {answers:?}"
    );
    for (_, retry_after, took) in &shed {
        assert_eq!(retry_after.as_deref(), Some("1"), "{answers:?}");
        assert!(*took < Duration::from_millis(250), "shed at once: {took:?}");
    }
    let metrics = sluice.metrics().await;
    let counted = metrics
        .lines()
        .find(|l| l.starts_with("input_http_server_shed{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(counted, Some(shed.len()), "{metrics}");
    assert!(
        sluice.wait_for_log("Shedding load", Duration::from_secs(5)),
        "{}",
        sluice.logs()
    );
}

/// A fan_out to Kafka and an answer that differs on every run of the
/// pipeline (a fresh uuid), so a repeated answer proves a replay.
fn idempotent_fan_out(kafka: &Kafka, topic: &str, cache: &str, extra: &str) -> String {
    format!(
        r#"
input:
  http_server:
    path: /order
    idempotency:
      cache: answers
      ttl: 1m
{extra}
pipeline:
  processors:
    - sleep:
        duration: 200ms
output:
  broker:
    pattern: fan_out
    outputs:
      - kafka:
          addresses: [ {addr} ]
          topic: {topic}
      - sync_response: {{}}
        processors:
          - mapping: 'root = {{"order": content().string(), "run": uuid_v4()}}'
cache_resources:
  - label: answers
{cache}
"#,
        addr = kafka.addr
    )
}

async fn order(sluice: &Sluice, key: &str, body: &str) -> (u16, String, Option<String>) {
    let res = client()
        .post(sluice.url("/order"))
        .header("Idempotency-Key", key)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), res.text().await.unwrap(), replayed)
}

/// Everything in `topic` after giving `expected + 1` records the time to
/// arrive: the extra one would be a duplicate write.
async fn records(kafka: &Kafka, topic: &str, expected: usize) -> Vec<Record> {
    let (addr, topic) = (kafka.addr.clone(), topic.to_owned());
    blocking(move || {
        consume_until(&addr, &topic, Duration::from_secs(3), |rs| {
            rs.len() > expected
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_gets_the_stored_answer_and_writes_once() {
    let kafka = kafka_brokers().remove(0);
    let topic = unique("idem");
    let sluice = Sluice::start(&idempotent_fan_out(&kafka, &topic, "    memory: {}", ""));
    let first = order(&sluice, "key-1", "one").await;
    assert_eq!(first.0, 200, "{}", sluice.logs());
    assert_eq!(first.2, None);
    let again = order(&sluice, "key-1", "one").await;
    assert_eq!((again.0, &again.1), (200, &first.1), "the same answer");
    assert_eq!(again.2.as_deref(), Some("true"));
    let other = order(&sluice, "key-2", "two").await;
    assert_ne!(other.1, first.1, "another key runs the pipeline");
    let found = records(&kafka, &topic, 2).await;
    let values: Vec<_> = found.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(values, ["one", "two"], "one record per key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_answer_a_key_once() {
    let kafka = kafka_brokers().remove(0);
    let topic = unique("idem-redis");
    let cache = format!(
        "    redis:\n      url: {}\n      prefix: \"{}:\"",
        redis_url(),
        unique("idem")
    );
    let config = idempotent_fan_out(&kafka, &topic, &cache, "");
    let (a, b) = (Sluice::start(&config), Sluice::start(&config));
    // Both at once: one runs the pipeline, the other waits for its answer.
    let (from_a, from_b) = tokio::join!(order(&a, "k", "once"), order(&b, "k", "once"));
    assert_eq!(from_a.0, 200, "{}", a.logs());
    assert_eq!((from_b.0, &from_b.1), (200, &from_a.1), "identical answers");
    assert_eq!(
        [from_a.2.is_some(), from_b.2.is_some()]
            .iter()
            .filter(|r| **r)
            .count(),
        1,
        "exactly one of them is the replay: {from_a:?} {from_b:?}"
    );
    let later = order(&b, "k", "once").await;
    assert_eq!(later.1, from_a.1);
    let found = records(&kafka, &topic, 1).await;
    assert_eq!(found.len(), 1, "one record: {found:?}");
    assert_eq!(found[0].value, "once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_flight_is_refused_with_409_when_configured() {
    let kafka = kafka_brokers().remove(0);
    let topic = unique("idem-reject");
    let sluice = Sluice::start(&idempotent_fan_out(
        &kafka,
        &topic,
        "    memory: {}",
        "      in_flight: reject",
    ));
    let (first, second) = tokio::join!(order(&sluice, "k", "x"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        order(&sluice, "k", "x").await
    });
    assert_eq!(first.0, 200);
    assert_eq!(second.0, 409, "{second:?}");
    assert!(second.1.contains("in progress"), "{second:?}");
}

#[test]
fn idempotency_settings_are_checked_with_their_line() {
    let (_dir, path) = write_config(
        r#"
input:
  http_server:
    path: /order
    idempotency:
      cache: nowhere
output:
  sync_response: {}
"#,
    );
    let (code, _out, err) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_ne!(code, 0);
    assert!(
        err.contains("cache resource 'nowhere' was not found"),
        "{err}"
    );
    assert!(err.contains("(6,14)"), "names the line: {err}");

    let (_dir, path) = write_config(
        r#"
input:
  http_server:
    idempotency:
      header: Idempotency-Key
      in_flight: sometimes
output:
  sync_response: {}
"#,
    );
    let (code, _out, err) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_ne!(code, 0);
    assert!(err.contains("cache") || err.contains("sometimes"), "{err}");
}

/// Three messages, each stored as its own answer 400 ms after the last.
fn slow_parts(stream: &str, output: &str) -> String {
    format!(
        r#"
input:
  http_server:
    path: /events
    sync_response:
      stream: {stream}
pipeline:
  processors:
    - unarchive:
        format: json_array
    - for_each:
        - sleep:
            duration: 400ms
        - sync_response: {{}}
output:
  {output}
"#
    )
}

/// Each chunk of the answer's body with when it arrived.
async fn chunks(res: reqwest::Response) -> Vec<(Duration, String)> {
    let started = Instant::now();
    let mut res = res;
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        out.push((
            started.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_sends_each_message_as_it_is_ready() {
    let sluice = Sluice::start(&slow_parts("sse", "drop: {}"));
    let res = client()
        .post(sluice.url("/events"))
        .body(r#"[{"n":1},{"n":2},{"n":3}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let got = chunks(res).await;
    let text: String = got.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        text,
        "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\n"
    );
    let (first, last) = (got[0].0, got.last().unwrap().0);
    assert!(
        last - first >= Duration::from_millis(600),
        "the first event came before the pipeline made the last: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_ends_with_an_error_line_when_the_output_fails() {
    let sluice = Sluice::start(&slow_parts(
        "ndjson",
        "reject: 'nowhere to write ${! json(\"n\") }'",
    ));
    let res = client()
        .post(sluice.url("/events"))
        .body(r#"[{"n":1},{"n":2}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the head goes with the first message");
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text: String = chunks(res).await.into_iter().map(|(_, c)| c).collect();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[..2], [r#"{"n":1}"#, r#"{"n":2}"#], "{text}");
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[2].starts_with(r#"{"error":"#) && lines[2].contains("nowhere to write"),
        "{text}"
    );
}

#[test]
fn a_stream_with_idempotency_is_refused_with_its_line() {
    let (_dir, path) = write_config(
        r#"
input:
  http_server:
    idempotency:
      cache: answers
    sync_response:
      stream: sse
output:
  sync_response: {}
cache_resources:
  - label: answers
    memory: {}
"#,
    );
    let (code, _out, err) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_ne!(code, 0);
    assert!(
        err.contains("(5,7) idempotency needs whole answers"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_408_a_slowly_failing_downstream_sees_no_more_retries() {
    let downstream =
        Upstream::always(Reply::new(500, "not now").delay(Duration::from_millis(600))).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /write
    timeout: 1s
    propagate_deadline: true
output:
  http_client:
    url: {}
    verb: POST
    retries: 10
    retry_period: 100ms
"#,
        downstream.url("/store")
    ));
    let (status, _) = post(&sluice, "/write", "payload").await;
    let answered = Instant::now();
    assert_eq!(status, 408);
    // Ten retries would go on for seconds; none may start after the 408.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = downstream.seen();
    assert!(!seen.is_empty(), "the first attempt was made");
    for request in &seen {
        assert!(
            request.at <= answered + Duration::from_millis(50),
            "a request {:?} after the 408",
            request.at.duration_since(answered)
        );
    }
    assert!(
        sluice.logs().contains("Caller stopped waiting"),
        "{}",
        sluice.logs()
    );
    let metrics = sluice.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("http_request_abandoned") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

#[tokio::test]
async fn after_a_408_a_retry_output_makes_no_more_attempts() {
    let downstream =
        Upstream::always(Reply::new(500, "not now").delay(Duration::from_millis(300))).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /write
    timeout: 1s
    propagate_deadline: true
output:
  retry:
    max_retries: 20
    backoff:
      initial_interval: 250ms
      max_interval: 250ms
    output:
      http_client:
        url: {}
        verb: POST
        retries: 0
"#,
        downstream.url("/store")
    ));
    let (status, _) = post(&sluice, "/write", "payload").await;
    let answered = Instant::now();
    assert_eq!(status, 408);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = downstream.seen();
    assert!(
        seen.len() >= 2,
        "it retried before the deadline: {}",
        seen.len()
    );
    for request in &seen {
        assert!(
            request.at <= answered + Duration::from_millis(50),
            "an attempt {:?} after the 408",
            request.at.duration_since(answered)
        );
    }
    assert!(
        sluice.wait_for_log("retries of the write stopped", Duration::from_secs(5)),
        "{}",
        sluice.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_shortens_its_deadline_and_the_downstream_learns_the_rest() {
    let downstream = Upstream::sequence(vec![
        Reply::ok("stored"),
        Reply::ok("late").delay(Duration::from_millis(800)),
    ])
    .await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /write
    timeout: 5s
    deadline_header: X-Budget-Seconds
output:
  http_client:
    url: {}
    verb: POST
    deadline_header: X-Remaining
    propagate_response: true
"#,
        downstream.url("/store")
    ));
    let send = |budget: &'static str| {
        client()
            .post(sluice.url("/write"))
            .header("X-Budget-Seconds", budget)
            .body("payload")
            .send()
    };
    let res = send("0.5").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "stored");
    let remaining: f64 = downstream.seen()[0].header("x-remaining").parse().unwrap();
    assert!(
        remaining > 0.0 && remaining <= 0.5,
        "the rest of the caller's budget: {remaining}"
    );
    let started = Instant::now();
    let res = send("0.3").await.unwrap();
    assert_eq!(res.status(), 408);
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "answered at the caller's deadline, not the server's: {:?}",
        started.elapsed()
    );
}
