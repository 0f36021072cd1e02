//! The Kafka consumer shared by the `kafka`, `kafka_franz` and `redpanda`
//! inputs: consumer groups, explicit partitions, checkpointed commits (an
//! offset is committed only once every earlier message was acknowledged)
//! and replay of nacked messages.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientContext;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_bloblang::Value;
use sluice_core::component::input::{Input, InputError};
use sluice_core::component::processor::run_processors;
use sluice_core::message::{Batch, Message};
use sluice_core::runtime::batching::BatchPolicy;
use sluice_core::transaction::{Ack, Outcome, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

/// Keeps the partitions' high watermarks from the client's statistics
/// (`kafka_lag` without a request per record).
#[derive(Default)]
pub(crate) struct LagContext {
    high: Mutex<HashMap<(String, i32), i64>>,
}

impl LagContext {
    fn lag(&self, topic: &str, partition: i32, offset: i64) -> i64 {
        let high = self.high.lock().expect("lag lock poisoned");
        high.get(&(topic.to_owned(), partition))
            .map_or(0, |high| (high - offset - 1).max(0))
    }
}

impl ClientContext for LagContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        super::static_oauth_token(config)
    }

    fn stats(&self, statistics: Statistics) {
        let mut high = self.high.lock().expect("lag lock poisoned");
        for (name, topic) in statistics.topics {
            for (partition, stats) in topic.partitions {
                if partition >= 0 && stats.hi_offset >= 0 {
                    high.insert((name.clone(), partition), stats.hi_offset);
                }
            }
        }
    }
}

impl ConsumerContext for LagContext {}

type LagConsumer = StreamConsumer<LagContext>;

/// How long `close` waits for the acks of messages still in flight.
const ACK_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Which partitions to read.
#[derive(Clone, Debug)]
pub(crate) enum TopicSpec {
    /// Every partition of a topic.
    Whole(String),
    /// Explicit partitions (`topic:0`, `topic:0-3`).
    Partitions(String, Vec<i32>),
    /// Topics matching a regular expression (`kafka_franz` `regexp_topics`).
    Pattern(String),
}

impl TopicSpec {
    /// Parses Benthos's topic syntax; `regexp` treats the names as patterns.
    pub(crate) fn parse_all(topics: &[String], regexp: bool) -> Result<Vec<TopicSpec>, String> {
        let mut out = Vec::new();
        for item in topics.iter().flat_map(|t| t.split(',')).map(str::trim) {
            if item.is_empty() {
                continue;
            }
            if regexp {
                out.push(TopicSpec::Pattern(format!("^{item}")));
                continue;
            }
            let Some((topic, parts)) = item.rsplit_once(':') else {
                out.push(TopicSpec::Whole(item.to_owned()));
                continue;
            };
            let mut partitions = Vec::new();
            for range in parts.split(',') {
                let parse = |s: &str| {
                    s.trim()
                        .parse::<i32>()
                        .map_err(|_| format!("invalid partition {s:?} in topic {item:?}"))
                };
                match range.split_once('-') {
                    Some((from, to)) => partitions.extend(parse(from)?..=parse(to)?),
                    None => partitions.push(parse(range)?),
                }
            }
            out.push(TopicSpec::Partitions(topic.to_owned(), partitions));
        }
        Ok(out)
    }
}

/// Everything a consumer needs, already validated.
pub(crate) struct ConsumerSettings {
    pub(crate) type_name: &'static str,
    pub(crate) client: ClientConfig,
    pub(crate) topics: Vec<TopicSpec>,
    pub(crate) group: Option<String>,
    pub(crate) start_from_oldest: bool,
    pub(crate) checkpoint_limit: usize,
    pub(crate) auto_replay_nacks: bool,
    pub(crate) multi_header: bool,
    /// Input-level batching, applied to each partition on its own (the
    /// order of a partition is kept).
    pub(crate) batching: Option<BatchPolicy>,
}

#[derive(Default)]
struct PartitionTrack {
    pending: BTreeSet<i64>,
    highest: i64,
    committed: i64,
}

