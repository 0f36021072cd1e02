//! The sluice engine: the message model, transactions and acknowledgements,
//! response stores, component contracts, the component registry, config
//! loading and the stream runtime.

pub mod cache;
pub mod component;
pub mod config;
pub mod deadline;
pub mod environment;
pub mod intern;
pub mod message;
pub mod metrics;
pub mod rate_limit;
pub mod response;
pub mod runtime;
pub mod template;
pub mod trace;
pub mod transaction;

pub use async_trait::async_trait;
