//! `lru`: a memory cache holding at most `cap` entries, evicting the least
//! recently used, as Benthos's (its `standard` algorithm).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LruConfig {
    /// The most entries held.
    #[serde(default = "default_cap")]
    cap: usize,
    /// Entries the cache starts with.
    #[serde(default)]
    init_values: HashMap<String, String>,
    /// Only `standard` is supported.
    #[serde(default = "default_algorithm")]
    algorithm: String,
    /// Accepted for compatibility (the lock is always held briefly).
    #[serde(default)]
    optimistic: bool,
}

const fn default_cap() -> usize {
    1000
}

fn default_algorithm() -> String {
    "standard".to_owned()
}

pub(crate) struct LruCache {
    entries: Mutex<lru::LruCache<String, Bytes>>,
}

impl LruCache {
    fn locked(&self) -> std::sync::MutexGuard<'_, lru::LruCache<String, Bytes>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Cache for LruCache {
    async fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        self.locked().get(key).cloned().ok_or(CacheError::NotFound)
    }

    // Benthos's lru has no time to live: a TTL is ignored, as there.
    async fn set(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        self.locked().put(key.to_owned(), value);
        Ok(())
    }

    async fn add(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        let mut entries = self.locked();
        if entries.contains(key) {
            return Err(CacheError::AlreadyExists);
        }
        entries.put(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.locked().pop(key);
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Arc<dyn Cache>> {
    let config: LruConfig = builder.config(node)?;
    let _ = config.optimistic;
    if config.algorithm != "standard" {
        return Err(vec![Lint::error(
            node.mark,
            format!(
                "lru algorithm '{}' is not supported yet (only standard)",
                config.algorithm
            ),
        )]);
    }
    let Some(cap) = NonZeroUsize::new(config.cap) else {
        return Err(vec![Lint::error(node.mark, "lru cap must be above 0")]);
    };
    let mut entries = lru::LruCache::new(cap);
    for (k, v) in config.init_values {
        entries.put(k, Bytes::from(v));
    }
    Ok(Arc::new(LruCache {
        entries: Mutex::new(entries),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_least_recently_used_entry_goes_first() {
        let cache = LruCache {
            entries: Mutex::new(lru::LruCache::new(NonZeroUsize::new(2).unwrap())),
        };
        cache.set("a", Bytes::from("1"), None).await.unwrap();
        cache.set("b", Bytes::from("2"), None).await.unwrap();
        cache.get("a").await.unwrap();
        cache.set("c", Bytes::from("3"), None).await.unwrap();
        assert!(matches!(cache.get("b").await, Err(CacheError::NotFound)));
        assert_eq!(cache.get("a").await.unwrap(), "1");
        assert!(matches!(
            cache.add("c", Bytes::from("x"), None).await,
            Err(CacheError::AlreadyExists)
        ));
    }
}
