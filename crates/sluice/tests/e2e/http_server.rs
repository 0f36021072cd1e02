//! Spec section 2: the `http_server` input, from routing to the reply.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::support::{Sluice, client, run_cli, write_config};

const UPPERCASE: &str = r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  sync_response: {}
"#;

#[test]
fn lint_reports_an_empty_verb_list_and_unknown_fields() {
    let (_dir, path) = write_config(
        r#"input:
  http_server:
    allowed_verbs: []
output:
  drop: {}
"#,
    );
    let path = path.display().to_string();
    let (code, stdout, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    // Benthos reports this when the input is built; sluice lints it at the
    // input's config.
    assert_eq!(
        stderr,
        format!("{path}(3,5) must specify at least one allowed verb\n")
    );

    let (_dir, path) = write_config(
        r#"input:
  http_server:
    foo: 1
output:
  drop: {}
"#,
    );
    let path = path.display().to_string();
    let (code, _, stderr) = run_cli(&["lint", &path], "");
    assert_eq!(code, 1);
    assert_eq!(stderr, format!("{path}(3,1) field foo not recognised\n"));
}

#[tokio::test]
async fn path_parameters_become_metadata_under_both_prefixes() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /users/{id}
pipeline:
  processors:
    - mapping: root = @id
output:
  sync_response: {}
"#,
    );
    for path in ["/users/42", "/benthos/users/42"] {
        let res = client()
            .post(sluice.url(path))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.text().await.unwrap(), "42", "{path}");
    }
    let res = client()
        .post(sluice.url("/users/42/more"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn wrong_method_gets_405() {
    let sluice = Sluice::start(UPPERCASE);
    let res = client().get(sluice.url("/post")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.text().await.unwrap(), "Incorrect method\n");
}

#[tokio::test]
async fn rate_limited_request_gets_429_with_retry_after() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    rate_limit: rl
rate_limit_resources:
  - label: rl
    local:
      count: 1
      interval: 60s
output:
  sync_response: {}
"#,
    );
    let first = client()
        .post(sluice.url("/post"))
        .body("one")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "one");
    let second = client()
        .post(sluice.url("/post"))
        .body("two")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 429);
    let retry_after: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("numeric Retry-After");
    assert!(retry_after <= 60, "{retry_after}");
    assert_eq!(second.text().await.unwrap(), "Too Many Requests\n");
}

#[tokio::test]
async fn slow_pipeline_times_out_with_408() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    timeout: 500ms
pipeline:
  processors:
    - sleep:
        duration: 2s
output:
  sync_response: {}
"#,
    );
    let started = Instant::now();
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 408);
    assert_eq!(res.text().await.unwrap(), "Request timed out\n");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "took {took:?}"
    );
}

#[tokio::test]
async fn multipart_without_boundary_is_a_bad_request() {
    let sluice = Sluice::start(UPPERCASE);
    let res = client()
        .post(sluice.url("/post"))
        .header("Content-Type", "multipart/form-data")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.text().await.unwrap(), "Bad request\n");
}

#[tokio::test]
async fn multipart_request_becomes_one_message_per_part() {
    let sluice = Sluice::start(UPPERCASE);
    let body = "--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n\
                --b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nsecond\r\n--b--\r\n";
    let res = client()
        .post(sluice.url("/post"))
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    let parts = crate::messages::multipart_parts(&content_type, &res.text().await.unwrap());
    let bodies: Vec<&str> = parts.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(bodies, ["FIRST", "SECOND"]);
}

#[tokio::test]
async fn request_headers_query_and_verb_become_metadata() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: 'root = {"foo": metadata("X-Foo"), "name": @name, "verb": @http_server_verb}'
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post?name=bob"))
        .header("x-foo", "bar")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"foo":"bar","name":"bob","verb":"POST"}"#
    );
}

#[tokio::test]
async fn single_reply_has_the_default_content_type() {
    let sluice = Sluice::start(UPPERCASE);
    let res = client()
        .post(sluice.url("/post"))
        .body("foo bar")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert_eq!(res.headers()["content-length"], "7");
    assert_eq!(res.text().await.unwrap(), "FOO BAR");
}

#[tokio::test]
async fn status_comes_from_an_interpolation() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      status: '${! meta("status").or("200") }'
pipeline:
  processors:
    - mapping: |
        meta status = if content() == "created" { "201" }
        root = content()
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("created")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.text().await.unwrap(), "created");
    let res = client()
        .post(sluice.url("/post"))
        .body("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "plain");
}

#[tokio::test]
async fn status_that_is_not_a_number_gives_502_with_an_empty_body() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      status: '${! meta("nope") }'
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.headers()["content-length"], "0");
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn metadata_headers_copy_request_headers_to_the_reply() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      metadata_headers:
        include_prefixes: [ X- ]
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .header("X-Trace", "abc")
        .header("Other", "no")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-trace"], "abc");
    assert!(res.headers().get("other").is_none());
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
}

#[tokio::test]
async fn no_responder_gives_an_empty_200() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    sync_response:
      status: "201"
      headers:
        X-Never: "set"
output:
  drop: {}
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
    assert!(res.headers().get("x-never").is_none());
}

#[tokio::test]
async fn nack_reason_is_interpolated_into_the_502_body() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  reject: 'rejected ${! content() }'
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.text().await.unwrap(), "rejected abc\n");
}

