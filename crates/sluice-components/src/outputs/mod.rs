//! Outputs, one file per Benthos component.

pub(crate) mod broker;
pub(crate) mod drop;
pub(crate) mod file;
pub(crate) mod http_client;
pub(crate) mod reject;
pub(crate) mod stdout;
pub(crate) mod sync_response;
