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
    let text = sluice.metrics().await;
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

/// The stream behind the tests of the `http` section's own options.
const UPPER: &str = r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  sync_response: {}
"#;

#[tokio::test]
async fn the_shared_server_serves_tls_from_cert_and_key_files() {
    let certs = crate::upstream::Certs::generate();
    let config = format!(
        "http:\n  cert_file: {}\n  key_file: {}\n{UPPER}",
        certs.cert_file.display(),
        certs.key_file.display()
    );
    let sluice = Sluice::start(&config);
    assert!(sluice.wait_for_log(
        "Listening for HTTP requests at: https://",
        std::time::Duration::from_secs(5)
    ));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca_file).unwrap()).unwrap();
    let tls_client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    // The certificate is for localhost.
    let url = |path: &str| format!("https://localhost:{}{path}", sluice.addr.port());
    let res = tls_client
        .post(url("/post"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "HI");
    let res = tls_client.get(url("/ping")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "pong");
    // Plain HTTP gets no answer.
    let plain = client().get(sluice.url("/ping")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

#[tokio::test]
async fn basic_auth_guards_every_endpoint() {
    // The sha256 of "secret", base64-encoded, as Benthos expects it.
    let config = format!(
        "http:\n  basic_auth:\n    enabled: true\n    username: admin\n    password_hash: K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=\n{UPPER}"
    );
    let sluice = Sluice::start(&config);
    for path in ["/post", "/ping", "/metrics"] {
        let res = client()
            .post(sluice.url(path))
            .body("hi")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Basic realm="restricted", charset="UTF-8""#
        );
    }
    let wrong = client()
        .post(sluice.url("/post"))
        .basic_auth("admin", Some("guess"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let res = client()
        .post(sluice.url("/post"))
        .basic_auth("admin", Some("secret"))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "HI");
}

#[tokio::test]
async fn cors_answers_preflights_and_marks_allowed_responses() {
    let config = format!(
        "http:\n  cors:\n    enabled: true\n    allowed_origins: [https://app.example]\n{UPPER}"
    );
    let sluice = Sluice::start(&config);
    let preflight = client()
        .request(reqwest::Method::OPTIONS, sluice.url("/post"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let res = client()
        .post(sluice.url("/post"))
        .header("origin", "https://app.example")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(res.text().await.unwrap(), "HI");
    let other = client()
        .post(sluice.url("/post"))
        .header("origin", "https://evil.example")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn debug_endpoints_show_the_running_config() {
    let sluice = Sluice::start(&format!("http:\n  debug_endpoints: true\n{UPPER}"));
    let json = client()
        .get(sluice.url("/debug/config/json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(config["input"]["http_server"]["path"], "/post");
    let yaml = client()
        .get(sluice.url("/debug/config/yaml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(yaml.contains("path: /post"), "{yaml}");
}

#[test]
fn a_bad_http_section_is_a_lint_with_its_line() {
    let (_dir, path) = crate::support::write_config(&format!(
        "http:\n  basic_auth:\n    enabled: true\n    username: admin\n    algorithm: sha1\n    password_hash: aGk=\n  cert_file: /x.pem\n{UPPER}"
    ));
    let path = path.to_str().unwrap();
    let (code, _, stderr) = crate::support::run_cli(&["lint", path], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "{path}(3,5) basic_auth: algorithm should be one of md5, sha256, bcrypt, or scrypt"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{path}(7,14) both cert_file and key_file must be specified, or neither"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn component_labels_reach_metrics_and_ready() {
    let sluice = Sluice::start(
        r#"
input:
  label: orders_in
  http_server:
    path: /post
output:
  label: orders_out
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let metrics = sluice.metrics().await;
    assert!(
        metrics.contains(r#"input_received{label="orders_in",path="root.input"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"output_sent{label="orders_out",path="root.output"} 1"#),
        "{metrics}"
    );
    let ready = client()
        .get(sluice.url("/ready"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["statuses"][0]["label"], "orders_in");
    assert_eq!(ready["statuses"][1]["label"], "orders_out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_bcrypt_passwords_does_not_stall_other_endpoints() {
    use base64::Engine as _;
    let hash = bcrypt::hash("secret", 8).unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(hash);
    let own = crate::support::free_port();
    let config = format!(
        r#"http:
  basic_auth:
    enabled: true
    algorithm: bcrypt
    username: admin
    password_hash: {hash}
input:
  broker:
    inputs:
      - http_server:
          path: /guarded
      - http_server:
          address: 127.0.0.1:{own}
          path: /open
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  sync_response: {{}}
"#
    );
    let sluice = Sluice::start(&config);
    let flood_client = client();
    let flood: Vec<_> = (0..64)
        .map(|_| {
            let req = flood_client
                .post(sluice.url("/guarded"))
                .basic_auth("admin", Some("guess"))
                .body("x");
            tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    // While the flood is checked, the endpoint on its own address answers
    // at once: the hashing does not hold the server's workers.
    let started = std::time::Instant::now();
    let res = client()
        .post(format!("http://127.0.0.1:{own}/open"))
        .body("hi")
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(res.text().await.unwrap(), "HI");
    assert!(
        took < std::time::Duration::from_millis(500),
        "took {took:?}"
    );
    let mut statuses = Vec::new();
    for request in flood {
        statuses.push(request.await.unwrap().unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "no check was refused: {statuses:?}"
    );
    assert!(statuses.contains(&401), "no check ran: {statuses:?}");
    assert!(
        sluice.wait_for_log(
            "Too many password checks under way",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        sluice.logs()
    );
    let res = client()
        .post(sluice.url("/guarded"))
        .basic_auth("admin", Some("secret"))
        .body("ok")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "OK");
}
