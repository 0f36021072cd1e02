//! Outputs, one file per Benthos component.

#[cfg(feature = "amqp")]
pub(crate) mod amqp_0_9;
pub(crate) mod broker;
pub(crate) mod drop;
pub(crate) mod drop_on;
pub(crate) mod fallback;
pub(crate) mod file;
pub(crate) mod http_client;
pub(crate) mod inproc;
#[cfg(feature = "kafka")]
pub(crate) mod kafka;
#[cfg(feature = "kafka")]
pub(crate) mod kafka_franz;
#[cfg(feature = "kafka")]
pub(crate) mod redpanda;
pub(crate) mod reject;
pub(crate) mod reject_errored;
pub(crate) mod resource;
pub(crate) mod retry;
pub(crate) mod stdout;
pub(crate) mod switch;
pub(crate) mod sync_response;
