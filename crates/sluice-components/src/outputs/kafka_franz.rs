//! `kafka_franz` and `redpanda` outputs: Benthos's franz-go based outputs,
//! with their own defaults (only selected metadata becomes headers,
//! idempotent writes, `acks: all`), on the same client as `kafka`.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::runtime::backoff::Backoff;
use sluice_core::runtime::batching::{BatchPolicy, BatchPolicyConfig};
use sluice_core::runtime::retries::RetryPolicy;

use crate::kafka::partitions::Spread;
use crate::kafka::producer::{HeaderPolicy, KafkaProducer, ProducerSettings, one_attempt_per_send};
use crate::kafka::{Connection, SaslConfig, TlsConfig, parse_bytes};

fn default_true() -> bool {
    true
}
fn default_timeout() -> GoDuration {
    GoDuration(Duration::from_secs(10))
}
fn default_acks() -> String {
    "all".to_owned()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FranzConfig {
    /// Brokers to connect to first; entries may hold comma-separated lists.
    #[serde(default)]
    seed_brokers: Vec<String>,
    /// The topic each record is written to; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    topic: String,
    /// The key of each record; supports interpolation.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    key: Option<String>,
    /// The partition of each record with the manual partitioner; supports interpolation.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    partition: Option<String>,
    /// How records are spread over partitions: murmur2_hash, round_robin, least_backup (the partition with the fewest records awaiting the broker's acknowledgement) or manual.
    #[serde(default)]
    partitioner: Option<String>,
    /// The client id sent to brokers.
    #[serde(default)]
    client_id: Option<String>,
    /// The rack the client runs in.
    #[serde(default)]
    rack_id: String,
    /// Which message metadata keys become record headers.
    #[serde(default)]
    metadata: IncludeConfig,
    /// The timestamp of each record in milliseconds; supports interpolation.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    timestamp_ms: Option<String>,
    /// Older name of timestamp_ms.
    #[serde(default)]
    #[schemars(with = "Option<sluice_core::config::json_schema::InterpolatedString>")]
    timestamp: Option<String>,
    /// How many batches may be written at once.
    #[serde(default)]
    max_in_flight: Option<usize>,
    /// Whether the producer is idempotent, so retries write each record once.
    #[serde(default = "default_true")]
    idempotent_write: bool,
    /// Which acknowledgements a write waits for: all (every in-sync replica), leader or none.
    #[serde(default = "default_acks")]
    acks: String,
    /// The compression codec of record batches: none, gzip, snappy, lz4 or zstd.
    #[serde(default)]
    compression: Option<String>,
    /// Whether writing to a missing topic creates it.
    #[serde(default = "default_true")]
    allow_auto_topic_creation: bool,
    /// How long a write may take before it fails.
    #[serde(default = "default_timeout")]
    timeout: GoDuration,
    /// The largest record batch sent, as a byte size such as 1MB.
    #[serde(default)]
    max_message_bytes: Option<String>,
    /// The largest single write to a broker, as a byte size such as 100MB.
    #[serde(default)]
    broker_write_max_bytes: Option<String>,
    /// How many records may wait in the client before writes block.
    #[serde(default)]
    max_buffered_records: Option<u64>,
    /// How many produce requests may be in flight per broker.
    #[serde(default)]
    max_in_flight_requests: Option<u64>,
    /// How many times a record is retried; 0 retries until the delivery timeout.
    #[serde(default)]
    record_retries: u32,
    /// How long a record may take to be delivered before it fails.
    #[serde(default)]
    record_delivery_timeout: Option<GoDuration>,
    /// How long cluster metadata is cached before it is refreshed.
    #[serde(default)]
    metadata_max_age: Option<GoDuration>,
    /// How long an idle connection is kept open.
    #[serde(default)]
    conn_idle_timeout: Option<GoDuration>,
    /// TLS settings of the connection.
    #[serde(default)]
    tls: TlsConfig,
    /// SASL mechanisms to authenticate with (only one is supported yet).
    #[serde(default)]
    sasl: Vec<SaslConfig>,
    /// How messages are batched before they are written.
    #[serde(default)]
    batching: BatchPolicyConfig,
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct IncludeConfig {
    /// Keys starting with any of these prefixes are included.
    include_prefixes: Vec<String>,
    /// Keys matching any of these regular expressions are included.
    include_patterns: Vec<String>,
}

fn build_named(
    node: &Node,
    builder: &mut Builder<'_>,
    type_name: &'static str,
    default_client_id: &str,
    default_max_in_flight: usize,
) -> BuildResult<BuiltOutput> {
    let config: FranzConfig = builder.config(node)?;
    let mark = node.mark;
    let mut lints = Vec::new();
    let connection = Connection::resolve(
        type_name,
        &config.seed_brokers,
        config.client_id.as_deref(),
        default_client_id,
        &config.tls,
        &config.sasl,
        builder,
    );
    let mut client = ClientConfig::new();
    // First, so that the component's own settings below win over the
    // block's.
    if let Err(l) = connection.apply(&mut client, config.client_id.is_some(), mark) {
        lints.extend(l);
    }
    client
        .set("enable.idempotence", config.idempotent_write.to_string())
        .set(
            "request.timeout.ms",
            config.timeout.0.as_millis().max(1).to_string(),
        )
        .set(
            "allow.auto.create.topics",
            config.allow_auto_topic_creation.to_string(),
        )
        .set("linger.ms", "0");
    match config.acks.as_str() {
        "all" | "-1" => {
            client.set("acks", "all");
        }
        "leader" | "1" => {
            client.set("acks", "1");
        }
        "none" | "0" => {
            client.set("acks", "0");
        }
        other => lints.push(Lint::error(
            mark,
            format!("acks '{other}' was not recognised"),
        )),
    }
    if !config.rack_id.is_empty() {
        client.set("client.rack", &config.rack_id);
    }
    if let Some(codec) = &config.compression {
        client.set("compression.codec", codec);
    } else {
        client.set("compression.codec", "snappy");
    }
    if let Some(size) = &config.max_message_bytes {
        match parse_bytes(size) {
            Ok(n) => {
                client.set("message.max.bytes", n.max(1000).to_string());
            }
            Err(e) => lints.push(Lint::error(mark, e)),
        }
    }
    if let Some(limit) = config.max_buffered_records {
        client.set("queue.buffering.max.messages", limit.max(1).to_string());
    }
    // Each attempt lasts at most `timeout`; the producer retries up to
    // record_retries for at most record_delivery_timeout (neither bounded by
    // default, as in franz-go).
    one_attempt_per_send(&mut client, config.timeout.0, config.idempotent_write);
    if let Some(age) = config.metadata_max_age {
        client.set("metadata.max.age.ms", age.0.as_millis().max(1).to_string());
    }
    if let Some(idle) = config.conn_idle_timeout {
        client.set(
            "connections.max.idle.ms",
            idle.0.as_millis().min(i32::MAX as u128).to_string(),
        );
    }
    if let Some(requests) = config.max_in_flight_requests {
        // An idempotent producer keeps its ordering guarantee only up to
        // five requests in flight; librdkafka refuses more.
        if config.idempotent_write && requests > 5 {
            lints.push(Lint::error(
                mark,
                format!(
                    "{type_name} max_in_flight_requests must be at most 5 with idempotent_write, got {requests}"
                ),
            ));
        }
        client.set(
            "max.in.flight.requests.per.connection",
            requests.clamp(1, 1_000_000).to_string(),
        );
    }
    if config.broker_write_max_bytes.is_some() {
        // librdkafka bounds each request by message.max.bytes, which
        // max_message_bytes already sets; there is no second bound.
        lints.push(Lint::error(
            mark,
            format!("{type_name} field broker_write_max_bytes is not supported yet"),
        ));
    }
    match config.partitioner.as_deref() {
        None | Some("murmur2_hash") => {
            client.set("partitioner", "murmur2_random");
        }
        // The producer picks these partitions itself (see
        // `ProducerSettings::spread`).
        Some("round_robin" | "least_backup" | "manual") => {}
        Some(other) => lints.push(Lint::error(
            mark,
            format!("{type_name} partitioner '{other}' is not supported yet"),
        )),
    }
    let mut patterns = Vec::new();
    for p in &config.metadata.include_patterns {
        match Regex::new(p) {
            Ok(r) => patterns.push(r),
            Err(e) => lints.push(Lint::error(
                mark,
                format!("invalid include pattern {p:?}: {e}"),
            )),
        }
    }
    let mut interp = |text: &Option<String>| match text {
        Some(t) => builder
            .interpolation(t, mark)
            .map_err(|l| lints.extend(l))
            .ok(),
        None => None,
    };
    let key = interp(&config.key);
    let partition = interp(&config.partition);
    let timestamp_ms = interp(if config.timestamp_ms.is_some() {
        &config.timestamp_ms
    } else {
        &config.timestamp
    });
    let topic = builder
        .interpolation(&config.topic, mark)
        .map_err(|l| lints.extend(l));
    let batch_processors = builder
        .processor_list(&config.batching.processors)
        .map_err(|l| lints.extend(l))
        .unwrap_or_default();
    let batching = BatchPolicy::from_config(&config.batching, batch_processors)
        .map_err(|e| lints.push(Lint::error(mark, e)));
    if config.partitioner.as_deref() == Some("manual") && partition.is_none() {
        lints.push(Lint::error(
            mark,
            "a partition must be given with the manual partitioner",
        ));
    }
    let (Ok(topic), Ok(batching)) = (topic, batching) else {
        return Err(lints);
    };
    if !lints.is_empty() {
        return Err(lints);
    }
    let settings = ProducerSettings {
        client,
        topic,
        key,
        partition,
        timestamp_ms,
        headers: HeaderPolicy::Only {
            prefixes: config.metadata.include_prefixes,
            patterns,
        },
        static_headers: Vec::new(),
        connect_timeout: config.timeout.0,
        spread: match config.partitioner.as_deref() {
            Some("round_robin") => Spread::RoundRobin,
            Some("least_backup") => Spread::LeastBackup,
            _ => Spread::Client,
        },
        topic_creation: None,
        retry: RetryPolicy {
            max_retries: config.record_retries.into(),
            // franz-go's default backoff between record retries.
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_millis(2500))
                .with_jitter(0.2),
            max_elapsed: config
                .record_delivery_timeout
                .map(|t| t.0)
                .filter(|t| !t.is_zero()),
        },
        retry_as_batch: false,
    };
    Ok(BuiltOutput {
        output: Arc::new(KafkaProducer::new(settings)),
        max_in_flight: config.max_in_flight.unwrap_or(default_max_in_flight).max(1),
        batching,
    })
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    build_named(node, builder, "kafka_franz", "redpanda-connect", 10)
}

pub(crate) fn build_redpanda(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    build_named(node, builder, "redpanda", "redpanda-connect", 256)
}
