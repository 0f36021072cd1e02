//! Inputs, one file per Benthos component.

pub(crate) mod broker;
pub(crate) mod file;
pub(crate) mod generate;
pub(crate) mod http_server;
pub(crate) mod stdin;
