//! Inputs, one file per Benthos component.

#[cfg(feature = "amqp")]
pub(crate) mod amqp_0_9;
pub(crate) mod broker;
pub(crate) mod file;
pub(crate) mod generate;
pub(crate) mod http_client;
pub(crate) mod http_server;
pub(crate) mod inproc;
#[cfg(feature = "kafka")]
pub(crate) mod kafka;
#[cfg(feature = "kafka")]
pub(crate) mod kafka_franz;
#[cfg(feature = "kafka")]
pub(crate) mod redpanda;
pub(crate) mod resource;
pub(crate) mod sequence;
pub(crate) mod stdin;
