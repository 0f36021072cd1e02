//! Spec section 3: the service-wide HTTP server's own endpoints.

use crate::support::{Sluice, client};

const DROP: &str = r#"
input:
  http_server:
    path: /post
output:
  drop: {}
"#;

#[tokio::test]
async fn ping_answers_pong_at_both_prefixes() {
    let sluice = Sluice::start(DROP);
    let res = client().get(sluice.url("/ping")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "pong");
    let res = client()
        .get(sluice.url("/benthos/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "pong");
}

#[tokio::test]
async fn version_ready_and_endpoints_answer() {
    let sluice = Sluice::start(DROP);
    let res = client().get(sluice.url("/version")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let version: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(version["built"].is_string());

    assert!(
        sluice.wait_for_log(
            "Output type drop is now active",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        sluice.logs()
    );
    assert!(
        sluice.wait_for_log(
            "Input type http_server is now active",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        sluice.logs()
    );
    let res = client().get(sluice.url("/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let res = client().get(sluice.url("/endpoints")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let endpoints: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    for path in [
        "/ping",
        "/ready",
        "/version",
        "/post",
        "/benthos/post",
        "/post/ws",
    ] {
        assert!(endpoints[path].is_string(), "{path} missing in {endpoints}");
    }
}

#[tokio::test]
async fn input_with_its_own_address_does_not_use_the_shared_server() {
    let port = crate::support::free_port();
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    address: 127.0.0.1:{port}
    path: /own
output:
  sync_response: {{}}
"#
    ));
    let res = client()
        .post(format!("http://127.0.0.1:{port}/own"))
        .body("mine")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "mine");
    let res = client()
        .post(sluice.url("/own"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// The value of the metric line that starts with `prefix`, if any.
fn metric(text: &str, prefix: &str) -> Option<u64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn metrics_count_processor_errors_and_traffic() {
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
    let failed = client()
        .post(sluice.url("/post"))
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 200);
    let text = client()
        .get(sluice.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let path = r#"{label="",path="root.processors.mapping"}"#;
    assert_eq!(
        metric(&text, &format!("processor_error{path}")),
        Some(1),
        "{text}"
    );
    assert_eq!(
        metric(&text, &format!("processor_received{path}")),
        Some(1),
        "{text}"
    );
    assert_eq!(
        metric(&text, &format!("processor_sent{path}")),
        Some(1),
        "{text}"
    );
    assert_eq!(
        metric(&text, r#"output_sent{label="",path="root.output"}"#),
        Some(1),
        "{text}"
    );
    assert!(
        text.contains("# TYPE processor_latency_ns summary"),
        "{text}"
    );
}
