//! `ttlru`: at most `cap` entries in memory, each living `default_ttl` from
//! its last write, the least recently used evicted first when full (as
//! Benthos's, on hashicorp's expirable LRU).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TtlruConfig {
    /// The most entries held.
    #[serde(default = "default_cap")]
    cap: i64,
    /// How long an entry lives after it was last written; reads do not
    /// extend it, and a TTL given with a write is ignored.
    #[serde(default = "default_ttl")]
    default_ttl: GoDuration,
    /// Deprecated: default_ttl under its older name; wins when set.
    #[serde(default)]
    ttl: Option<GoDuration>,
    /// Entries the cache starts with.
    #[serde(default)]
    init_values: HashMap<String, String>,
    /// Accepted for compatibility: add always checks and writes under one
    /// lock here.
    #[serde(default)]
    optimistic: bool,
}

const fn default_cap() -> i64 {
    1024
}

const fn default_ttl() -> GoDuration {
    GoDuration::from_secs(300)
}

struct Entry {
    value: Bytes,
    expires: Instant,
}

pub(crate) struct TtlruCache {
    entries: Mutex<lru::LruCache<String, Entry>>,
    ttl: Duration,
}

impl TtlruCache {
    fn new(cap: NonZeroUsize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(lru::LruCache::new(cap)),
            ttl,
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, lru::LruCache<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `key`, restarting its time to live. A new key in a full cache
    /// first takes the place of expired entries, which Benthos's cache
    /// sweeps away on its own, and only then evicts a live one.
    fn put(&self, entries: &mut lru::LruCache<String, Entry>, key: &str, value: Bytes) {
        let now = Instant::now();
        if entries.len() == entries.cap().get() && !entries.contains(key) {
            let expired: Vec<String> = entries
                .iter()
                .filter(|(_, entry)| entry.expires <= now)
                .map(|(key, _)| key.clone())
                .collect();
            for key in expired {
                entries.pop(&key);
            }
        }
        let expires = now + self.ttl;
        entries.put(key.to_owned(), Entry { value, expires });
    }
}

#[async_trait]
impl Cache for TtlruCache {
    async fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        let mut entries = self.locked();
        match entries.get(key) {
            Some(entry) if entry.expires > Instant::now() => Ok(entry.value.clone()),
            _ => Err(CacheError::NotFound),
        }
    }

    async fn set(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        let mut entries = self.locked();
        self.put(&mut entries, key, value);
        Ok(())
    }

    async fn add(&self, key: &str, value: Bytes, _ttl: Option<Duration>) -> Result<(), CacheError> {
        let mut entries = self.locked();
        if entries
            .peek(key)
            .is_some_and(|entry| entry.expires > Instant::now())
        {
            return Err(CacheError::AlreadyExists);
        }
        self.put(&mut entries, key, value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.locked().pop(key);
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Arc<dyn Cache>> {
    let config: TtlruConfig = builder.config(node)?;
    let _ = config.optimistic;
    let ttl = match config.ttl {
        Some(ttl) => {
            let mark = node.get("ttl").map_or(node.mark, |n| n.mark);
            builder.warn(
                mark,
                "field \"ttl\" is deprecated, please use \"default_ttl\"",
            );
            ttl
        }
        None => config.default_ttl,
    };
    let Some(cap) = usize::try_from(config.cap).ok().and_then(NonZeroUsize::new) else {
        return Err(vec![Lint::error(
            node.get("cap").map_or(node.mark, |n| n.mark),
            "invalid ttlru cache parameter capacity: must be bigger than 0",
        )]);
    };
    if ttl.0.is_zero() {
        return Err(vec![Lint::error(
            node.mark,
            "invalid ttlru cache parameter default_ttl: must be bigger than 0s",
        )]);
    }
    let cache = TtlruCache::new(cap, ttl.0);
    {
        let mut entries = cache.locked();
        for (key, value) in config.init_values {
            cache.put(&mut entries, &key, Bytes::from(value));
        }
    }
    Ok(Arc::new(cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(cap: usize, ttl: Duration) -> TtlruCache {
        TtlruCache::new(NonZeroUsize::new(cap).unwrap(), ttl)
    }

    #[tokio::test]
    async fn entries_expire_a_ttl_after_their_last_write() {
        let c = cache(10, Duration::from_millis(40));
        c.set("a", Bytes::from("1"), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(c.get("a").await.unwrap(), "1");
        assert!(matches!(
            c.add("a", Bytes::from("2"), None).await,
            Err(CacheError::AlreadyExists)
        ));
        tokio::time::sleep(Duration::from_millis(60)).await;
        // The TTL given with the write was ignored: the entry is gone.
        assert!(matches!(c.get("a").await, Err(CacheError::NotFound)));
        c.add("a", Bytes::from("3"), None).await.unwrap();
        assert_eq!(c.get("a").await.unwrap(), "3");
        c.delete("a").await.unwrap();
        assert!(matches!(c.get("a").await, Err(CacheError::NotFound)));
    }

    #[tokio::test]
    async fn a_full_cache_evicts_the_least_recently_used_after_the_expired() {
        let c = cache(2, Duration::from_secs(60));
        c.set("a", Bytes::from("1"), None).await.unwrap();
        c.set("b", Bytes::from("2"), None).await.unwrap();
        c.get("a").await.unwrap();
        c.set("c", Bytes::from("3"), None).await.unwrap();
        assert!(matches!(c.get("b").await, Err(CacheError::NotFound)));
        assert_eq!(c.get("a").await.unwrap(), "1");

        let c = cache(2, Duration::from_millis(30));
        c.set("old", Bytes::from("1"), None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.set("b", Bytes::from("2"), None).await.unwrap();
        c.get("old").await.unwrap_err();
        c.set("c", Bytes::from("3"), None).await.unwrap();
        // "b" was used less recently than the expired "old", yet stays.
        assert_eq!(c.get("b").await.unwrap(), "2");
        assert_eq!(c.get("c").await.unwrap(), "3");
    }
}
