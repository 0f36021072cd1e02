//! Helpers for the tests against live brokers: addresses from the
//! environment (set by `scripts/test.sh`), the tests' own Kafka and AMQP
//! clients, and the dedicated brokers the fault tests stop and start.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: the broker tests need live brokers; run them with scripts/test.sh, \
             which starts the brokers and sets SLUICE_TEST_KAFKA, SLUICE_TEST_KAFKA_TANSU, \
             SLUICE_TEST_AMQP, SLUICE_TEST_REDIS and SLUICE_SERVICES_SCRIPTS"
        ),
    }
}

/// A Kafka-compatible broker under test.
#[derive(Clone, Debug)]
pub(crate) struct Kafka {
    pub(crate) name: &'static str,
    pub(crate) addr: String,
}

impl Kafka {
    /// Session timeout for group members: tansu makes every join wait about
    /// half of it.
    pub(crate) const SESSION_TIMEOUT: &'static str = "6s";
}

/// Both Kafka implementations: noida-db and tansu.
pub(crate) fn kafka_brokers() -> Vec<Kafka> {
    vec![
        Kafka {
            name: "noida",
            addr: env("SLUICE_TEST_KAFKA"),
        },
        Kafka {
            name: "tansu",
            addr: env("SLUICE_TEST_KAFKA_TANSU"),
        },
    ]
}

/// Runs `check` against each Kafka broker, concurrently; a failure names the
/// broker.
pub(crate) async fn for_each_kafka<F, Fut>(check: F)
where
    F: Fn(Kafka) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handles: Vec<_> = kafka_brokers()
        .into_iter()
        .map(|k| (k.name, tokio::spawn(check(k))))
        .collect();
    let mut failures = Vec::new();
    for (name, handle) in handles {
        if let Err(err) = handle.await {
            let text = err
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                })
                .unwrap_or_else(|| "cancelled".to_owned());
            failures.push(format!("[{name}] {text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The AMQP URL of the shared RabbitMQ.
pub(crate) fn amqp_url() -> String {
    env("SLUICE_TEST_AMQP")
}

/// The URL of the shared redis-server.
pub(crate) fn redis_url() -> String {
    env("SLUICE_TEST_REDIS")
}

/// A connection of the test's own to the shared redis-server.
pub(crate) async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis")
}

/// A name no other test (or earlier run) uses.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn client_config(addr: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", addr);
    config
}

/// Creates `topic` with `partitions` partitions.
pub(crate) async fn create_topic(addr: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client_config(addr).create().expect("admin");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics");
    for result in results {
        result.unwrap_or_else(|(t, e)| panic!("creating topic {t} on {addr}: {e}"));
    }
    // Wait until the metadata shows every partition.
    let consumer: BaseConsumer = client_config(addr).create().expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()
            .and_then(|m| m.topics().first().map(|t| t.partitions().len()))
            .unwrap_or(0);
        if n == partitions as usize {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "topic {topic} has {n} partitions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Produces records (partition, value) and waits for every delivery.
pub(crate) async fn produce(addr: &str, topic: &str, records: &[(Option<i32>, &str)]) {
    let producer: FutureProducer = client_config(addr)
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut deliveries = Vec::new();
    for (partition, value) in records {
        let mut record = FutureRecord::<(), _>::to(topic)
            .payload(value.as_bytes())
            .headers(OwnedHeaders::new().insert(Header {
                key: "origin",
                value: Some("test"),
            }));
        if let Some(p) = partition {
            record = record.partition(*p);
        }
        deliveries.push(producer.send_result(record).expect("enqueue"));
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("producing to {topic} on {addr}: {e}"));
    }
    producer.flush(Duration::from_secs(5)).expect("flush");
}

/// A record read back by the tests.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) value: String,
    pub(crate) headers: HashMap<String, String>,
    /// The record's timestamp in milliseconds, when it has one.
    pub(crate) timestamp_ms: Option<i64>,
}

/// Reads `topic` from the beginning of every partition until `done` holds
/// for what was read, or `timeout` passes; returns everything read.
pub(crate) fn consume_until(
    addr: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let consumer: BaseConsumer = client_config(addr)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let deadline = Instant::now() + timeout;
    let partitions = loop {
        let n = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()
            .and_then(|m| m.topics().first().map(|t| t.partitions().len()))
            .unwrap_or(0);
        if n > 0 || Instant::now() > deadline {
            break n.max(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    while !done(&out) && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    headers,
                    timestamp_ms: m.timestamp().to_millis(),
                });
            }
            Some(Err(e)) => eprintln!("reading {topic} on {addr}: {e}"),
            None => {}
        }
    }
    out
}

/// Runs `blocking` on a blocking thread (the Kafka test consumer blocks).
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// Waits until `cond` holds, polling; false when `timeout` passed first.
pub(crate) async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An AMQP connection and a channel in confirm mode.
pub(crate) async fn amqp_channel(url: &str) -> (Connection, Channel) {
    // `amqp://host:port/` means the vhost `/` to Benthos's client; lapin
    // follows the URI spec, where it means `""`.
    let target = match url.strip_suffix('/') {
        Some(base) if !base.ends_with('/') && base.matches('/').count() == 2 => {
            format!("{base}/%2f")
        }
        _ => url.to_owned(),
    };
    let conn = Connection::connect(&target, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    (conn, channel)
}

/// Publishes `body` with `headers` to `exchange`/`key` and waits for the
/// broker's confirm.
pub(crate) async fn amqp_publish(
    channel: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(
            ShortString::from(*k),
            AMQPValue::LongString(LongString::from(*v)),
        );
    }
    let confirm = channel
        .basic_publish(
            ShortString::from(exchange),
            ShortString::from(key),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default()
                .with_headers(table)
                .with_content_type(ShortString::from("text/plain"))
                .with_delivery_mode(2),
        )
        .await
        .expect("publish");
    assert!(
        confirm.await.expect("confirm").is_ack(),
        "publish not confirmed"
    );
}

