//! What users see when a config, a body or a client misbehaves.

use std::io::{Read as _, Write as _};

use crate::support::{Sluice, client, lint, run_cli, write_config};

#[test]
fn malformed_yaml_is_reported_with_a_position() {
    let (code, stderr) = lint("input:\n  http_server: {path: /post\noutput:\n  drop: {}\n");
    assert_eq!(code, 1);
    assert!(stderr.starts_with("x.yaml("), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn unknown_field_is_reported_at_its_line() {
    let (code, stderr) = lint(
        r#"input:
  http_server:
    path: /post
output:
  drop: {}
  bogus: true
"#,
    );
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "x.yaml(6,1) field bogus is invalid when the component type is drop (output)\n"
    );
}

#[test]
fn unknown_component_is_not_recognised() {
    let (code, stderr) = lint("input:\n  type: x\noutput:\n  drop: {}\n");
    assert_eq!(code, 1);
    assert_eq!(stderr, "x.yaml(2,1) input type 'x' was not recognised\n");
    let (code, stderr) = lint("input:\n  x: {}\noutput:\n  drop: {}\n");
    assert_eq!(code, 1);
    assert_eq!(stderr, "x.yaml(2,1) unable to infer component type: x\n");
}

#[test]
fn planned_component_is_not_supported_yet() {
    let (code, stderr) = lint(
        r#"input:
  http_server: {}
output:
  nats:
    urls: [ nats://127.0.0.1:4222 ]
    subject: foo
"#,
    );
    assert_eq!(code, 1);
    assert!(stderr.starts_with("x.yaml(4,3) "), "{stderr}");
    assert!(stderr.contains("is not supported yet"), "{stderr}");
}

#[test]
fn broken_mapping_names_the_line_inside_the_config() {
    let (code, stderr) = lint(
        r#"input:
  http_server: {}
pipeline:
  processors:
    - mapping: |
        root.a = this.a
        root.b = nope()
output:
  drop: {}
"#,
    );
    assert_eq!(code, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("x.yaml(7,"), "{stderr}");
    assert!(stderr.contains("unrecognised function 'nope'"), "{stderr}");
}

#[tokio::test]
async fn malformed_json_body_with_this_is_answered_unchanged() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root.name = this.name.uppercase()
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"name": "bob""#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"name": "bob""#);
    let res = client()
        .post(sluice.url("/post"))
        .body(r#"{"name": "bob"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), r#"{"name":"BOB"}"#);
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    max_body_bytes: 16
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x".repeat(17))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = client()
        .post(sluice.url("/post"))
        .body("x".repeat(16))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "x".repeat(16));
}

#[tokio::test]
async fn body_without_a_limit_is_accepted_whatever_its_size() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    max_body_bytes: 0
pipeline:
  processors:
    - mapping: root = content().length()
output:
  sync_response: {}
"#,
    );
    let res = client()
        .post(sluice.url("/post"))
        .body("x".repeat(80 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), (80 << 20).to_string());
}

#[tokio::test]
async fn client_disconnecting_mid_request_does_not_hurt_the_server() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  sync_response: {}
"#,
    );
    let addr = sluice.addr;
    tokio::task::spawn_blocking(move || {
        // Headers promise more body than is sent, then the socket closes.
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
            .unwrap();
        drop(stream);
        // A second client leaves while its request is being processed.
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbye!")
            .unwrap();
        stream.shutdown(std::net::Shutdown::Both).unwrap();
        // The server may answer or reset the half-closed socket: either is fine.
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).ok();
    })
    .await
    .unwrap();
    let res = client()
        .post(sluice.url("/post"))
        .body("still here")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "STILL HERE");
    let logs = sluice.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn run_refuses_unknown_components_before_listening() {
    let (_dir, path) = write_config("input:\n  x: {}\noutput:\n  drop: {}\n");
    let path = path.display().to_string();
    let (code, _, stderr) = run_cli(&["-c", &path, "--set", "http.address=127.0.0.1:0"], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("{path}(2,1) unable to infer component type: x")),
        "{stderr}"
    );
    assert!(!stderr.contains("Listening for HTTP requests"), "{stderr}");
}
