//! Processors beyond the spine, over real HTTP: mutation, the cache family
//! with cache resources, batch shaping, archives and compression.

use std::io::Write as _;

use crate::support::{Sluice, client, post};

#[tokio::test]
async fn mutation_changes_the_document_in_place() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mutation: |
        root.total = this.items.sum()
        meta seen = "yes"
    - mapping: 'root = this.merge({"seen": @seen})'
output:
  sync_response: {}
"#,
    );
    let (status, body) = post(&sluice, "/post", r#"{"id":"a","items":[1,2,3]}"#).await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"id":"a","items":[1,2,3],"seen":"yes","total":6}"#);
}

#[tokio::test]
async fn dedupe_drops_keys_the_cache_has_seen() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - dedupe:
        cache: seen
        key: ${! json("id") }
    - mapping: 'root = "new " + this.id'
output:
  sync_response: {}
cache_resources:
  - label: seen
    memory:
      default_ttl: 1m
"#,
    );
    let (status, body) = post(&sluice, "/post", r#"{"id":"a"}"#).await;
    assert_eq!((status, body.as_str()), (200, "new a"));
    // A duplicate is filtered out: the caller gets an empty 200, as Benthos
    // answers a request whose message was dropped.
    let (status, body) = post(&sluice, "/post", r#"{"id":"a"}"#).await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (_, body) = post(&sluice, "/post", r#"{"id":"b"}"#).await;
    assert_eq!(body, "new b");
}

#[tokio::test]
async fn cached_runs_its_processors_once_per_key() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - cached:
        cache: answers
        key: ${! json("city") }
        processors:
          - log:
              message: 'computing ${! json("city") }'
          - mapping: 'root = {"city": this.city, "id": uuid_v4()}'
output:
  sync_response: {}
cache_resources:
  - label: answers
    lru:
      cap: 10
"#,
    );
    let (_, first) = post(&sluice, "/post", r#"{"city":"Berlin"}"#).await;
    let (_, again) = post(&sluice, "/post", r#"{"city":"Berlin"}"#).await;
    let (_, other) = post(&sluice, "/post", r#"{"city":"Paris"}"#).await;
    assert!(first.contains("Berlin"), "{first}");
    assert_eq!(first, again, "the second answer comes from the cache");
    assert_ne!(first, other);
    assert_eq!(sluice.logs().matches("computing Berlin").count(), 1);
}

#[tokio::test]
async fn cache_processor_sets_gets_and_reports_missing_keys() {
    let sluice = Sluice::start(
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
              key: ${! @key }
              value: ${! content() }
          - mapping: root = "stored"
      - http_server:
          path: /get
        processors:
          - cache:
              resource: store
              operator: get
              key: ${! @key }
          - catch:
              - mapping: 'root = "failed: " + error()'
output:
  sync_response: {}
cache_resources:
  - label: store
    memory: {}
"#,
    );
    let http = client();
    let set = http
        .post(sluice.url("/set?key=k1"))
        .body("value one")
        .send()
        .await
        .unwrap();
    assert_eq!(set.text().await.unwrap(), "stored");
    let get = http
        .post(sluice.url("/get?key=k1"))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.text().await.unwrap(), "value one");
    // A missing key fails the message, which `catch` sees.
    let missing = http
        .post(sluice.url("/get?key=nope"))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.text().await.unwrap(), "failed: key does not exist");
}

#[tokio::test]
async fn unarchive_for_each_and_archive_reshape_a_request() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - unarchive:
        format: json_array
    - for_each:
        - mutation: 'root.doubled = this.n * 2'
    - select_parts:
        parts: [0, -1]
    - archive:
        format: json_array
output:
  sync_response: {}
"#,
    );
    let (status, body) = post(&sluice, "/post", r#"[{"n":1},{"n":2},{"n":3}]"#).await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"[{"doubled":2,"n":1},{"doubled":6,"n":3}]"#);
}

#[tokio::test]
async fn while_loops_until_its_check_fails() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - while:
        check: this.n < 10
        max_loops: 100
        processors:
          - mutation: root.n = this.n * 2
output:
  sync_response: {}
"#,
    );
    let (_, body) = post(&sluice, "/post", r#"{"n":1}"#).await;
    assert_eq!(body, r#"{"n":16}"#);
}

#[tokio::test]
async fn decompress_inflates_bodies_within_max_bytes_only() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - decompress:
        algorithm: gzip
        max_bytes: 1048576
    - mapping: root = content().length()
    - catch:
        - mapping: 'root = "failed: " + error()'
output:
  sync_response: {}
"#,
    );
    let gzip = |data: &[u8]| {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    };
    let small = client()
        .post(sluice.url("/post"))
        .body(gzip(&[b'a'; 1000]))
        .send()
        .await
        .unwrap();
    assert_eq!(small.text().await.unwrap(), "1000");
    // 100 MiB of zeros packs into about 100 KiB.
    let bomb = gzip(&vec![0u8; 100 << 20]);
    assert!(bomb.len() < 200 << 10);
    let res = client()
        .post(sluice.url("/post"))
        .body(bomb)
        .send()
        .await
        .unwrap();
    let answer = res.text().await.unwrap();
    assert!(
        answer.starts_with(
            "failed: decompress: decompressed content exceeds the limit of 1048576 bytes"
        ),
        "a bomb is refused: {answer}"
    );
}

