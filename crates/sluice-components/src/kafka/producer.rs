//! The Kafka producer shared by the `kafka`, `kafka_franz` and `redpanda`
//! outputs. A batch is acknowledged only once the broker acknowledged every
//! record of it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use regex::Regex;
use sluice_bloblang::Interpolation;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::message::{Batch, Message};
use sluice_core::runtime::retries::{Retries, RetryPolicy};

use super::SaslContext;
use super::partitions::{InFlight, Partitions, Spread};

/// Which metadata keys become record headers.
pub(crate) enum HeaderPolicy {
    /// `kafka`: everything except these prefixes.
    AllExcept(Vec<String>),
    /// `kafka_franz` / `redpanda`: only what matches (nothing by default).
    Only {
        prefixes: Vec<String>,
        patterns: Vec<Regex>,
    },
}

impl HeaderPolicy {
    fn includes(&self, key: &str) -> bool {
        match self {
            HeaderPolicy::AllExcept(prefixes) => {
                !prefixes.iter().any(|p| key.starts_with(p.as_str()))
            }
            HeaderPolicy::Only { prefixes, patterns } => {
                prefixes.iter().any(|p| key.starts_with(p.as_str()))
                    || patterns.iter().any(|r| r.is_match(key))
            }
        }
    }
}

/// Everything a producer needs, already validated.
pub(crate) struct ProducerSettings {
    pub(crate) client: ClientConfig,
    pub(crate) topic: Interpolation,
    pub(crate) key: Option<Interpolation>,
    pub(crate) partition: Option<Interpolation>,
    pub(crate) timestamp_ms: Option<Interpolation>,
    pub(crate) headers: HeaderPolicy,
    pub(crate) static_headers: Vec<(String, String)>,
    /// How long a connection check may take.
    pub(crate) connect_timeout: Duration,
    /// How records without a manual partition are spread: round_robin and
    /// least_backup are not librdkafka partitioners, so the producer picks
    /// those partitions itself.
    pub(crate) spread: Spread,
    /// `custom_topic_creation`: topics missing when first written to are
    /// created with these settings.
    pub(crate) topic_creation: Option<TopicCreation>,
    /// How failed records are retried. The client itself makes one attempt
    /// per record (see [`one_attempt_per_send`]), so that no retry starts
    /// once the callers of a record have gone.
    pub(crate) retry: RetryPolicy,
    /// Whether every record of a batch is sent again when one failed
    /// (`retry_as_batch`), rather than only the failed ones.
    pub(crate) retry_as_batch: bool,
}

/// Makes the client give each sent record one attempt lasting at most
/// `attempt`: librdkafka cannot withdraw a record once it holds it, so
/// retries it made on its own would go on after the caller's 408. The
/// producer retries instead ([`ProducerSettings::retry`]). An idempotent
/// producer needs the client's retries (librdkafka refuses to start
/// without), which then stay within `attempt` too.
pub(crate) fn one_attempt_per_send(client: &mut ClientConfig, attempt: Duration, idempotent: bool) {
    client.set("message.timeout.ms", attempt.as_millis().max(1).to_string());
    if !idempotent {
        client.set("message.send.max.retries", "0");
    }
}

/// How missing topics are created; -1 leaves a value to the broker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TopicCreation {
    pub(crate) partitions: i32,
    pub(crate) replication_factor: i32,
}

/// A producer output; connects lazily and reports broker reachability.
pub(crate) struct KafkaProducer {
    settings: ProducerSettings,
    producer: Mutex<Option<FutureProducer<SaslContext>>>,
    connected: AtomicBool,
    partitions: Partitions,
    /// Topics known to exist (only with `topic_creation`).
    existing_topics: Mutex<HashSet<String>>,
    admin: Mutex<Option<Arc<AdminClient<SaslContext>>>>,
}

impl KafkaProducer {
    pub(crate) fn new(settings: ProducerSettings) -> Self {
        Self {
            settings,
            producer: Mutex::new(None),
            connected: AtomicBool::new(false),
            partitions: Partitions::default(),
            existing_topics: Mutex::new(HashSet::new()),
            admin: Mutex::new(None),
        }
    }

