//! Processors, one file per Benthos component (`catch.rs` also holds `try`
//! and `switch`, which share its routing logic).

pub(crate) mod catch;
pub(crate) mod http;
pub(crate) mod log;
pub(crate) mod mapping;
pub(crate) mod resource;
pub(crate) mod sleep;
pub(crate) mod sync_response;