/// Offsets read but not yet acknowledged, per partition.
#[derive(Default)]
struct Checkpoints(HashMap<(String, i32), PartitionTrack>);

impl Checkpoints {
    fn track(&mut self, topic: &str, partition: i32, offset: i64) {
        let track = self.0.entry((topic.to_owned(), partition)).or_default();
        if offset <= track.highest && !track.pending.contains(&offset) && track.pending.is_empty() {
            // A rebalance or seek moved us back: start over for this partition.
            track.committed = offset;
        }
        track.highest = track.highest.max(offset);
        track.pending.insert(offset);
    }

    /// Marks `offset` done; returns the new commit point (the next offset to
    /// read) when it advanced.
    fn done(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let track = self.0.get_mut(&(topic.to_owned(), partition))?;
        track.pending.remove(&offset);
        let next = track.pending.first().copied().unwrap_or(track.highest + 1);
        if next > track.committed {
            track.committed = next;
            Some(next)
        } else {
            None
        }
    }
}

/// Records read together: their messages (one batch, or several when the
/// batch policy's processors split it) and their offsets. The unit is
/// acknowledged, and replayed after a nack, as a whole.
struct Unit {
    batches: Vec<Batch>,
    offsets: Vec<(String, i32, i64)>,
    permits: Vec<OwnedSemaphorePermit>,
}

/// Records of one partition waiting for their batch to fill.
struct PendingBatch {
    messages: Vec<Message>,
    offsets: Vec<(String, i32, i64)>,
    permits: Vec<OwnedSemaphorePermit>,
    bytes: usize,
    deadline: Option<Instant>,
}

impl PendingBatch {
    fn new(policy: &BatchPolicy) -> Self {
        Self {
            messages: Vec::new(),
            offsets: Vec::new(),
            permits: Vec::new(),
            bytes: 0,
            deadline: policy.period.map(|p| Instant::now() + p),
        }
    }

    fn full(&self, policy: &BatchPolicy) -> bool {
        (policy.count > 0 && self.messages.len() >= policy.count)
            || (policy.byte_size > 0 && self.bytes >= policy.byte_size)
    }
}

/// A consumer input; connects on `connect`, commits as messages are acked.
pub(crate) struct KafkaConsumerInput {
    settings: ConsumerSettings,
    consumer: Option<Arc<LagConsumer>>,
    checkpoints: Arc<Mutex<Checkpoints>>,
    limit: Arc<Semaphore>,
    replay_tx: mpsc::UnboundedSender<Unit>,
    replay_rx: mpsc::UnboundedReceiver<Unit>,
    /// Per-partition batches being filled (only with a batch policy).
    pending: HashMap<(String, i32), PendingBatch>,
    /// Transactions of a flushed unit not handed out yet.
    ready: VecDeque<Transaction>,
}

impl KafkaConsumerInput {
    pub(crate) fn new(settings: ConsumerSettings) -> Self {
        let (replay_tx, replay_rx) = mpsc::unbounded_channel();
        let limit = Arc::new(Semaphore::new(settings.checkpoint_limit.max(1)));
        Self {
            settings,
            consumer: None,
            checkpoints: Arc::new(Mutex::new(Checkpoints::default())),
            limit,
            replay_tx,
            replay_rx,
            pending: HashMap::new(),
            ready: VecDeque::new(),
        }
    }

    fn failed(text: impl Into<String>) -> InputError {
        InputError::Failed(text.into().into())
    }

    async fn open(&self) -> Result<Arc<LagConsumer>, InputError> {
        let settings = &self.settings;
        let mut client = settings.client.clone();
        client.set("enable.auto.offset.store", "false").set(
            "auto.offset.reset",
            if settings.start_from_oldest {
                "earliest"
            } else {
                "latest"
            },
        );
        match &settings.group {
            Some(group) => {
                client
                    .set("group.id", group)
                    .set("enable.auto.commit", "true");
            }
            None => {
                // Without a group nothing is committed; librdkafka still wants
                // an id for the client, which is never used for offsets.
                client
                    .set("group.id", format!("sluice-nogroup-{}", std::process::id()))
                    .set("enable.auto.commit", "false");
            }
        }
        client.set("statistics.interval.ms", "500");
        let consumer: LagConsumer = client
            .create_with_context(LagContext::default())
            .map_err(|e| Self::failed(e.to_string()))?;
        let consumer = Arc::new(consumer);
        let topics = settings.topics.clone();
        let group = settings.group.is_some();
        let oldest = settings.start_from_oldest;
        let shared = Arc::clone(&consumer);
        tokio::task::spawn_blocking(move || subscribe(&shared, &topics, group, oldest))
            .await
            .map_err(|e| Self::failed(e.to_string()))??;
        Ok(consumer)
    }

