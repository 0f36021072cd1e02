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

/// `examples/enrich_cached.yaml` as it stands in the repo, in front of a
/// second sluice acting as the profile service: each customer is looked up
/// once, later orders are enriched from redis.
#[tokio::test]
async fn the_enrichment_example_asks_the_profile_service_once_per_customer() {
    let profiles = Sluice::start(
        r#"
input:
  http_server:
    path: /customers/{id}
    allowed_verbs: [ GET ]
pipeline:
  processors:
    - log:
        message: 'profile lookup ${! @id }'
    - mapping: 'root = {"id": @id, "tier": if @id == "c-1" { "gold" } else { "silver" }}'
output:
  sync_response: {}
"#,
    );
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/enrich_cached.yaml");
    let yaml = std::fs::read_to_string(example).expect("the example exists");
    // A prefix of the test's own keeps earlier runs' profiles out.
    let prefix = unique("profiles");
    let yaml = yaml.replace("prefix: 'profiles:'", &format!("prefix: '{prefix}:'"));
    let sluice = Sluice::start_with_env(
        &yaml,
        &[
            ("PROFILE_URL", &profiles.url("")),
            ("REDIS_URL", &redis_url()),
        ],
    );
    let order =
        |id: &str, customer: &str| format!(r#"{{"order":"{id}","customer_id":"{customer}"}}"#);
    let lookups = || profiles.logs().matches("profile lookup").count();

    let (status, body) = crate::support::post(&sluice, "/orders", &order("o-1", "c-1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        r#"{"customer":{"id":"c-1","tier":"gold"},"customer_id":"c-1","order":"o-1"}"#
    );
    assert!(profiles.wait_for_log("profile lookup c-1", Duration::from_secs(5)));

    let (_, body) = crate::support::post(&sluice, "/orders", &order("o-2", "c-1")).await;
    assert_eq!(
        body,
        r#"{"customer":{"id":"c-1","tier":"gold"},"customer_id":"c-1","order":"o-2"}"#
    );
    let (_, body) = crate::support::post(&sluice, "/orders", &order("o-3", "c-2")).await;
    assert_eq!(
        body,
        r#"{"customer":{"id":"c-2","tier":"silver"},"customer_id":"c-2","order":"o-3"}"#
    );
    assert!(profiles.wait_for_log("profile lookup c-2", Duration::from_secs(5)));
    assert_eq!(lookups(), 2, "{}", profiles.logs());

    // The profile is in redis under the example's key.
    let mut redis = redis_connection().await;
    let stored: Option<String> = redis::cmd("GET")
        .arg(format!("{prefix}:c-1"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(r#"{"id":"c-1","tier":"gold"}"#));
}

/// The `redis` rate limit counts accesses of every instance that shares
/// its key: two processes together get `count` accesses per interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_rate_limit_is_shared_by_two_processes() {
    let key = unique("limit");
    let config = format!(
        r#"
input:
  http_server:
    path: /post
    timeout: 10s
pipeline:
  processors:
    - rate_limit:
        resource: shared
    - mapping: 'root = "passed"'
output:
  sync_response: {{}}
rate_limit_resources:
  - label: shared
    redis:
      url: {}
      count: 2
      interval: 3s
      key: {key}
"#,
        redis_url()
    );
    let first = Sluice::start(&config);
    let second = Sluice::start(&config);
    let timed = |sluice: &Sluice| {
        let url = sluice.url("/post");
        async move {
            let started = std::time::Instant::now();
            let res = client().post(url).body("x").send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap(), started.elapsed())
        }
    };
    let (status, body, took) = timed(&first).await;
    assert_eq!((status, body.as_str()), (200, "passed"));
    assert!(took < Duration::from_millis(1000), "{took:?}");
    let (_, _, took) = timed(&second).await;
    assert!(took < Duration::from_millis(1000), "{took:?}");
    // Two accesses spent the window between them: the third, from either
    // process, waits for the next one.
    let (status, body, took) = timed(&first).await;
    assert_eq!((status, body.as_str()), (200, "passed"));
    assert!(took >= Duration::from_millis(1200), "{took:?}");
    let mut redis = redis_connection().await;
    let count: i64 = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(count >= 1, "the window's count is in redis: {count}");
}

#[test]
fn a_redis_rate_limit_needs_a_positive_count() {
    let (code, text) = crate::support::lint(
        "rate_limit_resources:\n  - label: l\n    redis:\n      url: redis://127.0.0.1:1\n      count: 0\n      key: k\n",
    );
    assert_ne!(code, 0);
    assert!(text.contains("count must be larger than zero"), "{text}");
}
