//! Cache resources against their real stores: the `redis` cache over a
//! redis-server on loopback, shared by two sluice processes.

use std::time::Duration;

use crate::brokers::{redis_connection, redis_url, unique};
use crate::support::{Sluice, client, free_port};

/// A config whose `/set` stores the body under `?key=` and whose `/get`
/// answers what is stored (or the error), in a redis cache with `prefix`.
fn redis_store(url: &str, prefix: &str) -> String {
    format!(
        r#"
input:
  broker:
    inputs:
      - http_server:
          path: /set
        processors:
          - cache:
              resource: store
              operator: set
              key: ${{! @key }}
              value: ${{! content() }}
              ttl: ${{! @ttl.or("") }}
          - mapping: root = "stored"
      - http_server:
          path: /get
        processors:
          - cache:
              resource: store
              operator: get
              key: ${{! @key }}
          - catch:
              - mapping: 'root = "failed: " + error()'
output:
  sync_response: {{}}
cache_resources:
  - label: store
    redis:
      url: {url}
      prefix: "{prefix}"
      default_ttl: 1h
      retries:
        max_elapsed_time: 1s
"#
    )
}

async fn send(sluice: &Sluice, path: &str, body: &str) -> String {
    let res = client()
        .post(sluice.url(path))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn redis_cache_is_shared_by_two_instances() {
    let prefix = format!("{}:", unique("shared"));
    let config = redis_store(&redis_url(), &prefix);
    let writer = Sluice::start(&config);
    let reader = Sluice::start(&config);

    assert_eq!(send(&writer, "/set?key=k1", "value one").await, "stored");
    assert_eq!(send(&reader, "/get?key=k1", "").await, "value one");
    assert_eq!(
        send(&reader, "/get?key=absent", "").await,
        "failed: key does not exist"
    );

    // What reached the server: the prefixed key, with the default TTL or
    // the one the write gave.
    let mut redis = redis_connection().await;
    let stored: Option<String> = redis::cmd("GET")
        .arg(format!("{prefix}k1"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("value one"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k1"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        ttl > 3_500_000 && ttl <= 3_600_000,
        "default_ttl 1h, got {ttl} ms"
    );
    assert_eq!(send(&writer, "/set?key=k2&ttl=2s", "short").await, "stored");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k2"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 2_000, "ttl 2s, got {ttl} ms");
}

#[tokio::test]
async fn an_unreachable_redis_fails_the_message_with_the_cause() {
    // Nothing listens on this port: each operation is retried for
    // max_elapsed_time and then fails the message, which catch answers.
    let url = format!("redis://127.0.0.1:{}", free_port());
    let sluice = Sluice::start(&redis_store(&url, "p:"));
    let started = std::time::Instant::now();
    let body = send(&sluice, "/get?key=k1", "").await;
    assert!(body.starts_with("failed: "), "{body}");
    assert!(
        body.to_lowercase().contains("connection refused"),
        "the cause is named: {body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "retries stop after max_elapsed_time: {:?}",
        started.elapsed()
    );
}