    /// Queues the transactions of `unit`; they share one ack, which
    /// commits (or replays) every record of the unit.
    fn queue(&mut self, unit: Unit) {
        let Unit {
            batches,
            offsets,
            permits,
        } = unit;
        let consumer = self.consumer.clone();
        let checkpoints = Arc::clone(&self.checkpoints);
        let replay_tx = self.replay_tx.clone();
        let auto_replay = self.settings.auto_replay_nacks;
        let copies = batches.clone();
        let ack = Ack::from_fn(move |outcome| {
            if let Outcome::Failed(err) = &outcome
                && auto_replay
            {
                let (topic, partition, offset) = offsets.first().cloned().unwrap_or_default();
                tracing::warn!(error = %err, topic = %topic, partition, offset, records = offsets.len(), "Message was not delivered, replaying it.");
                let retry = Unit {
                    batches: copies,
                    offsets,
                    permits,
                };
                // Replays wait a little so a failing output is not hammered.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    // Fails only once the input is gone; the offsets stay
                    // uncommitted and the records are read again.
                    if replay_tx.send(retry).is_err() {
                        tracing::debug!("Input closed before a replay.");
                    }
                });
                return;
            }
            // The commit point of each partition after this unit.
            let mut next_offsets: HashMap<(&str, i32), i64> = HashMap::new();
            {
                let mut checkpoints = checkpoints.lock().expect("checkpoint lock poisoned");
                for (topic, partition, offset) in &offsets {
                    if let Some(next) = checkpoints.done(topic, *partition, *offset) {
                        let entry = next_offsets
                            .entry((topic.as_str(), *partition))
                            .or_default();
                        *entry = (*entry).max(next);
                    }
                }
            }
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), next) in next_offsets {
                drop(tpl.add_partition_offset(topic, partition, Offset::Offset(next)));
            }
            if let Some(consumer) = consumer
                && tpl.count() > 0
                && let Err(err) = consumer.store_offsets(&tpl)
            {
                tracing::debug!(error = %err, "Failed to store offset (partition revoked?).");
            }
            drop(permits);
        });
        let acks = ack.split(batches.len());
        for (batch, ack) in batches.into_iter().zip(acks) {
            self.ready.push_back(Transaction::new(batch, ack));
        }
    }

    /// Runs the batch policy's processors over a full (or expired) batch
    /// and queues the result.
    async fn flush(&mut self, key: &(String, i32)) {
        let Some(pending) = self.pending.remove(key) else {
            return;
        };
        let batch = Batch::new(pending.messages);
        let batches = match &self.settings.batching {
            Some(policy) => run_processors(&policy.processors, batch).await,
            None => vec![batch],
        };
        self.queue(Unit {
            batches,
            offsets: pending.offsets,
            permits: pending.permits,
        });
    }

    /// The partition whose batch period ends first, and when.
    fn next_deadline(&self) -> Option<((String, i32), Instant)> {
        self.pending
            .iter()
            .filter_map(|(k, p)| p.deadline.map(|d| (k.clone(), d)))
            .min_by_key(|(_, d)| *d)
    }

    fn to_message(&self, record: &rdkafka::message::BorrowedMessage<'_>) -> Message {
        let payload = record.payload();
        let mut msg = Message::new(payload.map(<[u8]>::to_vec).unwrap_or_default());
        let meta = msg.metadata_mut();
        if let Some(headers) = record.headers() {
            headers_into_metadata(
                headers.iter().map(|h| (h.key, h.value)),
                self.settings.multi_header,
                meta,
            );
        }
        let key = record
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        meta.insert("kafka_key".into(), Value::from(key));
        meta.insert("kafka_topic".into(), Value::from(record.topic()));
        meta.insert(
            "kafka_partition".into(),
            Value::Int(i64::from(record.partition())),
        );
        meta.insert("kafka_offset".into(), Value::Int(record.offset()));
        if let Some(ms) = record.timestamp().to_millis() {
            meta.insert("kafka_timestamp_ms".into(), Value::Int(ms));
            meta.insert(
                "kafka_timestamp_unix".into(),
                Value::Int(ms.div_euclid(1000)),
            );
        }
        meta.insert(
            "kafka_tombstone_message".into(),
            Value::Bool(payload.is_none()),
        );
        msg
    }
}

