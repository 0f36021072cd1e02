//! The server's limits on what one client may hold: header read time,
//! header size, body and WebSocket message size, connections and file
//! descriptors, and draining accepted requests at shutdown.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::{Sluice, client, post};

const ECHO: &str = r#"
input:
  http_server:
    path: /post
output:
  sync_response: {}
"#;

/// Reads from `stream` until the peer closes it or `timeout` passes; what
/// was read, and whether the peer closed.
fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> (String, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

#[tokio::test]
async fn half_sent_headers_get_408_and_the_connection_closed() {
    let sluice = Sluice::start(&format!("http:\n  read_header_timeout: 300ms\n{ECHO}"));
    let mut slow = TcpStream::connect(sluice.addr).unwrap();
    slow.write_all(b"POST /post HTTP/1.1\r\nHost: sluice\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut slow, Duration::from_secs(10));
    assert!(closed, "the connection stays open: {answer:?}");
    assert!(
        answer.starts_with("HTTP/1.1 408 "),
        "answer to a slow header: {answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    // A client that connects and says nothing is let go the same way,
    // without an answer: there was no request to answer.
    let mut idle = TcpStream::connect(sluice.addr).unwrap();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(closed, "an idle connection stays open");
    assert_eq!(answer, "");
    // The server itself is unharmed.
    assert_eq!(post(&sluice, "/post", "still here").await.1, "still here");
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let sluice = Sluice::start(ECHO);
    let mut many = String::from("POST /post HTTP/1.1\r\nHost: sluice\r\nContent-Length: 2\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-Header-{i}: {i}\r\n"));
    }
    many.push_str("\r\nhi");
    let huge = format!(
        "POST /post HTTP/1.1\r\nHost: sluice\r\nX-Huge: {}\r\nContent-Length: 2\r\n\r\nhi",
        "a".repeat(1 << 20)
    );
    for request in [many, huge] {
        let mut conn = TcpStream::connect(sluice.addr).unwrap();
        // The server may close before reading all of a huge header.
        drop(conn.write_all(request.as_bytes()));
        let (answer, _) = read_until_closed(&mut conn, Duration::from_secs(10));
        assert!(
            answer.starts_with("HTTP/1.1 431 "),
            "answer to {} bytes of headers: {answer:?}",
            request.len()
        );
    }
    assert_eq!(post(&sluice, "/post", "fine").await.1, "fine");
}

#[tokio::test]
async fn bodies_over_the_default_limit_get_413() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - mapping: root = content().length()
output:
  sync_response: {}
"#,
    );
    let limit = 64 << 20;
    let res = client()
        .post(sluice.url("/post"))
        .body(vec![b'x'; limit + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = client()
        .post(sluice.url("/post"))
        .body(vec![b'x'; limit])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), limit.to_string());
}

#[tokio::test]
async fn websocket_messages_over_max_body_bytes_close_the_socket_with_1009() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
    max_body_bytes: 5000
pipeline:
  processors:
    - mapping: root = content().length()
output:
  sync_response: {}