#[tokio::test]
async fn websocket_frames_are_answered_with_text_frames() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    ws_welcome_message: welcome
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  sync_response: {}
"#,
    );
    let url = format!("ws://{}/post/ws", sluice.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let welcome = socket.next().await.unwrap().unwrap();
    assert_eq!(welcome, Frame::Binary("welcome".into()));
    for text in ["hi", "there"] {
        socket.send(Frame::text(text)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a reply frame")
            .unwrap()
            .unwrap();
        assert_eq!(reply, Frame::text(text.to_uppercase()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_in_flight_request_finish() {
    let mut sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - log:
        message: 'started ${! content() }'
    - sleep:
        duration: 1s
    - mapping: root = content().uppercase()
output:
  sync_response: {}
"#,
    );
    let client = client();
    let slow = tokio::spawn(client.post(sluice.url("/post")).body("slow").send());
    assert!(
        sluice.wait_for_log("started slow", Duration::from_secs(20)),
        "{}",
        sluice.logs()
    );
    sluice.terminate();
    assert!(
        sluice.wait_for_log("Received shutdown signal", Duration::from_secs(20)),
        "{}",
        sluice.logs()
    );
    let later = client.post(sluice.url("/post")).body("late").send().await;
    match later {
        Ok(res) => assert_eq!(res.status(), 503, "a request after SIGTERM"),
        Err(err) => assert!(err.is_connect() || err.is_request(), "{err}"),
    }
    let res = slow.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "SLOW");
    let status = sluice.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(!sluice.logs().contains("panicked"), "{}", sluice.logs());
}

#[tokio::test]
async fn own_address_serves_tls_from_cert_and_key_files() {
    let certs = crate::upstream::Certs::generate();
    let port = crate::support::free_port();
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    address: 127.0.0.1:{port}
    path: /secure
    cert_file: {cert}
    key_file: {key}
pipeline:
  processors:
    - mapping: 'root = "%s over %s".format(content().string(), @http_server_tls_version)'
output:
  sync_response: {{}}
"#,
        cert = certs.cert_file.display(),
        key = certs.key_file.display(),
    ));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca_file).unwrap()).unwrap();
    let tls_client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let res = tls_client
        .post(format!("https://127.0.0.1:{port}/secure"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "hello over TLSv1.3");
    // The port speaks only TLS: a plain HTTP request gets no answer.
    let plain = client()
        .post(format!("http://127.0.0.1:{port}/secure"))
        .body("hello")
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    drop(sluice);
}

#[test]
fn tls_needs_both_files_and_an_own_address() {
    let (_dir, path) = write_config(
        r#"
input:
  http_server:
    path: /secure
    cert_file: /nonexistent/cert.pem
    key_file: /nonexistent/key.pem
output:
  sync_response: {}
"#,
    );
    let (code, _, stderr) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cert_file and key_file need a custom address"),
        "{stderr}"
    );
}

#[tokio::test]
async fn cors_answers_preflights_and_marks_allowed_origins() {
    let port = crate::support::free_port();
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    address: 127.0.0.1:{port}
    path: /post
    cors:
      enabled: true
      allowed_origins: [ "https://app.example" ]
output:
  sync_response: {{}}
"#
    ));
    let url = format!("http://127.0.0.1:{port}/post");
    let preflight = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(preflight.headers()["access-control-allow-methods"], "POST");
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "content-type"
    );

    let allowed = client()
        .post(&url)
        .header("Origin", "https://app.example")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(allowed.text().await.unwrap(), "hi");

    let other = client()
        .post(&url)
        .header("Origin", "https://evil.example")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    drop(sluice);
}

#[test]
fn cors_without_origins_is_a_config_error() {
    let (_dir, path) = write_config(
        r#"
input:
  http_server:
    address: 127.0.0.1:0
    cors:
      enabled: true
output:
  sync_response: {}
"#,
    );
    let (code, _, stderr) = run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("must specify at least one allowed origin"),
        "{stderr}"
    );
}

#[tokio::test]
async fn reuse_port_lets_two_instances_share_one_address() {
    let port = crate::support::free_port();
    let config = format!(
        r#"
input:
  http_server:
    address: 127.0.0.1:{port}
    path: /post
    tcp:
      reuse_addr: true
      reuse_port: true
output:
  sync_response: {{}}
"#
    );
    // The second would fail to bind without SO_REUSEPORT.
    let first = Sluice::start(&config);
    let second = Sluice::start(&config);
    let res = client()
        .post(format!("http://127.0.0.1:{port}/post"))
        .body("shared")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "shared");
    drop((first, second));
}

/// An instance restarted on the address its predecessor served binds it at
/// once, although the predecessor's end of a connection it closed on
/// shutdown stays in TIME_WAIT for a minute.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_instance_binds_the_address_its_predecessor_served() {
    let port = crate::support::free_port();
    let config = format!(
        r#"
input:
  http_server:
    address: 127.0.0.1:{port}
    path: /post
output:
  sync_response: {{}}
"#
    );
    let url = format!("http://127.0.0.1:{port}/post");
    let mut first = Sluice::start(&config);
    // A kept-alive connection, which the stopping server closes first.
    let keep_alive = reqwest::Client::new();
    let res = keep_alive.post(&url).body("one").send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "one");
    first.terminate();
    assert!(
        tokio::task::block_in_place(|| first.wait_exit(Duration::from_secs(10))).is_some(),
        "the first instance did not stop:\n{}",
        first.logs()
    );
    let second = Sluice::start(&config);
    let res = client().post(&url).body("two").send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", second.logs());
    assert_eq!(res.text().await.unwrap(), "two");
}
