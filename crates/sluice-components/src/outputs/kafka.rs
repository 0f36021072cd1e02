//! `kafka` output (Benthos's Sarama-based one): writes each message as a
//! record; all metadata except excluded prefixes becomes record headers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::runtime::backoff::Backoff;
use sluice_core::runtime::batching::{BatchPolicy, BatchPolicyConfig};
use sluice_core::runtime::retries::RetryPolicy;

use crate::kafka::partitions::Spread;
use crate::kafka::producer::{
    HeaderPolicy, KafkaProducer, ProducerSettings, TopicCreation as NewTopics, one_attempt_per_send,
};
use crate::kafka::{SaslConfig, TlsConfig, apply_security, bootstrap_servers};

fn default_client_id() -> String {
    "benthos".to_owned()
}
fn default_partitioner() -> String {
    "fnv1a_hash".to_owned()
}
fn default_compression() -> String {
    "none".to_owned()
}
fn default_max_in_flight() -> usize {
    64
}
fn default_max_msg_bytes() -> u64 {
    1_000_000
}
fn default_timeout() -> GoDuration {
    GoDuration(Duration::from_secs(5))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KafkaConfig {
    /// Broker addresses; entries may hold comma-separated lists.
    addresses: Vec<String>,
    /// The topic each message is written to; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    topic: String,
    /// The Kafka protocol version to speak.
    #[serde(default)]
    target_version: Option<String>,
    /// TLS settings of the connection.
    #[serde(default)]
    tls: TlsConfig,
    /// SASL authentication.
    #[serde(default)]
    sasl: SaslConfig,
    /// The client id sent to brokers.
    #[serde(default = "default_client_id")]
    client_id: String,
    /// The rack the client runs in.
    #[serde(default)]
    rack_id: String,
    /// The key of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    key: String,
    /// How messages are spread over partitions: fnv1a_hash, murmur2_hash, random, round_robin or manual.
    #[serde(default = "default_partitioner")]
    partitioner: String,
    /// The partition of each message with the manual partitioner; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    partition: String,
    /// Creates the topic with these settings when it does not exist (not supported yet).
    #[serde(default)]
    custom_topic_creation: TopicCreation,
    /// The compression codec: none, snappy, lz4, gzip or zstd.
    #[serde(default = "default_compression")]
    compression: String,
    /// Headers added to every message.
    #[serde(default)]
    static_headers: BTreeMap<String, String>,
    /// Which message metadata keys are left out of the headers.
    #[serde(default)]
    metadata: ExcludeConfig,
    /// A mapping that writes tracing context into each message (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::MappingText>")]
    inject_tracing_map: Option<String>,
    /// How many batches may be written at once.
    #[serde(default = "default_max_in_flight")]
    max_in_flight: usize,
    /// Whether the producer is idempotent, so retries write each message once.
    #[serde(default)]
    idempotent_write: bool,
    /// Whether a write waits for every in-sync replica instead of the leader alone.
    #[serde(default)]
    ack_replicas: bool,
    /// The largest message size in bytes.
    #[serde(default = "default_max_msg_bytes")]
    max_msg_bytes: u64,
    /// How long a write may take before it fails.
    #[serde(default = "default_timeout")]
    timeout: GoDuration,
    /// Whether a failed batch is retried as a whole.
    #[serde(default)]
    retry_as_batch: bool,
    /// How messages are batched before they are written.
    #[serde(default)]
    batching: BatchPolicyConfig,
    /// How many times a failed write is retried; 0 retries without limit.
    #[serde(default)]
    max_retries: u32,
    /// The wait between retries of a failed write.
    #[serde(default)]
    backoff: BackoffConfig,
    /// The timestamp of each message in milliseconds; supports interpolation.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    timestamp_ms: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct TopicCreation {
    /// Whether a missing topic is created.
    enabled: bool,
    /// The partition count; -1 takes the broker default.
    partitions: i32,
    /// The replication factor; -1 takes the broker default.
    replication_factor: i32,
}

impl Default for TopicCreation {
    fn default() -> Self {
        // -1 leaves the value to the broker's defaults.
        Self {
            enabled: false,
            partitions: -1,
            replication_factor: -1,
        }
    }
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct ExcludeConfig {
    /// Metadata keys starting with any of these prefixes are left out.
    exclude_prefixes: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct BackoffConfig {
    /// The first wait.
    initial_interval: GoDuration,
    /// The longest wait.
    max_interval: GoDuration,
    /// How long retries may go on in all; 0 means no limit.
    max_elapsed_time: GoDuration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_interval: GoDuration(Duration::from_secs(3)),
            max_interval: GoDuration(Duration::from_secs(10)),
            max_elapsed_time: GoDuration(Duration::from_secs(30)),
        }
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: KafkaConfig = builder.config(node)?;
    let mark = node.mark;
    let mut lints = Vec::new();
    let creation = &config.custom_topic_creation;
    if creation.enabled {
        // Benthos's own limits: more than one partition, an odd replication
        // factor (-1 leaves either to the broker).
        if creation.partitions != -1 && creation.partitions < 2 {
            lints.push(Lint::error(
                mark,
                format!(
                    "custom_topic_creation.partitions must be greater than one, got {}",
                    creation.partitions
                ),
            ));
        }
        if creation.replication_factor != -1 && creation.replication_factor % 2 == 0 {
            lints.push(Lint::error(
                mark,
                format!(
                    "custom_topic_creation.replication_factor must be an odd number, got {}",
                    creation.replication_factor
                ),
            ));
        }
    }
    if config.inject_tracing_map.is_some() {
        lints.push(Lint::error(
            mark,
            "kafka field inject_tracing_map is not supported yet",
        ));
    }
    let _ = &config.target_version;
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", bootstrap_servers(&config.addresses))
        .set("client.id", &config.client_id)
        .set("acks", if config.ack_replicas { "all" } else { "1" })
        .set("enable.idempotence", config.idempotent_write.to_string())
        .set("compression.codec", &config.compression)
        .set(
            "message.max.bytes",
            config.max_msg_bytes.max(1000).to_string(),
        )
        .set(
            "request.timeout.ms",
            config.timeout.0.as_millis().max(1).to_string(),
        )
        .set("linger.ms", "0");
    if !config.rack_id.is_empty() {
        client.set("client.rack", &config.rack_id);
    }
    // Each attempt lasts at most `timeout`; the producer retries with
    // `backoff`, up to `max_retries`, for at most `max_elapsed_time`, as
    // Benthos's output does.
    one_attempt_per_send(&mut client, config.timeout.0, config.idempotent_write);
    match config.partitioner.as_str() {
        "fnv1a_hash" => {
            client.set("partitioner", "fnv1a_random");
        }
        "murmur2_hash" => {
            client.set("partitioner", "murmur2_random");
        }
        "random" => {
            client.set("partitioner", "random");
        }
        // Partitions are assigned by the producer itself (see
        // `ProducerSettings::spread`).
        "round_robin" | "manual" => {}
        other => lints.push(Lint::error(
            mark,
            format!("kafka partitioner '{other}' is not supported yet"),
        )),
    }
    if !["none", "snappy", "lz4", "gzip", "zstd"].contains(&config.compression.as_str()) {
        lints.push(Lint::error(
            mark,
            format!(
                "kafka compression '{}' was not recognised",
                config.compression
            ),
        ));
    }
    // librdkafka takes header names as C strings: a NUL would end the name
    // early (and the client refuses such a name outright).
    for key in config.static_headers.keys().filter(|k| k.contains('\0')) {
        lints.push(Lint::error(
            mark,
            format!(
                "kafka static_headers name {key:?} contains a NUL byte, which a record header name cannot hold"
            ),
        ));
    }
    if let Err(l) = apply_security(&mut client, &config.tls, Some(&config.sasl), mark) {
        lints.extend(l);
    }
    let topic = builder
        .interpolation(&config.topic, mark)
        .map_err(|l| lints.extend(l));
    let key = builder
        .interpolation(&config.key, mark)
        .map_err(|l| lints.extend(l));
    let partition = if config.partitioner == "manual" {
        if config.partition.is_empty() {
            lints.push(Lint::error(
                mark,
                "a partition must be given with the manual partitioner",
            ));
            None
        } else {
            builder
                .interpolation(&config.partition, mark)
                .map_err(|l| lints.extend(l))
                .ok()
        }
    } else {
        None
    };
    let timestamp_ms = match &config.timestamp_ms {
        Some(t) => builder
            .interpolation(t, mark)
            .map_err(|l| lints.extend(l))
            .ok(),
        None => None,
    };
    let batch_processors = builder
        .processor_list(&config.batching.processors)
        .map_err(|l| lints.extend(l))
        .unwrap_or_default();
    let batching = BatchPolicy::from_config(&config.batching, batch_processors)
        .map_err(|e| lints.push(Lint::error(mark, e)));
    let (Ok(topic), Ok(key), Ok(batching)) = (topic, key, batching) else {
        return Err(lints);
    };
    if !lints.is_empty() {
        return Err(lints);
    }
    let settings = ProducerSettings {
        client,
        topic,
        key: Some(key),
        partition,
        timestamp_ms,
        headers: HeaderPolicy::AllExcept(config.metadata.exclude_prefixes),
        static_headers: config.static_headers.into_iter().collect(),
        connect_timeout: config.timeout.0,
        spread: if config.partitioner == "round_robin" {
            Spread::RoundRobin
        } else {
            Spread::Client
        },
        topic_creation: config.custom_topic_creation.enabled.then_some(NewTopics {
            partitions: config.custom_topic_creation.partitions,
            replication_factor: config.custom_topic_creation.replication_factor,
        }),
        retry: RetryPolicy {
            max_retries: config.max_retries.into(),
            backoff: Backoff::new(
                config.backoff.initial_interval.0,
                config.backoff.max_interval.0,
            )
            .with_factor(1.5)
            .with_jitter(0.5),
            max_elapsed: Some(config.backoff.max_elapsed_time.0).filter(|d| !d.is_zero()),
        },
        retry_as_batch: config.retry_as_batch,
    };
    Ok(BuiltOutput {
        output: Arc::new(KafkaProducer::new(settings)),
        max_in_flight: config.max_in_flight.max(1),
        batching,
    })
}