    /// Creates the topics of `topics` that do not exist yet, as Benthos's
    /// `custom_topic_creation` does before writing to them.
    async fn create_missing_topics(
        &self,
        producer: &FutureProducer<SaslContext>,
        creation: TopicCreation,
        topics: &[&str],
    ) -> Result<(), OutputError> {
        let missing: Vec<String> = {
            let existing = self.existing_topics.lock().expect("topic lock poisoned");
            topics
                .iter()
                .filter(|t| !existing.contains(**t))
                .map(|t| (*t).to_owned())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        // Listing every topic (rather than asking for these ones) cannot
        // trigger the broker's own auto-creation.
        let client = producer.clone();
        let timeout = self.settings.connect_timeout;
        let listed = tokio::task::spawn_blocking(move || {
            client.client().fetch_metadata(None, timeout).map(|m| {
                m.topics()
                    .iter()
                    .filter(|t| t.error().is_none())
                    .map(|t| t.name().to_owned())
                    .collect::<HashSet<_>>()
            })
        })
        .await
        .map_err(|e| self.failed(e.to_string()))?
        .map_err(|e| self.failed(format!("failed to list topics: {e}")))?;
        let to_create: Vec<&String> = missing.iter().filter(|t| !listed.contains(*t)).collect();
        if !to_create.is_empty() {
            let admin = self.admin()?;
            let new_topics: Vec<NewTopic<'_>> = to_create
                .iter()
                .map(|t| {
                    NewTopic::new(
                        t.as_str(),
                        creation.partitions,
                        TopicReplication::Fixed(creation.replication_factor),
                    )
                })
                .collect();
            let results = admin
                .create_topics(
                    &new_topics,
                    &AdminOptions::new().operation_timeout(Some(timeout)),
                )
                .await
                .map_err(|e| self.failed(format!("failed to create topics: {e}")))?;
            for result in results {
                match result {
                    Ok(topic) => tracing::info!(topic = %topic, "Created topic."),
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((topic, err)) => {
                        return Err(self.failed(format!("failed to create topic '{topic}': {err}")));
                    }
                }
            }
        }
        self.existing_topics
            .lock()
            .expect("topic lock poisoned")
            .extend(missing);
        Ok(())
    }

    fn admin(&self) -> Result<Arc<AdminClient<SaslContext>>, OutputError> {
        let mut admin = self.admin.lock().expect("admin lock poisoned");
        if let Some(admin) = &*admin {
            return Ok(Arc::clone(admin));
        }
        let created: AdminClient<SaslContext> = self
            .settings
            .client
            .create_with_context(SaslContext)
            .map_err(|e| self.failed(format!("failed to create an admin client: {e}")))?;
        let created = Arc::new(created);
        *admin = Some(Arc::clone(&created));
        Ok(created)
    }

    /// Makes sure the partition count of every topic in `topics` is known,
    /// asking the broker for the ones that are not. A topic that does not
    /// exist yet (auto-created on first write) stays unknown and its records
    /// go to the partition librdkafka picks.
    async fn learn_partitions(&self, producer: &FutureProducer<SaslContext>, topics: &[&str]) {
        for topic in topics {
            if self.partitions.knows(topic) {
                continue;
            }
            let client = producer.clone();
            let name = (*topic).to_owned();
            let timeout = self.settings.connect_timeout;
            let found = tokio::task::spawn_blocking(move || {
                client
                    .client()
                    .fetch_metadata(Some(&name), timeout)
                    .ok()
                    .and_then(|m| {
                        m.topics()
                            .iter()
                            .find(|t| t.name() == name && t.error().is_none())
                            .map(|t| t.partitions().len())
                    })
            })
            .await
            .ok()
            .flatten();
            match found.and_then(|n| i32::try_from(n).ok()).filter(|n| *n > 0) {
                Some(count) => self.partitions.learn(topic, count),
                None => {
                    tracing::debug!(topic = %topic, "Partition count unknown, the client picks partitions.")
                }
            }
        }
    }

    fn producer(&self) -> Option<FutureProducer<SaslContext>> {
        self.producer
            .lock()
            .expect("producer lock poisoned")
            .clone()
    }

    fn failed(&self, text: String) -> OutputError {
        OutputError::Failed(text.into())
    }

    /// Sends the records of `batch` at `indexes` once and waits for their
    /// delivery reports; returns the records that failed, with their errors.
    /// A record the client refuses outright fails the whole write.
    async fn send_once(
        &self,
        producer: &FutureProducer<SaslContext>,
        batch: &Batch,
        all_parts: &[RecordParts],
        indexes: &[usize],
        in_flight: &mut [Option<InFlight>],
    ) -> Result<Vec<(usize, String)>, OutputError> {
        let mut deliveries = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let parts = &all_parts[index];
            let mut counted = in_flight[index].take();
            let payload = batch[index].bytes();
            let mut record = FutureRecord::to(&parts.topic)
                .payload(&payload[..])
                .headers(record_headers(
                    &self.settings.headers,
                    &self.settings.static_headers,
                    &batch[index],
                ));
            if let Some(key) = &parts.key {
                record = record.key(key);
            }
            if let Some(partition) = parts.partition {
                record = record.partition(partition);
            }
            if let Some(ts) = parts.timestamp {
                record = record.timestamp(ts);
            }
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push((index, delivery, counted.take()));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), refused)) => {
                        // The local queue is full: let deliveries drain, then
                        // offer the same record again.
                        record = refused;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((err, _)) => {
                        if matches!(
                            err,
                            KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition)
                        ) {
                            // The topic was recreated smaller: ask again.
                            self.partitions.forget(&parts.topic);
                        }
                        return Err(self.failed(err.to_string()));
                    }
                }
            }
        }
        // Awaited together, so each record stops counting as in flight as
        // soon as its own delivery report arrives.
        let reports = join_all(deliveries.into_iter().map(
            |(index, delivery, counted)| async move {
                let report = delivery.await;
                drop(counted);
                (index, report)
            },
        ))
        .await;
        Ok(reports
            .into_iter()
            .filter_map(|(index, report)| match report {
                Ok(Ok(_)) => None,
                Ok(Err((err, _))) => Some((index, err.to_string())),
                Err(_) => Some((index, "delivery cancelled".to_owned())),
            })
            .collect())
    }

    fn record_parts(&self, batch: &Batch, index: usize) -> Result<RecordParts, OutputError> {
        let settings = &self.settings;
        let render = |interp: &Interpolation, what: &str| {
            interp
                .render(&batch[..], index)
                .map_err(|e| self.failed(format!("failed to interpolate {what}: {e}")))
        };
        let topic = render(&settings.topic, "topic")?;
        let key = match &settings.key {
            Some(k) => Some(render(k, "key")?).filter(|k| !k.is_empty()),
            None => None,
        };
        let partition = match &settings.partition {
            Some(p) => {
                let text = render(p, "partition")?;
                Some(
                    text.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| {
                            self.failed(format!("partition {text:?} is not a non-negative integer"))
                        })?,
                )
            }
            None => None,
        };
        let timestamp =
            match &settings.timestamp_ms {
                Some(t) => {
                    let text = render(t, "timestamp_ms")?;
                    Some(text.trim().parse::<i64>().map_err(|_| {
                        self.failed(format!("timestamp_ms {text:?} is not an integer"))
                    })?)
                }
                None => None,
            };
        Ok(RecordParts {
            topic,
            key,
            partition,
            timestamp,
        })
    }
}

