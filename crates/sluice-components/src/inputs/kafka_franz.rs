//! `kafka_franz` and `redpanda` inputs: Benthos's franz-go based inputs,
//! on the same consumer as `kafka`.

use std::time::Duration;

use rdkafka::ClientConfig;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::Input;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::runtime::batching::{BatchPolicy, BatchPolicyConfig};

use crate::kafka::consumer::{ConsumerSettings, KafkaConsumerInput, TopicSpec};
use crate::kafka::{Connection, SaslConfig, TlsConfig, parse_bytes};

fn default_true() -> bool {
    true
}
fn default_checkpoint_limit() -> usize {
    1024
}
fn default_commit_period() -> GoDuration {
    GoDuration(Duration::from_secs(5))
}
fn default_start_offset() -> String {
    "earliest".to_owned()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FranzInputConfig {
    /// Brokers to connect to first; entries may hold comma-separated lists.
    #[serde(default)]
    seed_brokers: Vec<String>,
    /// Topics to consume; `topic:partition` consumes explicit partitions.
    topics: Vec<String>,
    /// Whether the topics are regular expressions.
    #[serde(default)]
    regexp_topics: bool,
    /// The consumer group whose offsets are committed; without one, partitions are read without committing.
    #[serde(default)]
    consumer_group: Option<String>,
    /// The client id sent to brokers.
    #[serde(default)]
    client_id: Option<String>,
    /// The rack the client runs in.
    #[serde(default)]
    rack_id: String,
    /// How many messages of one partition may be in flight before reading pauses.
    #[serde(default = "default_checkpoint_limit")]
    checkpoint_limit: usize,
    /// How often acknowledged offsets are committed.
    #[serde(default = "default_commit_period")]
    commit_period: GoDuration,
    /// Where to start when the group has no committed offset: earliest, latest or committed.
    #[serde(default = "default_start_offset")]
    start_offset: String,
    /// Older switch for start_offset: true means earliest, false latest.
    #[serde(default)]
    start_from_oldest: Option<bool>,
    /// Whether rejected messages are delivered again instead of dropped.
    #[serde(default = "default_true")]
    auto_replay_nacks: bool,
    /// The largest fetch response, as a byte size such as 50MiB.
    #[serde(default)]
    fetch_max_bytes: Option<String>,
    /// The least data a fetch waits for, as a byte size.
    #[serde(default)]
    fetch_min_bytes: Option<String>,
    /// The largest fetch response per partition, as a byte size.
    #[serde(default)]
    fetch_max_partition_bytes: Option<String>,
    /// How long a broker may wait to fill a fetch.
    #[serde(default)]
    fetch_max_wait: Option<GoDuration>,
    /// How long cluster metadata is cached before it is refreshed.
    #[serde(default)]
    metadata_max_age: Option<GoDuration>,
    /// How long the group waits for a heartbeat before it drops a member.
    #[serde(default)]
    session_timeout: Option<GoDuration>,
    /// How long members may take to rejoin during a rebalance.
    #[serde(default)]
    rebalance_timeout: Option<GoDuration>,
    /// How often heartbeats are sent to the group.
    #[serde(default)]
    heartbeat_interval: Option<GoDuration>,
    /// Whether repeated header keys are kept as arrays in metadata.
    #[serde(default)]
    multi_header: bool,
    /// TLS settings of the connection.
    #[serde(default)]
    tls: TlsConfig,
    /// SASL mechanisms to authenticate with (only one is supported yet).
    #[serde(default)]
    sasl: Vec<SaslConfig>,
    /// How records are batched before processing (not supported yet).
    #[serde(default)]
    batching: BatchPolicyConfig,
}

fn build_named(
    node: &Node,
    builder: &mut Builder<'_>,
    type_name: &'static str,
) -> BuildResult<Box<dyn Input>> {
    let config: FranzInputConfig = builder.config(node)?;
    let mark = node.mark;
    let mut lints = Vec::new();
    let connection = Connection::resolve(
        type_name,
        &config.seed_brokers,
        config.client_id.as_deref(),
        "redpanda-connect",
        &config.tls,
        &config.sasl,
        builder,
    );
    if type_name == "redpanda" && !config.batching.is_noop() {
        // Redpanda Connect's redpanda input has no batching field (it sizes
        // its batches with max_yield_batch_bytes).
        lints.push(Lint::error(
            mark,
            "field batching is not recognised by the redpanda input; batch at the output or use kafka_franz",
        ));
    }
    let oldest = match (config.start_from_oldest, config.start_offset.as_str()) {
        (Some(oldest), _) => oldest,
        (None, "earliest" | "committed") => true,
        (None, "latest") => false,
        (None, other) => {
            lints.push(Lint::error(
                mark,
                format!("start_offset '{other}' was not recognised"),
            ));
            true
        }
    };
    let topics = TopicSpec::parse_all(&config.topics, config.regexp_topics)
        .map_err(|e| lints.push(Lint::error(mark, e)));
    let mut client = ClientConfig::new();
    // First, so that the component's own settings below win over the
    // block's.
    if let Err(l) = connection.apply(&mut client, config.client_id.is_some(), mark) {
        lints.extend(l);
    }
    client.set(
        "auto.commit.interval.ms",
        config.commit_period.0.as_millis().max(1).to_string(),
    );
    if !config.rack_id.is_empty() {
        client.set("client.rack", &config.rack_id);
    }
    if let Some(bytes) = &config.fetch_max_bytes {
        match parse_bytes(bytes) {
            Ok(n) => {
                client.set("fetch.max.bytes", n.clamp(1, i32::MAX as u64).to_string());
            }
            Err(e) => lints.push(Lint::error(mark, e)),
        }
    }
    if let Some(bytes) = &config.fetch_max_partition_bytes {
        match parse_bytes(bytes) {
            Ok(n) => {
                client.set(
                    "max.partition.fetch.bytes",
                    n.clamp(1, i32::MAX as u64).to_string(),
                );
            }
            Err(e) => lints.push(Lint::error(mark, e)),
        }
    }
    if let Some(bytes) = &config.fetch_min_bytes {
        match parse_bytes(bytes) {
            Ok(n) => {
                client.set("fetch.min.bytes", n.clamp(1, i32::MAX as u64).to_string());
            }
            Err(e) => lints.push(Lint::error(mark, e)),
        }
    }
    if let Some(wait) = config.fetch_max_wait {
        client.set("fetch.wait.max.ms", wait.0.as_millis().max(1).to_string());
    }
    if let Some(age) = config.metadata_max_age {
        client.set("metadata.max.age.ms", age.0.as_millis().max(1).to_string());
    }
    if let Some(t) = config.session_timeout {
        client.set("session.timeout.ms", t.0.as_millis().max(1).to_string());
    }
    if let Some(t) = config.heartbeat_interval {
        client.set("heartbeat.interval.ms", t.0.as_millis().max(1).to_string());
    }
    let _ = config.rebalance_timeout;
    let batch_processors = builder
        .processor_list(&config.batching.processors)
        .map_err(|l| lints.extend(l))
        .unwrap_or_default();
    let batching = BatchPolicy::from_config(&config.batching, batch_processors)
        .map_err(|e| lints.push(Lint::error(mark, e)));
    let (Ok(topics), Ok(batching)) = (topics, batching) else {
        return Err(lints);
    };
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(Box::new(KafkaConsumerInput::new(ConsumerSettings {
        type_name,
        client,
        topics,
        group: config.consumer_group.filter(|g| !g.is_empty()),
        start_from_oldest: oldest,
        checkpoint_limit: config.checkpoint_limit,
        auto_replay_nacks: config.auto_replay_nacks,
        multi_header: config.multi_header,
        batching,
    })))
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    build_named(node, builder, "kafka_franz")
}

pub(crate) fn build_redpanda(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Box<dyn Input>> {
    build_named(node, builder, "redpanda")
}
