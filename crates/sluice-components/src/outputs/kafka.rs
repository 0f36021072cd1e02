//! `kafka` output (Benthos's Sarama-based one): writes each message as a
//! record; all metadata except excluded prefixes becomes record headers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::Deserialize;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::runtime::batching::{BatchPolicy, BatchPolicyConfig};

use crate::kafka::producer::{
    HeaderPolicy, KafkaProducer, ProducerSettings, TopicCreation as NewTopics,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KafkaConfig {
    addresses: Vec<String>,
    topic: String,
    #[serde(default)]
    target_version: Option<String>,
    #[serde(default)]
    tls: TlsConfig,
    #[serde(default)]
    sasl: SaslConfig,
    #[serde(default = "default_client_id")]
    client_id: String,
    #[serde(default)]
    rack_id: String,
    #[serde(default)]
    key: String,
    #[serde(default = "default_partitioner")]
    partitioner: String,
    #[serde(default)]
    partition: String,
    #[serde(default)]
    custom_topic_creation: TopicCreation,
    #[serde(default = "default_compression")]
    compression: String,
    #[serde(default)]
    static_headers: BTreeMap<String, String>,
    #[serde(default)]
    metadata: ExcludeConfig,
    #[serde(default)]
    inject_tracing_map: Option<String>,
    #[serde(default = "default_max_in_flight")]
    max_in_flight: usize,
    #[serde(default)]
    idempotent_write: bool,
    #[serde(default)]
    ack_replicas: bool,
    #[serde(default = "default_max_msg_bytes")]
    max_msg_bytes: u64,
    #[serde(default = "default_timeout")]
    timeout: GoDuration,
    #[serde(default)]
    retry_as_batch: bool,
    #[serde(default)]
    batching: BatchPolicyConfig,
    #[serde(default)]
    max_retries: u32,
    #[serde(default)]
    backoff: BackoffConfig,
    #[serde(default)]
    timestamp_ms: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TopicCreation {
    enabled: bool,
    partitions: i32,
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

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ExcludeConfig {
    exclude_prefixes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct BackoffConfig {
    initial_interval: GoDuration,
    max_interval: GoDuration,
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
    let _ = (&config.target_version, config.retry_as_batch);
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
        .set(
            "retry.backoff.ms",
            config
                .backoff
                .initial_interval
                .0
                .as_millis()
                .max(1)
                .to_string(),
        )
        .set(
            "retry.backoff.max.ms",
            config.backoff.max_interval.0.as_millis().max(1).to_string(),
        )
        // Failed sends are retried inside the client until max_elapsed_time,
        // then the batch is nacked (Benthos's backoff semantics).
        .set(
            "message.timeout.ms",
            config
                .backoff
                .max_elapsed_time
                .0
                .as_millis()
                .max(1000)
                .to_string(),
        )
        .set("linger.ms", "0");
    if !config.rack_id.is_empty() {
        client.set("client.rack", &config.rack_id);
    }
    if config.max_retries > 0 {
        client.set("message.send.max.retries", config.max_retries.to_string());
    }
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
        // `ProducerSettings::round_robin`).
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
        round_robin: config.partitioner == "round_robin",
        topic_creation: config.custom_topic_creation.enabled.then_some(NewTopics {
            partitions: config.custom_topic_creation.partitions,
            replication_factor: config.custom_topic_creation.replication_factor,
        }),
    };
    Ok(BuiltOutput {
        output: Arc::new(KafkaProducer::new(settings)),
        max_in_flight: config.max_in_flight.max(1),
        batching,
    })
}