#[test]
fn a_missing_cache_resource_is_a_lint_with_its_line() {
    let (_dir, path) = crate::support::write_config(
        r#"input:
  stdin: {}
pipeline:
  processors:
    - dedupe:
        cache: nowhere
        key: ${! content() }
output:
  drop: {}
"#,
    );
    let (code, _, stderr) = crate::support::run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("(5,7) cache resource 'nowhere' was not found")
            || stderr.contains("(6,9) cache resource 'nowhere' was not found"),
        "{stderr}"
    );
}

#[tokio::test]
async fn branch_enriches_a_request_from_another_service() {
    use crate::upstream::{Reply, Upstream};
    // The user service answers with the user's name, or 500 for id 13.
    let users = Upstream::start(|seen, _| {
        let asked: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
        match asked["id"].as_i64() {
            Some(13) => Reply::new(500, "no"),
            Some(id) => Reply::ok(format!(r#"{{"name":"user-{id}"}}"#)),
            None => Reply::new(400, "no id"),
        }
    })
    .await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      status: '${{! if errored() {{ 502 }} else {{ 200 }} }}'
      headers:
        X-Error: '${{! error().or("") }}'
pipeline:
  processors:
    - branch:
        request_map: |
          root = if this.skip == true {{ deleted() }} else {{ {{"id": this.user_id}} }}
        processors:
          - http:
              url: {url}
              verb: POST
        result_map: |
          root.user = this.name
          meta upstream_status = metadata("http_status_code")
    - mutation: 'root.status = @upstream_status'
output:
  sync_response: {{}}
"#,
        url = users.url("/users")
    ));
    let (status, body) = post(&sluice, "/post", r#"{"order":1,"user_id":7}"#).await;
    assert_eq!(status, 200, "{body}: {}", sluice.logs());
    assert_eq!(
        body,
        r#"{"order":1,"status":200,"user":"user-7","user_id":7}"#
    );
    // The service saw only what request_map built.
    let seen = users.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].text(), r#"{"id":7}"#);

    // Skipped: the original passes unchanged and the service is not called.
    let (status, body) = post(&sluice, "/post", r#"{"order":2,"skip":true}"#).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"order":2,"skip":true,"status":null}"#)
    );
    assert_eq!(users.seen().len(), 1);

    // A failing service flags the original, which keeps its content.
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"order":3,"user_id":13}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let error = res.headers()["x-error"].to_str().unwrap().to_owned();
    assert!(
        error.starts_with("processors failed: ") && error.contains("(500)"),
        "{error}"
    );
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"order":3,"status":null,"user_id":13}"#
    );
}

#[test]
fn branch_without_processors_is_refused_at_its_line() {
    let (_dir, path) = crate::support::write_config(
        "pipeline:\n  processors:\n    - branch:\n        request_map: root = this\n        processors: []\n",
    );
    let (code, out, err) = crate::support::run_cli(&["lint", path.to_str().unwrap()], "");
    let err = format!("{out}{err}");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("config.yaml(4,"),
        "the lint names the line: {err}"
    );
    assert!(
        err.contains("the branch processor requires at least one child processor"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_holds_messages_until_the_resource_grants_them() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - rate_limit:
        resource: one_per_interval
output:
  sync_response: {}
rate_limit_resources:
  - label: one_per_interval
    local:
      count: 1
      interval: 400ms
"#,
    );
    let started = std::time::Instant::now();
    let sends = (0..3).map(|i| {
        let url = sluice.url("/post");
        async move {
            let res = client()
                .post(url)
                .body(format!("m{i}"))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    });
    let mut answers = futures::future::join_all(sends).await;
    let took = started.elapsed();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            (200, "m0".to_owned()),
            (200, "m1".to_owned()),
            (200, "m2".to_owned())
        ]
    );
    // Three accesses at one per 400 ms: the last waits two intervals.
    assert!(
        took >= std::time::Duration::from_millis(750),
        "took {took:?}"
    );
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}

#[test]
fn rate_limit_naming_a_missing_resource_is_a_lint() {
    let (_dir, path) = crate::support::write_config(
        "pipeline:\n  processors:\n    - rate_limit:\n        resource: nope\n",
    );
    let (code, out, err) = crate::support::run_cli(&["lint", path.to_str().unwrap()], "");
    let text = format!("{out}{err}");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("config.yaml(4,9) rate limit resource 'nope' was not found"),
        "{text}"
    );
}
