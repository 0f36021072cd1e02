//! Redpanda Connect's top-level `redpanda` block: one connection (brokers,
//! client id, TLS, SASL) that `redpanda` inputs and outputs without
//! `seed_brokers` of their own use.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};

use super::{SaslConfig, TlsConfig};

fn default_client_id() -> String {
    "benthos".to_owned()
}

/// The block as written. Its log and status shipping and its producer
/// settings (which serve `redpanda_common` outputs) are accepted only at
/// their defaults, so that none is silently ignored.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedpandaBlockConfig {
    /// Brokers to connect to first; entries may hold comma-separated lists.
    #[serde(default)]
    seed_brokers: Vec<String>,
    /// The client id sent to brokers.
    #[serde(default = "default_client_id")]
    client_id: String,
    /// TLS settings of the connection.
    #[serde(default)]
    tls: TlsConfig,
    /// SASL mechanisms to authenticate with (only one is supported yet).
    #[serde(default)]
    sasl: Vec<SaslConfig>,
    /// How often cluster metadata is refreshed.
    #[serde(default)]
    metadata_max_age: Option<GoDuration>,
    /// Extra time allowed for requests on top of their own timeouts (has no effect: librdkafka has no equivalent; a startup warning says so).
    #[serde(default)]
    request_timeout_overhead: Option<GoDuration>,
    /// How long an idle connection stays open.
    #[serde(default)]
    conn_idle_timeout: Option<GoDuration>,
    /// The pipeline id written into log and status events.
    #[serde(default)]
    pipeline_id: String,
    /// A topic logs are also written to (not supported yet).
    #[serde(default)]
    logs_topic: String,
    /// The level of the logs written to logs_topic.
    #[serde(default)]
    logs_level: Option<String>,
    /// A topic status events are written to (not supported yet).
    #[serde(default)]
    status_topic: String,
    /// Producer settings of `redpanda_common` outputs (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    partitioner: Option<Node>,
    /// Producer settings of `redpanda_common` outputs (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    idempotent_write: Option<Node>,
    /// Producer settings of `redpanda_common` outputs (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    compression: Option<Node>,
    /// Producer settings of `redpanda_common` outputs (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    timeout: Option<Node>,
    /// Producer settings of `redpanda_common` outputs (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    max_message_bytes: Option<Node>,
    /// Producer settings of `redpanda_common` outputs (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    broker_write_max_bytes: Option<Node>,
    /// Producer settings of `redpanda_common` outputs (not supported yet).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    allow_auto_topic_creation: Option<Node>,
}

/// The shared connection, as `redpanda` components find it in the
/// resources.
pub(crate) struct RedpandaConnection {
    pub(crate) seed_brokers: Vec<String>,
    pub(crate) client_id: String,
    pub(crate) tls: TlsConfig,
    pub(crate) sasl: Vec<SaslConfig>,
    pub(crate) metadata_max_age: Option<GoDuration>,
    pub(crate) conn_idle_timeout: Option<GoDuration>,
}

/// Reads the block; what it does not support yet is a lint at its line.
pub(crate) fn parse(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Arc<RedpandaConnection>> {
    let config: RedpandaBlockConfig = builder.config(node)?;
    let line_of = |key: &str| {
        node.as_map()
            .and_then(|entries| entries.iter().find(|(k, _)| k.as_str() == Some(key)))
            .map_or(node.mark, |(k, _)| k.mark)
    };
    let mut lints = Vec::new();
    for (key, given) in [
        ("logs_topic", !config.logs_topic.is_empty()),
        ("status_topic", !config.status_topic.is_empty()),
    ] {
        if given {
            lints.push(Lint::error(
                line_of(key),
                format!("field {key} of the redpanda block is not supported yet"),
            ));
        }
    }
    for (key, value) in [
        ("partitioner", &config.partitioner),
        ("idempotent_write", &config.idempotent_write),
        ("compression", &config.compression),
        ("timeout", &config.timeout),
        ("max_message_bytes", &config.max_message_bytes),
        ("broker_write_max_bytes", &config.broker_write_max_bytes),
        (
            "allow_auto_topic_creation",
            &config.allow_auto_topic_creation,
        ),
    ] {
        if value.is_some() {
            lints.push(Lint::error(
                line_of(key),
                format!(
                    "field {key} of the redpanda block configures redpanda_common outputs, which are not supported yet"
                ),
            ));
        }
    }
    if config.seed_brokers.is_empty() {
        lints.push(Lint::error(
            node.mark,
            "the redpanda block needs seed_brokers",
        ));
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    if config.request_timeout_overhead.is_some() {
        builder.warn(
            line_of("request_timeout_overhead"),
            "field request_timeout_overhead of the redpanda block has no effect: librdkafka has no equivalent",
        );
    }
    // Both only describe the log and status events refused above.
    let _ = (config.pipeline_id, config.logs_level);
    Ok(Arc::new(RedpandaConnection {
        seed_brokers: config.seed_brokers,
        client_id: config.client_id,
        tls: config.tls,
        sasl: config.sasl,
        metadata_max_age: config.metadata_max_age,
        conn_idle_timeout: config.conn_idle_timeout,
    }))
}
