//! Processors, one file per Benthos component (`catch.rs` also holds `try`
//! and `switch`, which share its routing logic).

pub(crate) mod archive;
pub(crate) mod branch;
pub(crate) mod cache;
pub(crate) mod cached;
pub(crate) mod catch;
pub(crate) mod compress;
pub(crate) mod crash;
pub(crate) mod dedupe;
pub(crate) mod doc_path;
pub(crate) mod flow;
pub(crate) mod grok;
pub(crate) mod http;
pub(crate) mod jmespath;
pub(crate) mod jq;
pub(crate) mod json_schema;
pub(crate) mod log;
pub(crate) mod mapping;
pub(crate) mod metric;
pub(crate) mod mutation;
pub(crate) mod parallel;
pub(crate) mod protobuf;
pub(crate) mod rate_limit;
pub(crate) mod resource;
pub(crate) mod sleep;
pub(crate) mod sync_response;
pub(crate) mod workflow;

use sluice_core::message::{Batch, Message};

/// A processor's output of `messages`: one batch, or none when every
/// message was filtered out (an empty batch is never passed on).
pub(crate) fn one_batch(messages: Vec<Message>) -> Vec<Batch> {
    if messages.is_empty() {
        Vec::new()
    } else {
        vec![Batch::new(messages)]
    }
}
