//! `kafka` input (Benthos's Sarama-based one): consumes topics, optionally
//! in a consumer group, committing only acknowledged offsets.

use std::time::Duration;

use rdkafka::ClientConfig;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::input::Input;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::runtime::batching::{BatchPolicy, BatchPolicyConfig};

use crate::kafka::consumer::{ConsumerSettings, KafkaConsumerInput, TopicSpec};
use crate::kafka::{SaslConfig, TlsConfig, apply_security, bootstrap_servers};

fn default_client_id() -> String {
    "benthos".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_checkpoint_limit() -> usize {
    1024
}
fn default_commit_period() -> GoDuration {
    GoDuration(Duration::from_secs(1))
}
fn default_max_processing_period() -> GoDuration {
    GoDuration(Duration::from_millis(100))
}
fn default_fetch_buffer_cap() -> usize {
    256
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KafkaInputConfig {
    /// Broker addresses; entries may hold comma-separated lists.
    addresses: Vec<String>,
    /// Topics to consume; `topic:partition` or `topic:first-last` consumes explicit partitions.
    topics: Vec<String>,
    /// The Kafka protocol version to speak.
    #[serde(default)]
    target_version: Option<String>,
    /// TLS settings of the connection.
    #[serde(default)]
    tls: TlsConfig,
    /// SASL authentication.
    #[serde(default)]
    sasl: SaslConfig,
    /// The consumer group whose offsets are committed; needed to consume whole topics.
    #[serde(default)]
    consumer_group: String,
    /// The client id sent to brokers.
    #[serde(default = "default_client_id")]
    client_id: String,
    /// The rack the client runs in.
    #[serde(default)]
    rack_id: String,
    /// Whether to start from the oldest offset when the group has no committed one.
    #[serde(default = "default_true")]
    start_from_oldest: bool,
    /// How many messages of one partition may be in flight before reading pauses.
    #[serde(default = "default_checkpoint_limit")]
    checkpoint_limit: usize,
    /// Whether rejected messages are delivered again instead of dropped.
    #[serde(default = "default_true")]
    auto_replay_nacks: bool,
    /// How often acknowledged offsets are committed.
    #[serde(default = "default_commit_period")]
    commit_period: GoDuration,
    /// How long processing may take before the group counts the member as gone.
    #[serde(default = "default_max_processing_period")]
    max_processing_period: GoDuration,
    /// A mapping that reads tracing context from each message (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::MappingText>")]
    extract_tracing_map: Option<String>,
    /// Consumer group timings.
    #[serde(default)]
    group: GroupConfig,
    /// How many fetched messages are buffered per partition.
    #[serde(default = "default_fetch_buffer_cap")]
    fetch_buffer_cap: usize,
    /// Whether repeated header keys are kept as arrays in metadata.
    #[serde(default)]
    multi_header: bool,
    /// How messages are batched before processing (not supported yet).
    #[serde(default)]
    batching: BatchPolicyConfig,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct GroupConfig {
    /// How long the group waits for a heartbeat before it drops a member.
    session_timeout: GoDuration,
    /// How often heartbeats are sent to the group.
    heartbeat_interval: GoDuration,
    /// How long members may take to rejoin during a rebalance.
    rebalance_timeout: GoDuration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            session_timeout: GoDuration(Duration::from_secs(10)),
            heartbeat_interval: GoDuration(Duration::from_secs(3)),
            rebalance_timeout: GoDuration(Duration::from_secs(60)),
        }
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: KafkaInputConfig = builder.config(node)?;
    let mark = node.mark;
    let mut lints = Vec::new();
    if config.extract_tracing_map.is_some() {
        lints.push(Lint::error(
            mark,
            "kafka field extract_tracing_map is not supported yet",
        ));
    }
    let _ = (
        &config.target_version,
        config.max_processing_period,
        config.fetch_buffer_cap,
        config.group.rebalance_timeout,
    );
    let topics =
        TopicSpec::parse_all(&config.topics, false).map_err(|e| lints.push(Lint::error(mark, e)));
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", bootstrap_servers(&config.addresses))
        .set("client.id", &config.client_id)
        .set(
            "auto.commit.interval.ms",
            config.commit_period.0.as_millis().max(1).to_string(),
        )
        .set(
            "session.timeout.ms",
            config
                .group
                .session_timeout
                .0
                .as_millis()
                .max(1)
                .to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            config
                .group
                .heartbeat_interval
                .0
                .as_millis()
                .max(1)
                .to_string(),
        );
    if !config.rack_id.is_empty() {
        client.set("client.rack", &config.rack_id);
    }
    if let Err(l) = apply_security(&mut client, &config.tls, Some(&config.sasl), mark) {
        lints.extend(l);
    }
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
        type_name: "kafka",
        client,
        topics,
        group: (!config.consumer_group.is_empty()).then_some(config.consumer_group),
        start_from_oldest: config.start_from_oldest,
        checkpoint_limit: config.checkpoint_limit,
        auto_replay_nacks: config.auto_replay_nacks,
        multi_header: config.multi_header,
        batching,
    })))
}
