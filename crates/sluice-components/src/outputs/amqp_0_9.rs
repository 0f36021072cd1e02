//! `amqp_0_9` output: publishes each message to an exchange; the write is
//! acknowledged by the broker's publisher confirm.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Interpolation;
use sluice_core::component::output::{Output, OutputError};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder, BuiltOutput};
use sluice_core::message::{Batch, Message};
use tokio::sync::Mutex;

use crate::amqp::{AmqpTls, TlsConfig, connect, expand_urls, tls_config};

fn default_content_type() -> String {
    "application/octet-stream".to_owned()
}
fn default_max_in_flight() -> usize {
    64
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmqpOutputConfig {
    /// AMQP URLs to connect to; the first that accepts the connection is used.
    urls: Vec<String>,
    /// The exchange messages are published to; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    exchange: String,
    /// Declares the exchange when connecting if it does not exist.
    #[serde(default)]
    exchange_declare: ExchangeDeclareConfig,
    /// The routing key of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    key: String,
    /// The type property of each message; supports interpolation.
    #[serde(default, rename = "type")]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    kind: String,
    /// The content type property of each message; supports interpolation.
    #[serde(default = "default_content_type")]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    content_type: String,
    /// The content encoding property of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    content_encoding: String,
    /// The correlation id property of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    correlation_id: String,
    /// The reply-to property of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    reply_to: String,
    /// The expiration property of each message in milliseconds; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    expiration: String,
    /// The message id property of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    message_id: String,
    /// The user id property of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    user_id: String,
    /// The application id property of each message; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    app_id: String,
    /// Which message metadata keys are left out of the message headers.
    #[serde(default)]
    metadata: ExcludeConfig,
    /// The priority of each message, 0 to 9; supports interpolation.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    priority: String,
    /// How many messages may be awaiting their publisher confirm at once.
    #[serde(default = "default_max_in_flight")]
    max_in_flight: usize,
    /// Whether the broker stores messages on disk.
    #[serde(default)]
    persistent: bool,
    /// Whether the broker must route each message to at least one queue.
    #[serde(default)]
    mandatory: bool,
    /// Whether the broker must hand each message to a consumer at once.
    #[serde(default)]
    immediate: bool,
    /// How long a publish may wait for its confirm (not supported yet).
    #[serde(default)]
    #[schemars(with = "sluice_core::config::GoDuration")]
    timeout: String,
    /// TLS settings of `amqps://` URLs: trusted CAs, one client certificate, skip_cert_verify (encrypted keys and renegotiation are not supported yet).
    #[serde(default)]
    tls: TlsConfig,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct ExchangeDeclareConfig {
    /// Whether the exchange is declared.
    enabled: bool,
    /// The exchange type: direct, fanout, topic, headers or x-custom.
    #[serde(rename = "type")]
    kind: String,
    /// Whether the exchange survives a broker restart.
    durable: bool,
    /// Extra arguments of the declaration.
    arguments: BTreeMap<String, String>,
}

impl Default for ExchangeDeclareConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            kind: "direct".to_owned(),
            durable: true,
            arguments: BTreeMap::new(),
        }
    }
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct ExcludeConfig {
    /// Metadata keys starting with any of these prefixes are left out.
    exclude_prefixes: Vec<String>,
}

struct Properties {
    kind: Interpolation,
    content_type: Interpolation,
    content_encoding: Interpolation,
    correlation_id: Interpolation,
    reply_to: Interpolation,
    expiration: Interpolation,
    message_id: Interpolation,
    user_id: Interpolation,
    app_id: Interpolation,
    priority: Interpolation,
}

struct Connected {
    _connection: Connection,
    channel: Channel,
}

struct AmqpOutput {
    urls: Vec<String>,
    tls: AmqpTls,
    exchange: Interpolation,
    key: Interpolation,
    declare: ExchangeDeclareConfig,
    properties: Properties,
    exclude_prefixes: Vec<String>,
    persistent: bool,
    mandatory: bool,
    immediate: bool,
    state: Mutex<Option<Arc<Connected>>>,
}

fn failed(text: impl Into<String>) -> OutputError {
    OutputError::Failed(text.into().into())
}

/// AMQP's short strings hold at most 255 bytes (their length is one byte);
/// a longer value would corrupt the frame, so the message fails instead.
fn short_string(what: &str, value: String) -> Result<ShortString, OutputError> {
    if value.len() > usize::from(u8::MAX) {
        return Err(failed(format!(
            "the {what} is {} bytes long, more than AMQP's limit of 255",
            value.len()
        )));
    }
    Ok(ShortString::from(value))
}

