//! `kafka` input (Benthos's Sarama-based one): consumes topics, optionally
//! in a consumer group, committing only acknowledged offsets.

use std::time::Duration;

use rdkafka::ClientConfig;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KafkaInputConfig {
    addresses: Vec<String>,
    topics: Vec<String>,
    #[serde(default)]
    target_version: Option<String>,
    #[serde(default)]
    tls: TlsConfig,
    #[serde(default)]
    sasl: SaslConfig,
    #[serde(default)]
    consumer_group: String,
    #[serde(default = "default_client_id")]
    client_id: String,
    #[serde(default)]
    rack_id: String,
    #[serde(default = "default_true")]
    start_from_oldest: bool,
    #[serde(default = "default_checkpoint_limit")]
    checkpoint_limit: usize,
    #[serde(default = "default_true")]
    auto_replay_nacks: bool,
    #[serde(default = "default_commit_period")]
    commit_period: GoDuration,
    #[serde(default = "default_max_processing_period")]
    max_processing_period: GoDuration,
    #[serde(default)]
    extract_tracing_map: Option<String>,
    #[serde(default)]
    group: GroupConfig,
    #[serde(default = "default_fetch_buffer_cap")]
    fetch_buffer_cap: usize,
    #[serde(default)]
    multi_header: bool,
    #[serde(default)]
    batching: BatchPolicyConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GroupConfig {
    session_timeout: GoDuration,
    heartbeat_interval: GoDuration,
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
