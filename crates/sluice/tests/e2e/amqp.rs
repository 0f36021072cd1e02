//! `amqp_0_9` input and output against a live RabbitMQ (run by
//! `scripts/test.sh`): the seed's one-way flow, redelivery when the output
//! fails, and dead-lettering of rejected messages.

use std::time::{Duration, Instant};

use lapin::options::{
    BasicAckOptions, BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, ExchangeKind};

use crate::brokers::{DedicatedBroker, amqp_channel, amqp_publish, amqp_url, header_text, unique};
use crate::support::Sluice;

async fn declare_exchange(channel: &Channel, name: &str, kind: ExchangeKind) {
    channel
        .exchange_declare(
            ShortString::from(name),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("exchange declare");
}

async fn declare_queue(channel: &Channel, name: &str, args: FieldTable) {
    channel
        .queue_declare(
            ShortString::from(name),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await
        .expect("queue declare");
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) {
    channel
        .queue_bind(
            ShortString::from(queue),
            ShortString::from(exchange),
            ShortString::from(key),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
}

/// Gets (and acks) one message from `queue`, waiting up to `timeout`.
pub(crate) async fn get_one(
    channel: &Channel,
    queue: &str,
    timeout: Duration,
) -> Option<(Vec<u8>, BasicProperties)> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = channel
            .basic_get(ShortString::from(queue), BasicGetOptions::default())
            .await
            .expect("basic.get");
        if let Some(msg) = got {
            let delivery = msg.delivery;
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
            return Some((delivery.data, delivery.properties));
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Ready messages and consumers of `queue`.
async fn queue_counts(channel: &Channel, queue: &str) -> (u32, u32) {
    let q = channel
        .queue_declare(
            ShortString::from(queue),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive declare");
    (q.message_count(), q.consumer_count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_in_and_out_with_metadata_as_headers() {
    let url = amqp_url();
    let (_conn, channel) = amqp_channel(&url).await;
    let (queue_in, exchange_out, queue_out) = (unique("in"), unique("x-out"), unique("out"));
    // The output declares its exchange; the test declares it too so it can
    // bind its queue before anything is published.
    declare_exchange(&channel, &exchange_out, ExchangeKind::Direct).await;
    declare_queue(&channel, &queue_out, FieldTable::default()).await;
    bind(&channel, &queue_out, &exchange_out, "processed").await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  amqp_0_9:
    urls: [ "{url}" ]
    queue: "{queue_in}"
    queue_declare:
      enabled: true
      durable: true
    bindings_declare:
      - exchange: amq.direct
        key: "{queue_in}"
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  amqp_0_9:
    urls: [ "{url}" ]
    exchange: "{exchange_out}"
    exchange_declare:
      enabled: true
      type: direct
      durable: true
    key: processed
    persistent: true
"#
    ));
    // Publish once the input declared, bound and consumes its queue.
    assert!(
        wait_consumers(&url, &queue_in, 1, Duration::from_secs(20)).await,
        "input never consumed: {}",
        sluice.logs()
    );
    amqp_publish(
        &channel,
        "amq.direct",
        &queue_in,
        b"hello amqp",
        &[("x-trace", "abc")],
    )
    .await;
    let (body, props) = get_one(&channel, &queue_out, Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("nothing arrived: {}", sluice.logs()));
    assert_eq!(body, b"HELLO AMQP");
    assert_eq!(
        props.content_type().as_ref().map(|s| s.as_str()),
        Some("application/octet-stream")
    );
    assert_eq!(props.delivery_mode(), &Some(2));
    // Input metadata (and the publisher's headers) become output headers.
    let header = |k: &str| header_text(&props, k);
    assert_eq!(header("x-trace").as_deref(), Some("abc"));
    assert_eq!(
        header("amqp_routing_key").as_deref(),
        Some(queue_in.as_str())
    );
    assert_eq!(header("amqp_exchange").as_deref(), Some("amq.direct"));
    assert_eq!(header("amqp_content_type").as_deref(), Some("text/plain"));
    assert_eq!(header("amqp_delivery_mode").as_deref(), Some("2"));
    assert_eq!(header("amqp_redelivered").as_deref(), Some("false"));
    // The input message was acked: once sluice stopped (and its consumer
    // with it) nothing was put back.
    let mut sluice = sluice;
    sluice.terminate();
    assert!(sluice.wait_exit(Duration::from_secs(15)).is_some());
    assert!(wait_consumers(&url, &queue_in, 0, Duration::from_secs(10)).await);
    assert_eq!(
        queue_counts(&channel, &queue_in).await.0,
        0,
        "the input message was not acked"
    );
}

/// Waits until `queue` exists and has `n` consumers.
pub(crate) async fn wait_consumers(url: &str, queue: &str, n: u32, timeout: Duration) -> bool {
    let (conn, mut channel) = amqp_channel(url).await;
    let deadline = Instant::now() + timeout;
    loop {
        let declared = channel
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(q) if q.consumer_count() == n => return true,
            Ok(_) => {}
            // A failed passive declare closes the channel.
            Err(_) => channel = conn.create_channel().await.expect("channel"),
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_output_leaves_the_message_unacked_and_it_is_redelivered() {
    let url = amqp_url();
    let (_conn, channel) = amqp_channel(&url).await;
    let (queue_in, exchange_out, queue_out) = (unique("in"), unique("x-out"), unique("out"));
    declare_queue(&channel, &queue_in, FieldTable::default()).await;
    declare_exchange(&channel, &exchange_out, ExchangeKind::Direct).await;
    // No queue is bound to the output exchange yet: with `mandatory` the
    // broker returns the message, the write fails, the input nacks with
    // requeue and the broker redelivers.
    let sluice = Sluice::start(&format!(
        r#"
input:
  amqp_0_9:
    urls: [ "{url}" ]
    queue: "{queue_in}"
    prefetch_count: 1
output:
  amqp_0_9:
    urls: [ "{url}" ]
    exchange: "{exchange_out}"
    key: k
    mandatory: true
"#
    ));
    amqp_publish(&channel, "", &queue_in, b"keep me", &[]).await;
    assert!(
        tokio::task::block_in_place(
            || sluice.wait_for_log("returned by the broker", Duration::from_secs(20))
        ),
        "{}",
        sluice.logs()
    );
    declare_queue(&channel, &queue_out, FieldTable::default()).await;
    bind(&channel, &queue_out, &exchange_out, "k").await;
    let (body, props) = get_one(&channel, &queue_out, Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("never delivered: {}", sluice.logs()));
    assert_eq!(body, b"keep me");
    assert_eq!(
        header_text(&props, "amqp_redelivered").as_deref(),
        Some("true")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_pattern_goes_to_the_dead_letter_exchange() {
    let url = amqp_url();
    let (_conn, channel) = amqp_channel(&url).await;
    let (queue_in, dlx, dlq) = (unique("in"), unique("dlx"), unique("dlq"));
    declare_exchange(&channel, &dlx, ExchangeKind::Fanout).await;
    declare_queue(&channel, &dlq, FieldTable::default()).await;
    bind(&channel, &dlq, &dlx, "").await;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(LongString::from(dlx.as_str())),
    );
    declare_queue(&channel, &queue_in, args).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  amqp_0_9:
    urls: [ "{url}" ]
    queue: "{queue_in}"
    nack_reject_patterns: [ "^poison" ]
output:
  reject: '${{! content() }} is not wanted'
"#
    ));
    amqp_publish(
        &channel,
        "",
        &queue_in,
        b"poison pill",
        &[("x-kind", "bad")],
    )
    .await;
    let (body, props) = get_one(&channel, &dlq, Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("nothing dead-lettered: {}", sluice.logs()));
    assert_eq!(body, b"poison pill");
    assert_eq!(header_text(&props, "x-kind").as_deref(), Some("bad"));
    assert!(
        props
            .headers()
            .as_ref()
            .is_some_and(|h| h.inner().contains_key("x-death")),
        "dead-lettered by the broker: {props:?}"
    );
}

/// A TLS-terminating proxy in front of the shared RabbitMQ: what a client
/// connecting to `amqps://localhost:<port>/` reaches.
async fn tls_proxy(certs: &crate::upstream::Certs) -> (u16, tokio::task::JoinHandle<()>) {
    let url = amqp_url();
    let broker = url
        .rsplit_once('@')
        .map_or(url.as_str(), |(_, rest)| rest)
        .trim_start_matches("amqp://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let acceptor = certs.acceptor();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, broker) = (acceptor.clone(), broker.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&broker).await else {
                    return;
                };
                drop(tokio::io::copy_bidirectional(&mut tls, &mut upstream).await);
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_and_input_speak_tls_with_the_configured_root_ca() {
    let certs = crate::upstream::Certs::generate();
    let (port, proxy) = tls_proxy(&certs).await;
    let (_conn, channel) = amqp_channel(&amqp_url()).await;
    let (queue, out_queue) = (unique("tls-in"), unique("tls-out"));
    declare_queue(&channel, &queue, FieldTable::default()).await;
    declare_queue(&channel, &out_queue, FieldTable::default()).await;
    let tls_url = format!("amqps://guest:guest@localhost:{port}/");
    let config = |tls: &str| {
        format!(
            r#"
input:
  amqp_0_9:
    urls: [ "{tls_url}" ]
    queue: "{queue}"
{tls}
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  amqp_0_9:
    urls: [ "{tls_url}" ]
    exchange: ""
    key: "{out_queue}"
{tls}
"#
        )
    };
    // Without the test CA the server is not trusted: nothing flows.
    let untrusted = Sluice::start(&config("    tls:\n      enabled: true"));
    amqp_publish(&channel, "", &queue, b"hello", &[]).await;
    assert!(
        tokio::task::block_in_place(
            || untrusted.wait_for_log("Failed to connect", Duration::from_secs(20))
        ),
        "{}",
        untrusted.logs()
    );
    assert!(
        get_one(&channel, &out_queue, Duration::from_secs(1))
            .await
            .is_none()
    );
    drop(untrusted);

    let trusted = Sluice::start(&config(&format!(
        "    tls:\n      enabled: true\n      root_cas_file: \"{}\"",
        certs.ca_path().display()
    )));
    let got = get_one(&channel, &out_queue, Duration::from_secs(20)).await;
    assert_eq!(
        got.map(|(body, _)| body),
        Some(b"HELLO".to_vec()),
        "{}",
        trusted.logs()
    );
    proxy.abort();
}

/// One `amqp_0_9` input → output flow over `amqps://` with the given `tls`
/// block (YAML lines at the component's indentation), on fresh queues of
/// `broker`. Returns sluice and what reached the output queue.
async fn flow_over_tls(
    broker: &DedicatedBroker,
    tls_port: u16,
    tls: &str,
    wait: Duration,
) -> (Sluice, Option<Vec<u8>>) {
    let (_conn, channel) = amqp_channel(&broker.addr).await;
    let (queue, out_queue) = (unique("tls-in"), unique("tls-out"));
    declare_queue(&channel, &queue, FieldTable::default()).await;
    declare_queue(&channel, &out_queue, FieldTable::default()).await;
    let url = format!("amqps://guest:guest@127.0.0.1:{tls_port}/");
    let sluice = Sluice::start(&format!(
        r#"
input:
  amqp_0_9:
    urls: [ "{url}" ]
    queue: "{queue}"
{tls}
pipeline:
  processors:
    - mapping: root = content().uppercase()
output:
  amqp_0_9:
    urls: [ "{url}" ]
    exchange: ""
    key: "{out_queue}"
{tls}
"#
    ));
    amqp_publish(&channel, "", &queue, b"hello", &[]).await;
    let got = get_one(&channel, &out_queue, wait).await;
    (sluice, got.map(|(body, _)| body))
}

/// The connection errors sluice logged.
fn connect_errors(sluice: &Sluice) -> String {
    assert!(
        tokio::task::block_in_place(
            || sluice.wait_for_log("Failed to connect", Duration::from_secs(20))
        ),
        "{}",
        sluice.logs()
    );
    sluice
        .logs()
        .lines()
        .filter(|l| l.contains("Failed to connect"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// RabbitMQ's own TLS listener (a node of its own, with a server certificate
/// from a test CA and client certificates required): the server is
/// rejected unless its CA is trusted or verification is skipped, and the
/// client certificate is presented in both modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_tls_listener_checks_the_server_and_takes_a_client_certificate() {
    let certs = crate::upstream::Certs::generate();
    let port = crate::brokers::free_rabbitmq_port();
    let tls_port = crate::support::free_port();
    let broker = tokio::task::block_in_place(|| {
        DedicatedBroker::rabbitmq_tls(
            port,
            tls_port,
            &certs.cert_file,
            &certs.key_file,
            Some(&certs.ca_file),
        )
    });
    let client_cert = format!(
        "      client_certs:\n        - cert_file: \"{}\"\n          key_file: \"{}\"",
        certs.client_cert_file.display(),
        certs.client_key_file.display()
    );
    let ca = format!("      root_cas_file: \"{}\"", certs.ca_file.display());

    // The server's certificate comes from a CA nobody trusts.
    let (untrusted, got) = flow_over_tls(
        &broker,
        tls_port,
        &format!("    tls:\n      enabled: true\n{client_cert}"),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(got, None);
    let errors = connect_errors(&untrusted);
    assert!(
        errors.contains("invalid peer certificate: UnknownIssuer"),
        "{errors}"
    );
    drop(untrusted);

    // No client certificate: RabbitMQ ends the handshake.
    let (anonymous, got) = flow_over_tls(
        &broker,
        tls_port,
        &format!("    tls:\n      enabled: true\n{ca}"),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(got, None);
    let errors = connect_errors(&anonymous);
    assert!(errors.contains("CertificateRequired"), "{errors}");
    drop(anonymous);

    for (what, tls) in [
        ("root_cas_file", ca.clone()),
        (
            "skip_cert_verify",
            "      skip_cert_verify: true".to_owned(),
        ),
    ] {
        let (sluice, got) = flow_over_tls(
            &broker,
            tls_port,
            &format!("    tls:\n      enabled: true\n{tls}\n{client_cert}"),
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(
            got.as_deref(),
            Some(&b"HELLO"[..]),
            "{what}: {}",
            sluice.logs()
        );
    }
    drop(broker);
}

/// AMQP short strings (header names, the routing key, properties) hold at
/// most 255 bytes. A caller's 300-byte header name is left out of the
/// headers, with a warning, and the message is delivered; a 300-byte
/// routing key taken from the request fails each write of that message
/// with an error naming the limit (fan_out retries it, so the caller gets
/// 408 at its timeout). The connection stays usable for the next caller (a corrupt
/// frame would have made the broker close it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_too_long_for_amqp_short_strings_never_reach_the_wire() {
    let url = amqp_url();
    let (_conn, channel) = amqp_channel(&url).await;
    let (exchange, queue) = (unique("x-long"), unique("long"));
    declare_exchange(&channel, &exchange, ExchangeKind::Direct).await;
    declare_queue(&channel, &queue, FieldTable::default()).await;
    bind(&channel, &queue, &exchange, "short").await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
    timeout: 1s
output:
  broker:
    pattern: fan_out
    outputs:
      - amqp_0_9:
          urls: [ "{url}" ]
          exchange: "{exchange}"
          key: '${{! meta("X-Key").or("short") }}'
      - sync_response: {{}}
"#
    ));
    let long_name = format!("X-{}", "n".repeat(300));
    let res = crate::support::client()
        .post(sluice.url("/post"))
        .header(long_name.as_str(), "v")
        .header("X-Kept", "yes")
        .body("long header name")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", sluice.logs());
    let (body, props) = get_one(&channel, &queue, Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("nothing arrived: {}", sluice.logs()));
    assert_eq!(body, b"long header name");
    assert_eq!(header_text(&props, "X-Kept").as_deref(), Some("yes"));
    let headers = props.headers().as_ref().expect("headers");
    assert!(
        headers.inner().keys().all(|k| k.as_str().len() <= 255),
        "{headers:?}"
    );
    assert!(
        sluice
            .logs()
            .contains("Metadata key longer than 255 bytes left out of the AMQP headers"),
        "{}",
        sluice.logs()
    );

    let res = crate::support::client()
        .post(sluice.url("/post"))
        .header("X-Key", "k".repeat(300))
        .body("long key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 408, "{}", sluice.logs());
    assert!(
        sluice
            .logs()
            .contains("the key is 300 bytes long, more than AMQP's limit of 255"),
        "{}",
        sluice.logs()
    );

    let res = crate::support::client()
        .post(sluice.url("/post"))
        .body("after")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", sluice.logs());
    let (body, _) = get_one(&channel, &queue, Duration::from_secs(20))
        .await
        .expect("the next message arrived");
    assert_eq!(body, b"after");
}
