//! `http_client` input in stream mode: one long response whose body is
//! split into messages by a scanner as it arrives, requested again when the
//! body ends unless `reconnect: false`.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use crate::support::Sluice;
use crate::upstream::{Reply, Upstream};

/// One streamed response as the test writes it: `Some(text)` sends a
/// chunk, `None` ends the body.
type Feed = mpsc::UnboundedSender<Option<String>>;

/// A server whose every response is a chunked body the test writes piece by
/// piece; each accepted request is handed over as a [`Feed`], with its
/// request line.
struct StreamServer {
    addr: std::net::SocketAddr,
    requests: mpsc::UnboundedReceiver<(String, Feed)>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamServer {
    async fn start() -> StreamServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let requests_tx = requests_tx.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let request_line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let (feed, mut chunks) = mpsc::unbounded_channel::<Option<String>>();
                    drop(requests_tx.send((request_line, feed)));
                    let start = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Feed: on\r\nTransfer-Encoding: chunked\r\n\r\n";
                    if socket.write_all(start.as_bytes()).await.is_err() {
                        return;
                    }
                    while let Some(Some(chunk)) = chunks.recv().await {
                        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
                        if socket.write_all(framed.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    drop(socket.write_all(b"0\r\n\r\n").await);
                    drop(socket.shutdown().await);
                });
            }
        });
        StreamServer {
            addr,
            requests,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request, once sluice made it.
    async fn next_request(&mut self) -> (String, Feed) {
        tokio::time::timeout(Duration::from_secs(10), self.requests.recv())
            .await
            .expect("sluice requested the stream in time")
            .expect("server running")
    }
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bodies(seen: &[crate::upstream::Seen]) -> Vec<String> {
    seen.iter().map(|s| s.text()).collect()
}

#[tokio::test]
async fn each_line_of_a_streamed_body_is_a_message_and_the_stream_is_reopened() {
    let mut server = StreamServer::start().await;
    let sink = Upstream::always(Reply::ok("")).await;
    let _sluice = Sluice::start(&format!(
        r#"
input:
  http_client:
    url: {}
    verb: GET
    stream:
      enabled: true
pipeline:
  threads: 1
output:
  http_client:
    url: {}
    verb: POST
    max_in_flight: 1
"#,
        server.url("/feed"),
        sink.url("/out")
    ));
    let (request_line, feed) = server.next_request().await;
    assert_eq!(request_line, "GET /feed HTTP/1.1");
    feed.send(Some("alpha\nbeta\n".to_owned())).unwrap();
    // Delivered while the response is still open.
    let seen = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(bodies(&seen), ["alpha", "beta"]);
    // A line split over two chunks is one message.
    feed.send(Some("gam".to_owned())).unwrap();
    feed.send(Some("ma\n\n".to_owned())).unwrap();
    let seen = sink.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        bodies(&seen),
        ["alpha", "beta", "gamma"],
        "the empty line is dropped"
    );
    // The body ends: the input asks again (reconnect defaults to true).
    feed.send(None).unwrap();
    let (request_line, feed) = server.next_request().await;
    assert_eq!(request_line, "GET /feed HTTP/1.1");
    feed.send(Some("delta\n".to_owned())).unwrap();
    let seen = sink.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(bodies(&seen), ["alpha", "beta", "gamma", "delta"]);
}

// `wait_exit` blocks its thread; the test's server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reconnect_the_end_of_the_body_ends_the_input() {
    let mut server = StreamServer::start().await;
    let sink = Upstream::always(Reply::ok("")).await;
    let mut sluice = Sluice::start(&format!(
        r#"
input:
  http_client:
    url: {}
    verb: GET
    stream:
      enabled: true
      reconnect: false
      scanner:
        csv: {{}}
pipeline:
  threads: 1
output:
  http_client:
    url: {}
    verb: POST
    max_in_flight: 1
"#,
        server.url("/rows.csv"),
        sink.url("/out")
    ));
    let (_, feed) = server.next_request().await;
    feed.send(Some("name,n\nx,1\n".to_owned())).unwrap();
    feed.send(Some("y,2\n".to_owned())).unwrap();
    feed.send(None).unwrap();
    let status = sluice
        .wait_exit(Duration::from_secs(15))
        .expect("the stream ends with its input");
    assert!(status.success(), "{status:?}\n{}", sluice.logs());
    let rows: Vec<Value> = sink
        .seen()
        .iter()
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            json!({"name": "x", "n": "1"}),
            json!({"name": "y", "n": "2"})
        ]
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), server.requests.recv())
            .await
            .is_err(),
        "no second request"
    );
}

// `wait_exit` blocks its thread; the test's server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_older_codec_field_splits_the_stream_too() {
    let mut server = StreamServer::start().await;
    let sink = Upstream::always(Reply::ok("")).await;
    let mut sluice = Sluice::start(&format!(
        r#"
input:
  http_client:
    url: {}
    verb: GET
    stream:
      enabled: true
      reconnect: false
      codec: "delim:|"
      max_buffer: 1000
pipeline:
  threads: 1
output:
  http_client:
    url: {}
    verb: POST
    max_in_flight: 1
"#,
        server.url("/feed"),
        sink.url("/out")
    ));
    let (_, feed) = server.next_request().await;
    feed.send(Some("one|two|thr".to_owned())).unwrap();
    feed.send(Some("ee".to_owned())).unwrap();
    feed.send(None).unwrap();
    assert!(
        sluice.wait_exit(Duration::from_secs(15)).is_some(),
        "{}",
        sluice.logs()
    );
    assert_eq!(bodies(&sink.seen()), ["one", "two", "three"]);
}

#[tokio::test]
async fn a_message_the_output_refused_is_read_again_while_the_stream_stays_open() {
    let mut server = StreamServer::start().await;
    let sink = Upstream::sequence(vec![Reply::new(500, "down"), Reply::ok("")]).await;
    let _sluice = Sluice::start(&format!(
        r#"
input:
  http_client:
    url: {}
    verb: GET
    stream:
      enabled: true
pipeline:
  threads: 1
output:
  http_client:
    url: {}
    verb: POST
    retries: 0
    max_in_flight: 1
"#,
        server.url("/feed"),
        sink.url("/out")
    ));
    let (_, feed) = server.next_request().await;
    feed.send(Some("alpha\n".to_owned())).unwrap();
    // auto_replay_nacks (on by default): refused once, then delivered,
    // without waiting for more of the body.
    let seen = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(bodies(&seen), ["alpha", "alpha"]);
    feed.send(Some("beta\n".to_owned())).unwrap();
    let seen = sink.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(bodies(&seen), ["alpha", "alpha", "beta"]);
}