"#,
    );
    let url = format!("ws://{}/post/ws", sluice.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    socket.send(Frame::text("x".repeat(5000))).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a reply")
        .unwrap()
        .unwrap();
    assert_eq!(reply, Frame::text("5000"));
    // The sender may see its write fail once the server has closed.
    drop(socket.send(Frame::text("x".repeat(10 << 20))).await);
    let close = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a close frame");
    match close {
        Some(Ok(Frame::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame with 1009, got {other:?}"),
    }
    assert!(
        sluice.wait_for_log("message exceeds max_body_bytes", Duration::from_secs(5)),
        "{}",
        sluice.logs()
    );
    // Nothing of the big message was processed, and the server is fine.
    assert_eq!(post(&sluice, "/post", "abc").await.1, "3");
}

#[tokio::test]
async fn content_types_that_do_not_parse_are_taken_as_opaque() {
    let sluice = Sluice::start(ECHO);
    for content_type in ["json", "application/json; charset", "???"] {
        let res = client()
            .post(sluice.url("/post"))
            .header("Content-Type", content_type)
            .body(r#"{"a":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "Content-Type: {content_type}");
        assert_eq!(res.text().await.unwrap(), r#"{"a":1}"#);
    }
}

/// A short key for `i`, in base 62: distinct keys in as few bytes as
/// possible, as a URI holds at most 64 KiB.
fn short_key(mut i: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut key = vec![b'k'];
    loop {
        key.push(DIGITS[i % 62]);
        i /= 62;
        if i == 0 {
            break;
        }
    }
    String::from_utf8(key).unwrap()
}

#[tokio::test]
async fn thousands_of_query_parameters_are_cheap() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /get
    allowed_verbs: [GET]
pipeline:
  processors:
    - mapping: 'root = "%v %v".format(@k0, @kZZ)'
output:
  sync_response: {}
"#,
    );
    // 12,000 distinct keys, the first one repeated at the end.
    let mut query: Vec<String> = (1..12_000).map(short_key).collect();
    query.insert(0, "k0=first".to_owned());
    query.retain(|k| k != "kZZ");
    query.push("kZZ=last".to_owned());
    query.push("k0=dup".to_owned());
    let url = sluice.url(&format!("/get?{}", query.join("&")));
    let started = Instant::now();
    let res = client().get(url).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 200);
    // The first value of a repeated key wins, as Go's Values.Get gives it.
    assert_eq!(res.text().await.unwrap(), "first last");
    // Comparing each key with every earlier one took seconds here.
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_request_already_accepted() {
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
    let requests: Vec<_> = (0..8)
        .map(|i| {
            let req = client.post(sluice.url("/post")).body(format!("r{i}"));
            tokio::spawn(req.send())
        })
        .collect();
    assert!(
        sluice.wait_for_log("started r", Duration::from_secs(20)),
        "{}",
        sluice.logs()
    );
    // The eight were sent at once; give their bytes a moment to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sluice.terminate();
    assert!(
        sluice.wait_for_log("Received shutdown signal", Duration::from_secs(20)),
        "{}",
        sluice.logs()
    );
    let ready = client.get(sluice.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "/ready while draining");
    let late = client.post(sluice.url("/post")).body("late").send().await;
    if let Ok(res) = late {
        assert_eq!(res.status(), 503, "a request after SIGTERM");
        assert_eq!(
            res.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
    }
    for (i, request) in requests.into_iter().enumerate() {
        let res = request.await.unwrap().unwrap();
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(res.text().await.unwrap(), format!("R{i}"));
    }
    let status = sluice.wait_exit(Duration::from_secs(20)).expect("exits");
    assert!(status.success(), "{status:?}\n{}", sluice.logs());
}

/// Opens `n` connections that send nothing.
fn hold_connections(sluice: &Sluice, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(sluice.addr).expect("connect"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_accept_loop_backs_off() {
    // The cap is set above what the descriptors allow, so accept fails.
    let sluice = Sluice::start_with_open_file_limit(
        &format!("http:\n  max_connections: 100000\n{ECHO}"),
        64,
    );
    let held = hold_connections(&sluice, 100);
    assert!(
        sluice.wait_for_log("Failed to accept connection", Duration::from_secs(10)),
        "{}",
        sluice.logs()
    );
    let cpu_before = sluice.cpu_time();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = sluice.cpu_time() - cpu_before;
    let warnings = sluice.logs().matches("Failed to accept connection").count();
    // Spinning on accept used a whole core and wrote millions of lines.
    assert!(cpu < Duration::from_millis(500), "{cpu:?} of CPU in 2 s");
    assert!(warnings <= 6, "{warnings} warnings:\n{}", sluice.logs());
    drop(held);
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(10), post(&sluice, "/post", "ok"))
            .await
            .expect("answered once descriptors are free");
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_connection_cap_stays_under_the_open_file_limit() {
    let sluice = Sluice::start_with_open_file_limit(ECHO, 200);
    let held = hold_connections(&sluice, 120);
    assert!(
        sluice.wait_for_log("Connection limit reached", Duration::from_secs(10)),
        "{}",
        sluice.logs()
    );
    drop(held);
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(10), post(&sluice, "/post", "ok"))
            .await
            .expect("answered once connections close");
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert!(
        !sluice.logs().contains("Failed to accept connection"),
        "{}",
        sluice.logs()
    );
}

#[tokio::test]
async fn file_paths_from_request_data_stay_inside_base_dir() {
    let sluice = Sluice::start(
        r#"
input:
  http_server:
    path: /post
output:
  file:
    path: '${! json("name") }.txt'
    base_dir: '{dir}/out'
    codec: lines
"#,
    );
    let (status, _) = post(&sluice, "/post", r#"{"name":"orders/today"}"#).await;
    assert_eq!(status, 200);
    let written = sluice.dir.join("out/orders/today.txt");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "{\"name\":\"orders/today\"}\n"
    );
    for name in ["../escaped", "a/../../escaped", "/tmp/escaped"] {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let (status, answer) = post(&sluice, "/post", &body).await;
        assert_eq!(status, 502, "{name}: {answer}");
        assert!(answer.contains("outside base_dir"), "{name}: {answer}");
    }
    assert!(!sluice.dir.join("escaped.txt").exists());
    assert!(!std::path::Path::new("/tmp/escaped.txt").exists());
}

#[test]
fn lint_warns_of_a_file_path_from_message_data_without_base_dir() {
    let (_dir, path) = crate::support::write_config(
        r#"input:
  stdin: {}
output:
  file:
    path: '/var/out/${! json("name") }.txt'
"#,
    );
    let (code, _, stderr) = crate::support::run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!(code, 0, "a warning does not fail the lint: {stderr}");
    assert!(
        stderr.contains("(5,5) warning: file output path is interpolated without base_dir"),
        "{stderr}"
    );
}

#[test]
fn lint_refuses_an_alias_bomb_at_once() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(text.len() < 1024);
    let (_dir, path) = crate::support::write_config(&text);
    let started = Instant::now();
    let (code, _, stderr) = crate::support::run_cli(&["lint", path.to_str().unwrap()], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("document contains excessive aliasing"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
