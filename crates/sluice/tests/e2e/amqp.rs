//! `amqp_0_9` input and output against a live RabbitMQ (run by
//! `scripts/test.sh`): the seed's one-way flow, redelivery when the output
//! fails, and dead-lettering of rejected messages.

use std::time::{Duration, Instant};

use lapin::options::{
    BasicAckOptions, BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, ExchangeKind};

use crate::brokers::{amqp_channel, amqp_publish, amqp_url, header_text, unique};
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
