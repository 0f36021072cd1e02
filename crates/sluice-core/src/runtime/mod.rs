//! The tokio runtime side: streams, pipelines, output drivers, batching.

pub mod backoff;
pub mod batching;
pub mod connection;
pub mod observed;
pub mod output;
pub mod retries;
pub mod stream;
pub mod strict;