/// The message's metadata as AMQP headers, leaving out `exclude_prefixes`.
/// A key longer than AMQP's 255 bytes (an HTTP header name, say) cannot be
/// a header name: it is left out with a warning rather than corrupting the
/// frame or failing a message that did not choose its keys.
pub(crate) fn message_headers(msg: &Message, exclude_prefixes: &[String]) -> FieldTable {
    let mut headers = FieldTable::default();
    for (k, v) in msg.metadata() {
        if exclude_prefixes.iter().any(|p| k.starts_with(p.as_str())) {
            continue;
        }
        if k.len() > usize::from(u8::MAX) {
            tracing::warn!(
                key_bytes = k.len(),
                "Metadata key longer than 255 bytes left out of the AMQP headers."
            );
            continue;
        }
        headers.insert(
            ShortString::from(k.as_str()),
            AMQPValue::LongString(LongString::from(v.to_interp_string())),
        );
    }
    headers
}

impl AmqpOutput {
    /// The exchange, routing key and properties of message `index`.
    fn prepare(
        &self,
        batch: &Batch,
        index: usize,
    ) -> Result<(ShortString, ShortString, BasicProperties), OutputError> {
        let msg = &batch[index];
        let render = |i: &Interpolation| {
            i.render(&batch[..], index)
                .map_err(|e| failed(format!("failed to interpolate: {e}")))
        };
        let exchange = render(&self.exchange)?;
        let key = render(&self.key)?;
        let p = &self.properties;
        let mut props = BasicProperties::default()
            .with_content_type(short_string("content_type", render(&p.content_type)?)?);
        let set = |props: BasicProperties,
                   what: &str,
                   value: String,
                   f: fn(BasicProperties, ShortString) -> BasicProperties| {
            if value.is_empty() {
                Ok(props)
            } else {
                Ok(f(props, short_string(what, value)?))
            }
        };
        props = set(
            props,
            "content_encoding",
            render(&p.content_encoding)?,
            BasicProperties::with_content_encoding,
        )?;
        props = set(
            props,
            "correlation_id",
            render(&p.correlation_id)?,
            BasicProperties::with_correlation_id,
        )?;
        props = set(
            props,
            "reply_to",
            render(&p.reply_to)?,
            BasicProperties::with_reply_to,
        )?;
        props = set(
            props,
            "expiration",
            render(&p.expiration)?,
            BasicProperties::with_expiration,
        )?;
        props = set(
            props,
            "message_id",
            render(&p.message_id)?,
            BasicProperties::with_message_id,
        )?;
        props = set(
            props,
            "user_id",
            render(&p.user_id)?,
            BasicProperties::with_user_id,
        )?;
        props = set(
            props,
            "app_id",
            render(&p.app_id)?,
            BasicProperties::with_app_id,
        )?;
        props = set(props, "type", render(&p.kind)?, BasicProperties::with_type)?;
        let priority = render(&p.priority)?;
        if !priority.is_empty() {
            let value: u8 = priority.trim().parse().map_err(|_| {
                failed(format!(
                    "priority {priority:?} is not a number from 0 to 255"
                ))
            })?;
            props = props.with_priority(value);
        }
        if self.persistent {
            props = props.with_delivery_mode(2);
        }
        props = props.with_headers(message_headers(msg, &self.exclude_prefixes));
        Ok((
            short_string("exchange", exchange)?,
            short_string("key", key)?,
            props,
        ))
    }

    async fn current(&self) -> Result<Arc<Connected>, OutputError> {
        let state = self.state.lock().await;
        match &*state {
            Some(c) if c.channel.status().connected() => Ok(Arc::clone(c)),
            _ => Err(OutputError::NotConnected),
        }
    }
}

