//! Caches, one file per Benthos component, used through `cache_resources`.

pub(crate) mod lru;
pub(crate) mod memory;
pub(crate) mod multilevel;
pub(crate) mod redis;
pub(crate) mod ttlru;

use std::time::Duration;

use sluice_core::config::parse_go_duration;

/// A TTL given as an interpolated string (`ttl: ${! @ttl }`): empty is
/// none, anything else must be a Go duration.
pub(crate) fn parse_ttl(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    parse_go_duration(text)
        .map(Some)
        .map_err(|e| format!("invalid ttl {text:?}: {e}"))
}