/// A header value of a delivery as text.
pub(crate) fn header_text(props: &BasicProperties, key: &str) -> Option<String> {
    let value = props.headers().as_ref()?.inner().get(key)?.clone();
    Some(match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        other => format!("{other:?}"),
    })
}

/// A free AMQP port for `rabbitmq.sh`, which also listens on the port plus
/// 10000 (management) and plus 20000 (Erlang distribution).
pub(crate) fn free_rabbitmq_port() -> u16 {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    // Below the ephemeral range, so that the derived ports stay valid and
    // are not handed to outgoing connections meanwhile.
    // Each call starts from a new candidate: two brokers starting at once
    // must not both take a port that is free until the first one binds it.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let start = 20_000 + ((u64::from(std::process::id()) * 7 + call * 101) % 9_000) as u16;
    (start..30_000)
        .chain(20_000..start)
        .find(|p| free(*p) && free(p + 10_000) && free(p + 20_000))
        .expect("no free port for RabbitMQ")
}

/// A broker of its own for a fault test, on its own port, stopped on drop.
pub(crate) struct DedicatedBroker {
    script: &'static str,
    env: Vec<(&'static str, String)>,
    pub(crate) addr: String,
    // What the service script said on each stop and start, for a test that
    // fails after a restart to show (a broker may report losing data).
    script_log: std::sync::Mutex<String>,
}

impl DedicatedBroker {
    /// `kafka` (noida, data kept across restarts) on a free port.
    pub(crate) fn kafka() -> DedicatedBroker {
        Self::start_new(
            "kafka.sh",
            vec![
                ("SLUICE_KAFKA_PORT", crate::support::free_port().to_string()),
                ("SLUICE_KAFKA_IMPL", "noida".to_owned()),
            ],
            ("SLUICE_KAFKA_KEEP_DATA", "1"),
        )
    }

    /// RabbitMQ on a free port, data kept across restarts.
    pub(crate) fn rabbitmq() -> DedicatedBroker {
        Self::start_new(
            "rabbitmq.sh",
            vec![("SLUICE_RABBITMQ_PORT", free_rabbitmq_port().to_string())],
            ("SLUICE_RABBITMQ_KEEP_DATA", "1"),
        )
    }

    /// RabbitMQ on `port` with an extra AMQP-over-TLS listener on
    /// `tls_port` serving `cert`/`key`; with `client_ca`, clients must
    /// present a certificate signed by it. The files must outlive the broker.
    pub(crate) fn rabbitmq_tls(
        port: u16,
        tls_port: u16,
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> DedicatedBroker {
        let mut env = vec![
            ("SLUICE_RABBITMQ_PORT", port.to_string()),
            ("SLUICE_RABBITMQ_TLS_PORT", tls_port.to_string()),
            ("SLUICE_RABBITMQ_TLS_CERT", cert.display().to_string()),
            ("SLUICE_RABBITMQ_TLS_KEY", key.display().to_string()),
        ];
        if let Some(ca) = client_ca {
            env.push(("SLUICE_RABBITMQ_TLS_CA", ca.display().to_string()));
        }
        Self::start_new("rabbitmq.sh", env, ("SLUICE_RABBITMQ_KEEP_DATA", "0"))
    }

    fn start_new(
        script: &'static str,
        mut env: Vec<(&'static str, String)>,
        keep: (&'static str, &str),
    ) -> DedicatedBroker {
        let mut broker = DedicatedBroker {
            script,
            env: env.clone(),
            addr: String::new(),
            script_log: std::sync::Mutex::new(String::new()),
        };
        // A clean start: wipe what an earlier run may have left.
        broker.run("stop");
        env.push((keep.0, keep.1.to_owned()));
        broker.env = env;
        broker.addr = broker.run("start");
        broker
    }

    fn run(&self, action: &str) -> String {
        let path = format!("{}/{}", env("SLUICE_SERVICES_SCRIPTS"), self.script);
        let out = Command::new(&path)
            .arg(action)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap_or_else(|e| panic!("running {path}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{path} {action} failed: {stderr}");
        self.script_log
            .lock()
            .unwrap()
            .push_str(&format!("{} {action}:\n{stderr}", self.script));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Everything the service script printed to stderr so far.
    pub(crate) fn script_log(&self) -> String {
        self.script_log.lock().unwrap().clone()
    }

    /// Stops the broker (its data stays).
    pub(crate) fn stop(&self) {
        self.run("stop");
    }

    /// Starts it again on the same port, with the same data.
    pub(crate) fn restart(&self) {
        self.run("start");
    }
}

impl Drop for DedicatedBroker {
    fn drop(&mut self) {
        // Stop and delete the data.
        self.env.retain(|(k, _)| !k.ends_with("KEEP_DATA"));
        let path = format!("{}/{}", env("SLUICE_SERVICES_SCRIPTS"), self.script);
        drop(
            Command::new(&path)
                .arg("stop")
                .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
                .output(),
        );
    }
}

/// How many partitions `topic` has (0 when it does not exist).
pub(crate) fn partition_count(addr: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = client_config(addr).create().expect("consumer");
    consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .ok()
        .and_then(|m| {
            m.topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
        })
        .unwrap_or(0)
}
