//! `amqp_0_9` input: consumes a queue; a delivered message is acked, a
//! failed one is nacked with requeue, or dead-lettered when its error
//! matches `nack_reject_patterns`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, Consumer};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Value;
use sluice_core::component::input::{Input, InputError};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use sluice_core::transaction::{Ack, Outcome, Transaction};

use crate::amqp::{AmqpTls, TlsConfig, connect, expand_urls, flatten_headers, tls_config};

fn default_prefetch() -> u16 {
    10
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmqpInputConfig {
    /// AMQP URLs to connect to; the first that accepts the connection is used.
    urls: Vec<String>,
    /// The queue to consume from.
    queue: String,
    /// Declares the queue when connecting if it does not exist.
    #[serde(default)]
    queue_declare: QueueDeclareConfig,
    /// Bindings of the queue to exchanges, declared when connecting.
    #[serde(default)]
    bindings_declare: Vec<BindingConfig>,
    /// The consumer tag of the subscription.
    #[serde(default)]
    consumer_tag: String,
    /// Whether the broker counts messages as acknowledged on delivery rather than after processing.
    #[serde(default)]
    auto_ack: bool,
    /// Regular expressions; a failed message whose error matches one is rejected instead of requeued.
    #[serde(default)]
    nack_reject_patterns: Vec<String>,
    /// How many unacknowledged messages the broker may send ahead.
    #[serde(default = "default_prefetch")]
    prefetch_count: u16,
    /// How many unacknowledged bytes the broker may send ahead; only 0, no limit, is supported yet.
    #[serde(default)]
    prefetch_size: u32,
    /// TLS settings of `amqps://` URLs: trusted CAs, one client certificate, skip_cert_verify (encrypted keys and renegotiation are not supported yet).
    #[serde(default)]
    tls: TlsConfig,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct QueueDeclareConfig {
    /// Whether the queue is declared.
    enabled: bool,
    /// Whether the queue survives a broker restart.
    durable: bool,
    /// Whether the queue is deleted once its last consumer leaves.
    auto_delete: bool,
    /// Extra arguments of the declaration, such as x-queue-type.
    arguments: BTreeMap<String, String>,
}

impl Default for QueueDeclareConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            durable: true,
            auto_delete: false,
            arguments: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BindingConfig {
    /// The exchange the queue is bound to.
    #[serde(default)]
    exchange: String,
    /// The routing key of the binding.
    #[serde(default)]
    key: String,
}

struct Connected {
    connection: Connection,
    channel: Channel,
    consumer: Consumer,
}

/// How long `close` waits for the acks of messages still in flight.
const ACK_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

struct AmqpInput {
    config: AmqpInputConfig,
    urls: Vec<String>,
    tls: AmqpTls,
    reject: Vec<Regex>,
    connected: Option<Connected>,
    /// Deliveries read whose ack or nack has not reached the broker yet.
    pending: Arc<AtomicUsize>,
}

fn failed(text: impl Into<String>) -> InputError {
    InputError::Failed(text.into().into())
}

fn arguments(map: &BTreeMap<String, String>) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in map {
        // Numeric arguments (x-message-ttl, x-max-length) must reach the
        // broker as numbers.
        let value = match v.parse::<i64>() {
            Ok(n) => AMQPValue::LongLongInt(n),
            Err(_) => AMQPValue::LongString(LongString::from(v.as_str())),
        };
        table.insert(ShortString::from(k.as_str()), value);
    }
    table
}

impl AmqpInput {
    async fn open(&self) -> Result<Connected, InputError> {
        let connection = connect(&self.urls, &self.tls).await.map_err(failed)?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let config = &self.config;
        if config.queue_declare.enabled {
            channel
                .queue_declare(
                    ShortString::from(config.queue.as_str()),
                    QueueDeclareOptions {
                        durable: config.queue_declare.durable,
                        auto_delete: config.queue_declare.auto_delete,
                        ..QueueDeclareOptions::default()
                    },
                    arguments(&config.queue_declare.arguments),
                )
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        for binding in &config.bindings_declare {
            channel
                .queue_bind(
                    ShortString::from(config.queue.as_str()),
                    ShortString::from(binding.exchange.as_str()),
                    ShortString::from(binding.key.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        if !config.auto_ack {
            channel
                .basic_qos(config.prefetch_count, BasicQosOptions::default())
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        let consumer = channel
            .basic_consume(
                ShortString::from(config.queue.as_str()),
                ShortString::from(config.consumer_tag.as_str()),
                BasicConsumeOptions {
                    no_ack: config.auto_ack,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(Connected {
            connection,
            channel,
            consumer,
        })
    }

    fn to_message(delivery: &Delivery, consumer_tag: &str) -> Message {
        let mut msg = Message::new(delivery.data.clone());
        let meta = msg.metadata_mut();
        let props = &delivery.properties;
        let text = |v: &Option<ShortString>| Value::from(v.as_ref().map_or("", |s| s.as_str()));
        meta.insert("amqp_content_type".into(), text(props.content_type()));
        meta.insert(
            "amqp_content_encoding".into(),
            text(props.content_encoding()),
        );
        meta.insert(
            "amqp_delivery_mode".into(),
            Value::Int(i64::from(props.delivery_mode().unwrap_or(0))),
        );
        meta.insert(
            "amqp_priority".into(),
            Value::Int(i64::from(props.priority().unwrap_or(0))),
        );
        meta.insert("amqp_correlation_id".into(), text(props.correlation_id()));
        meta.insert("amqp_reply_to".into(), text(props.reply_to()));
        meta.insert("amqp_expiration".into(), text(props.expiration()));
        meta.insert("amqp_message_id".into(), text(props.message_id()));
        let timestamp = props
            .timestamp()
            .map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX));
        meta.insert("amqp_timestamp".into(), Value::Int(timestamp));
        meta.insert("amqp_type".into(), text(props.kind()));
        meta.insert("amqp_user_id".into(), text(props.user_id()));
        meta.insert("amqp_app_id".into(), text(props.app_id()));
        meta.insert("amqp_consumer_tag".into(), Value::from(consumer_tag));
        meta.insert(
            "amqp_delivery_tag".into(),
            Value::Int(i64::try_from(delivery.delivery_tag).unwrap_or(i64::MAX)),
        );
        meta.insert("amqp_redelivered".into(), Value::Bool(delivery.redelivered));
        meta.insert(
            "amqp_exchange".into(),
            Value::from(delivery.exchange.as_str()),
        );
        meta.insert(
            "amqp_routing_key".into(),
            Value::from(delivery.routing_key.as_str()),
        );
        if let Some(headers) = props.headers() {
            flatten_headers("", headers, meta);
        }
        msg
    }
}

#[async_trait]
impl Input for AmqpInput {
    async fn connect(&mut self) -> Result<(), InputError> {
        self.connected = Some(self.open().await?);
        Ok(())
    }

    async fn read(&mut self) -> Result<Transaction, InputError> {
        let connected = self.connected.as_mut().ok_or(InputError::NotConnected)?;
        let consumer_tag = connected.consumer.tag().as_str().to_owned();
        let delivery = match connected.consumer.next().await {
            Some(Ok(delivery)) => delivery,
            Some(Err(err)) => {
                tracing::warn!(error = %err, "AMQP consumer failed, reconnecting.");
                self.connected = None;
                return Err(InputError::NotConnected);
            }
            None => {
                self.connected = None;
                return Err(InputError::NotConnected);
            }
        };
        let msg = Self::to_message(&delivery, &consumer_tag);
        if self.config.auto_ack {
            return Ok(Transaction::new(Batch::from(msg), Ack::detached()));
        }
        let acker = delivery.acker;
        let reject = self.reject.clone();
        let pending = Arc::clone(&self.pending);
        pending.fetch_add(1, Ordering::AcqRel);
        let ack = Ack::from_fn(move |outcome| {
            tokio::spawn(async move {
                let res = match outcome {
                    Outcome::Delivered => acker.ack(BasicAckOptions::default()).await,
                    Outcome::Failed(err) => {
                        let text = err.to_string();
                        let requeue = !reject.iter().any(|r| r.is_match(&text));
                        acker
                            .nack(BasicNackOptions {
                                multiple: false,
                                requeue,
                            })
                            .await
                    }
                };
                if let Err(err) = res {
                    tracing::warn!(error = %err, "Failed to acknowledge AMQP delivery; the broker will redeliver it.");
                }
                pending.fetch_sub(1, Ordering::AcqRel);
            });
        });
        Ok(Transaction::new(Batch::from(msg), ack))
    }

    async fn close(&mut self) -> Result<(), InputError> {
        let Some(connected) = self.connected.take() else {
            return Ok(());
        };
        // Stop deliveries, but keep the connection until the messages in
        // flight were acked or nacked: closing it first would make the
        // broker redeliver messages that were already delivered.
        let tag = ShortString::from(connected.consumer.tag().as_str());
        let _cancelled = connected
            .channel
            .basic_cancel(tag, BasicCancelOptions::default())
            .await;
        let deadline = Instant::now() + ACK_DRAIN_TIMEOUT;
        while self.pending.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _closed = connected
            .connection
            .close(200, ShortString::from("bye"))
            .await;
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Input>> {
    let config: AmqpInputConfig = builder.config(node)?;
    let mark = node.mark;
    let mut lints = Vec::new();
    let tls = tls_config(&config.tls).unwrap_or_else(|e| {
        lints.push(Lint::error(mark, e));
        Default::default()
    });
    if config.prefetch_size > 0 {
        lints.push(Lint::error(
            mark,
            "amqp_0_9 field prefetch_size is not supported yet",
        ));
    }
    let mut reject = Vec::new();
    for p in &config.nack_reject_patterns {
        match Regex::new(p) {
            Ok(r) => reject.push(r),
            Err(e) => lints.push(Lint::error(
                mark,
                format!("invalid nack_reject_patterns entry {p:?}: {e}"),
            )),
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(Box::new(AmqpInput {
        urls: expand_urls(&config.urls),
        tls,
        config,
        reject,
        connected: None,
        pending: Arc::new(AtomicUsize::new(0)),
    }))
}