#[async_trait]
impl Output for AmqpOutput {
    async fn connect(&self) -> Result<(), OutputError> {
        let connection = connect(&self.urls, &self.tls).await.map_err(failed)?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| failed(e.to_string()))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| failed(e.to_string()))?;
        if self.declare.enabled {
            let exchange = self
                .exchange
                .render(&[] as &[sluice_core::message::Message], 0)
                .map_err(|e| failed(e.to_string()))?;
            let kind = match self.declare.kind.as_str() {
                "direct" => ExchangeKind::Direct,
                "fanout" => ExchangeKind::Fanout,
                "topic" => ExchangeKind::Topic,
                "headers" => ExchangeKind::Headers,
                other => ExchangeKind::Custom(other.to_owned()),
            };
            let mut args = FieldTable::default();
            for (k, v) in &self.declare.arguments {
                args.insert(
                    ShortString::from(k.as_str()),
                    AMQPValue::LongString(LongString::from(v.as_str())),
                );
            }
            channel
                .exchange_declare(
                    ShortString::from(exchange),
                    kind,
                    ExchangeDeclareOptions {
                        durable: self.declare.durable,
                        ..ExchangeDeclareOptions::default()
                    },
                    args,
                )
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        *self.state.lock().await = Some(Arc::new(Connected {
            _connection: connection,
            channel,
        }));
        Ok(())
    }

    async fn write(&self, batch: &Batch) -> Result<(), OutputError> {
        let connected = self.current().await?;
        // Every publish is prepared first, so that a message the protocol
        // cannot carry fails the batch before any of it is sent.
        let publishes = (0..batch.len())
            .map(|index| self.prepare(batch, index))
            .collect::<Result<Vec<_>, _>>()?;
        let mut confirms = Vec::with_capacity(batch.len());
        for (msg, (exchange, key, props)) in batch.iter().zip(publishes) {
            let confirm = connected
                .channel
                .basic_publish(
                    exchange,
                    key,
                    BasicPublishOptions {
                        mandatory: self.mandatory,
                        immediate: self.immediate,
                    },
                    msg.content(),
                    props,
                )
                .await
                .map_err(|e| {
                    if connected.channel.status().connected() {
                        failed(e.to_string())
                    } else {
                        OutputError::NotConnected
                    }
                })?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            match confirm.await.map_err(|e| failed(e.to_string()))? {
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                Confirmation::Ack(Some(returned)) => {
                    return Err(failed(format!(
                        "message was returned by the broker: {}",
                        returned.reply_text.as_str()
                    )));
                }
                Confirmation::Nack(_) => return Err(failed("message was nacked by the broker")),
            }
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), OutputError> {
        if let Some(connected) = self.state.lock().await.take() {
            let _closed = connected.channel.close(200, ShortString::from("bye")).await;
        }
        Ok(())
    }

    fn connected(&self) -> bool {
        self.state
            .try_lock()
            .map(|s| s.as_ref().is_some_and(|c| c.channel.status().connected()))
            .unwrap_or(true)
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<BuiltOutput> {
    let config: AmqpOutputConfig = builder.config(node)?;
    let mark = node.mark;
    let mut lints = Vec::new();
    let tls = tls_config(&config.tls).unwrap_or_else(|e| {
        lints.push(Lint::error(mark, e));
        Default::default()
    });
    if !config.timeout.is_empty() {
        lints.push(Lint::error(
            mark,
            "amqp_0_9 field timeout is not supported yet",
        ));
    }
    let mut interp = |text: &str| {
        builder
            .interpolation(text, mark)
            .map_err(|l| lints.extend(l))
            .ok()
    };
    let exchange = interp(&config.exchange);
    let key = interp(&config.key);
    let props = (
        interp(&config.kind),
        interp(&config.content_type),
        interp(&config.content_encoding),
        interp(&config.correlation_id),
        interp(&config.reply_to),
        interp(&config.expiration),
        interp(&config.message_id),
        interp(&config.user_id),
        interp(&config.app_id),
        interp(&config.priority),
    );
    let (
        Some(exchange),
        Some(key),
        (
            Some(kind),
            Some(content_type),
            Some(content_encoding),
            Some(correlation_id),
            Some(reply_to),
            Some(expiration),
            Some(message_id),
            Some(user_id),
            Some(app_id),
            Some(priority),
        ),
    ) = (exchange, key, props)
    else {
        return Err(lints);
    };
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(BuiltOutput {
        output: Arc::new(AmqpOutput {
            urls: expand_urls(&config.urls),
            tls,
            exchange,
            key,
            declare: config.exchange_declare,
            properties: Properties {
                kind,
                content_type,
                content_encoding,
                correlation_id,
                reply_to,
                expiration,
                message_id,
                user_id,
                app_id,
                priority,
            },
            exclude_prefixes: config.metadata.exclude_prefixes,
            persistent: config.persistent,
            mandatory: config.mandatory,
            immediate: config.immediate,
            state: Mutex::new(None),
        }),
        max_in_flight: config.max_in_flight.max(1),
        batching: None,
    })
}
