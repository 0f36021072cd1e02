//! `redpanda` output: `kafka_franz` with Redpanda's defaults.

pub(crate) use super::kafka_franz::build_redpanda as build;