fn subscribe(
    consumer: &LagConsumer,
    topics: &[TopicSpec],
    group: bool,
    oldest: bool,
) -> Result<(), InputError> {
    let failed = |e: rdkafka::error::KafkaError| KafkaConsumerInput::failed(e.to_string());
    // Proves a broker answers before the input reports itself connected.
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .map_err(failed)?;
    let whole_with_group: Vec<&str> = topics
        .iter()
        .filter_map(|t| match t {
            TopicSpec::Whole(name) if group => Some(name.as_str()),
            TopicSpec::Pattern(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    if !whole_with_group.is_empty() {
        if topics.len() != whole_with_group.len() {
            return Err(KafkaConsumerInput::failed(
                "mixing explicit partitions with whole topics in a consumer group is not supported yet",
            ));
        }
        return consumer.subscribe(&whole_with_group).map_err(failed);
    }
    let start = if group {
        Offset::Stored
    } else if oldest {
        Offset::Beginning
    } else {
        Offset::End
    };
    let mut tpl = TopicPartitionList::new();
    for spec in topics {
        match spec {
            TopicSpec::Whole(name) => {
                let found = metadata.topics().iter().find(|t| t.name() == name);
                let partitions: Vec<i32> = match found {
                    Some(t) if !t.partitions().is_empty() => {
                        t.partitions().iter().map(|p| p.id()).collect()
                    }
                    _ => vec![0],
                };
                for p in partitions {
                    tpl.add_partition_offset(name, p, start).map_err(failed)?;
                }
            }
            TopicSpec::Partitions(name, partitions) => {
                for p in partitions {
                    tpl.add_partition_offset(name, *p, start).map_err(failed)?;
                }
            }
            TopicSpec::Pattern(_) => {}
        }
    }
    consumer.assign(&tpl).map_err(failed)
}

#[async_trait]
impl Input for KafkaConsumerInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        if self.consumer.is_none() {
            self.consumer = Some(self.open().await?);
        }
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        let consumer = self.consumer.clone().ok_or(InputError::NotConnected)?;
        loop {
            if let Some(tx) = self.ready.pop_front() {
                return Ok(tx);
            }
            if let Ok(unit) = self.replay_rx.try_recv() {
                self.queue(unit);
                continue;
            }
            let permit = match Arc::clone(&self.limit).try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) if !self.pending.is_empty() => {
                    // Records waiting in batches hold checkpoint permits:
                    // rather than wait for permits only they could free,
                    // flush the largest batch early.
                    let key = self
                        .pending
                        .iter()
                        .max_by_key(|(_, p)| p.messages.len())
                        .map(|(k, _)| k.clone())
                        .expect("pending is not empty");
                    self.flush(&key).await;
                    continue;
                }
                Err(_) => tokio::select! {
                    biased;
                    Some(unit) = self.replay_rx.recv() => {
                        self.queue(unit);
                        continue;
                    }
                    permit = Arc::clone(&self.limit).acquire_owned() => {
                        permit.expect("checkpoint semaphore is never closed")
                    }
                },
            };
            let deadline = self.next_deadline();
            let record = tokio::select! {
                biased;
                Some(unit) = self.replay_rx.recv() => {
                    self.queue(unit);
                    continue;
                }
                () = sleep_until(deadline.as_ref().map(|(_, at)| *at)) => {
                    if let Some((key, _)) = deadline {
                        self.flush(&key).await;
                    }
                    continue;
                }
                record = consumer.recv() => record,
            };
            let record = match record {
                Ok(record) => record,
                Err(err) => {
                    tracing::warn!(error = %err, "Failed to read from {}.", self.settings.type_name);
                    return Err(Self::failed(err.to_string()));
                }
            };
            let mut msg = self.to_message(&record);
            // Lag by the high watermark of the client's last statistics (no
            // request per record).
            let lag = consumer
                .context()
                .lag(record.topic(), record.partition(), record.offset());
            msg.metadata_mut()
                .insert("kafka_lag".into(), Value::Int(lag));
            let (topic, partition, offset) = (
                record.topic().to_owned(),
                record.partition(),
                record.offset(),
            );
            drop(record);
            self.checkpoints
                .lock()
                .expect("checkpoint lock poisoned")
                .track(&topic, partition, offset);
            let Some(policy) = &self.settings.batching else {
                self.queue(Unit {
                    batches: vec![Batch::from(msg)],
                    offsets: vec![(topic, partition, offset)],
                    permits: vec![permit],
                });
                continue;
            };
            let key = (topic, partition);
            let pending = self
                .pending
                .entry(key.clone())
                .or_insert_with(|| PendingBatch::new(policy));
            pending.bytes += msg.content().len();
            pending.messages.push(msg);
            pending.offsets.push((key.0.clone(), partition, offset));
            pending.permits.push(permit);
            if pending.full(policy) {
                self.flush(&key).await;
            }
        }
    }

    async fn close(&mut self) -> Result<(), InputError> {
        // Records of unfinished batches were never handed on: they stay
        // uncommitted and are read again next time.
        self.pending.clear();
        // Messages still in flight hold checkpoint permits: wait (bounded)
        // for their acks so their offsets are stored before the last commit.
        let all = u32::try_from(self.settings.checkpoint_limit.max(1)).unwrap_or(u32::MAX);
        let _drained = tokio::time::timeout(
            ACK_DRAIN_TIMEOUT,
            Arc::clone(&self.limit).acquire_many_owned(all),
        )
        .await;
        if let Some(consumer) = self.consumer.take() {
            // Commits what was stored before leaving the group.
            let committed = tokio::task::spawn_blocking(move || {
                consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
            })
            .await;
            if let Ok(Err(err)) = committed {
                tracing::debug!(error = %err, "Final offset commit failed.");
            }
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A record's headers as metadata: values as text, each key once (the last
/// value wins), or with `multi_header` every value of a key in an array.
pub(crate) fn headers_into_metadata<'a>(
    headers: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>,
    multi_header: bool,
    meta: &mut sluice_core::message::Metadata,
) {
    for (key, value) in headers {
        let value = Value::from(String::from_utf8_lossy(value.unwrap_or_default()).into_owned());
        if multi_header {
            match meta.get_mut(key) {
                Some(Value::Array(items)) => items.push(value),
                _ => {
                    meta.insert(key.into(), Value::Array(vec![value]));
                }
            }
        } else {
            meta.insert(key.into(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_past_every_acknowledged_offset() {
        let mut cp = Checkpoints::default();
        for offset in 0..3 {
            cp.track("t", 0, offset);
        }
        assert_eq!(cp.done("t", 0, 1), None);
        assert_eq!(cp.done("t", 0, 0), Some(2));
        assert_eq!(cp.done("t", 0, 2), Some(3));
    }

    #[test]
    fn parses_partition_syntax() {
        let specs = TopicSpec::parse_all(
            &["a".to_owned(), "b:0-2".to_owned(), "c:1".to_owned()],
            false,
        )
        .unwrap();
        assert!(matches!(&specs[0], TopicSpec::Whole(t) if t == "a"));
        assert!(
            matches!(&specs[1], TopicSpec::Partitions(t, p) if t == "b" && p == &vec![0, 1, 2])
        );
        assert!(matches!(&specs[2], TopicSpec::Partitions(t, p) if t == "c" && p == &vec![1]));
    }
}