/// The headers of the record written for `msg`: the static ones, then the
/// metadata `policy` includes, as text, then the message's `traceparent`
/// when tracing is on (so consumers can continue its trace). Written
/// straight into librdkafka's list, which copies each name and value once.
pub(crate) fn record_headers(
    policy: &HeaderPolicy,
    static_headers: &[(String, String)],
    msg: &Message,
) -> OwnedHeaders {
    let metadata = msg.metadata();
    let mut headers = OwnedHeaders::new_with_capacity(static_headers.len() + metadata.len());
    for (key, value) in static_headers {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    for (key, value) in metadata {
        if !policy.includes(key) {
            continue;
        }
        // librdkafka takes header names as C strings: a NUL would cut the
        // name short, and the value would arrive under another header's name.
        if key.as_bytes().contains(&0) {
            tracing::warn!(
                key = %key.escape_debug(),
                "Metadata key with a NUL byte left out of the Kafka record headers."
            );
            continue;
        }
        headers = headers.insert(Header {
            key,
            value: Some(value.to_interp_str().as_ref()),
        });
    }
    if let Some(trace) = msg.trace_context() {
        headers = headers.insert(Header {
            key: "traceparent",
            value: Some(&trace.to_traceparent()),
        });
    }
    headers
}

struct RecordParts {
    topic: String,
    key: Option<String>,
    partition: Option<i32>,
    timestamp: Option<i64>,
}

#[async_trait]
impl Output for KafkaProducer {
    async fn connect(&self) -> Result<(), OutputError> {
        let producer = match self.producer() {
            Some(p) => p,
            None => {
                let created: FutureProducer<SaslContext> = self
                    .settings
                    .client
                    .create_with_context(SaslContext)
                    .map_err(|e| self.failed(e.to_string()))?;
                *self.producer.lock().expect("producer lock poisoned") = Some(created.clone());
                created
            }
        };
        // librdkafka connects in the background; asking for metadata proves
        // a broker answers before any message is consumed (back pressure).
        let timeout = self.settings.connect_timeout;
        let checked = tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, timeout).map(|_| ())
        })
        .await
        .map_err(|e| self.failed(e.to_string()))?;
        match checked {
            Ok(()) => {
                self.connected.store(true, Ordering::Release);
                Ok(())
            }
            Err(err) => {
                self.connected.store(false, Ordering::Release);
                let servers = self
                    .settings
                    .client
                    .get("bootstrap.servers")
                    .unwrap_or_default();
                Err(self.failed(format!(
                    "no broker of {servers} answered within {timeout:?}: {err}"
                )))
            }
        }
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let producer = self.producer().ok_or(OutputError::NotConnected)?;
        let mut all_parts = (0..batch.len())
            .map(|index| self.record_parts(batch, index))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(creation) = self.settings.topic_creation {
            let topics: Vec<&str> = all_parts.iter().map(|p| p.topic.as_str()).collect();
            self.create_missing_topics(&producer, creation, &topics)
                .await?;
        }
        // Records counted in flight on the partition least_backup picked.
        let mut in_flight: Vec<Option<InFlight>> = Vec::new();
        if self.settings.spread != Spread::Client {
            let mut topics: Vec<&str> = all_parts
                .iter()
                .filter(|p| p.partition.is_none())
                .map(|p| p.topic.as_str())
                .collect();
            topics.dedup();
            self.learn_partitions(&producer, &topics).await;
            for parts in all_parts.iter_mut() {
                let mut guard = None;
                if parts.partition.is_none() {
                    parts.partition = match self.settings.spread {
                        Spread::RoundRobin => self.partitions.round_robin(&parts.topic),
                        _ => self.partitions.least_backed_up(&parts.topic).map(
                            |(partition, counted)| {
                                guard = Some(counted);
                                partition
                            },
                        ),
                    };
                }
                in_flight.push(guard);
            }
        }
        in_flight.resize_with(all_parts.len(), || None);
        let mut retries = Retries::start(&self.settings.retry);
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        loop {
            let failed = self
                .send_once(&producer, batch, &all_parts, &pending, &mut in_flight)
                .await?;
            let Some((_, err)) = failed.first() else {
                return Ok(());
            };
            let err = err.clone();
            if !self.settings.retry_as_batch {
                pending = failed.into_iter().map(|(index, _)| index).collect();
            }
            let waiting: Vec<Message> = pending.iter().map(|i| batch[*i].clone()).collect();
            if !retries.again(&waiting, &err).await {
                return Err(self.failed(err));
            }
        }
    }

    async fn close(&self) -> Result<(), OutputError> {
        if let Some(producer) = self.producer() {
            let flushed =
                tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5)))
                    .await
                    .map_err(|e| self.failed(e.to_string()))?;
            flushed.map_err(|e| self.failed(e.to_string()))?;
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}
