//! Processors, one file per Benthos component (`catch.rs` also holds `try`
//! and `switch`, which share its routing logic).

pub(crate) mod archive;
pub(crate) mod branch;
pub(crate) mod cache;
pub(crate) mod cached;
pub(crate) mod catch;
pub(crate) mod compress;
pub(crate) mod dedupe;
pub(crate) mod flow;
pub(crate) mod http;
pub(crate) mod log;
pub(crate) mod mapping;
pub(crate) mod mutation;
pub(crate) mod rate_limit;
pub(crate) mod resource;
pub(crate) mod sleep;
pub(crate) mod sync_response;
