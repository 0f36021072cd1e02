//! `memory`: a cache in the process's memory, with a default time to live
//! and periodic compaction of expired entries, as Benthos's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::config::{GoDuration, Node};
use sluice_core::environment::{BuildResult, Builder};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoryConfig {
    /// How long an entry lives unless its write gives a TTL; `0s` or empty
    /// keeps entries until deleted.
    #[serde(default = "default_ttl")]
    default_ttl: GoDuration,
    /// How often expired entries are swept out, at most, on writes; empty
    /// never sweeps (expired entries are still never returned).
    #[serde(default = "default_compaction")]
    compaction_interval: GoDuration,
    /// Entries the cache starts with.
    #[serde(default)]
    init_values: HashMap<String, String>,
    /// Accepted for compatibility: one lock serves every key here.
    #[serde(default = "default_shards")]
    shards: u64,
}

fn default_ttl() -> GoDuration {
    GoDuration::from_secs(300)
}

fn default_compaction() -> GoDuration {
    GoDuration::from_secs(60)
}

const fn default_shards() -> u64 {
    1
}

struct Entry {
    value: Bytes,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

struct State {
    entries: HashMap<String, Entry>,
    last_compaction: Instant,
}

pub(crate) struct MemoryCache {
    state: Mutex<State>,
    default_ttl: Option<Duration>,
    compaction_interval: Option<Duration>,
}

impl MemoryCache {
    fn expiry(&self, ttl: Option<Duration>, now: Instant) -> Option<Instant> {
        ttl.or(self.default_ttl)
            .filter(|d| !d.is_zero())
            .map(|d| now + d)
    }

    /// Runs `f` on the entries under the lock, sweeping expired entries
    /// first when a compaction is due.
    fn with_state<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(every) = self.compaction_interval
            && now.duration_since(state.last_compaction) >= every
        {
            state.entries.retain(|_, e| e.live(now));
            state.last_compaction = now;
        }
        f(&mut state.entries, now)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        self.with_state(|entries, now| match entries.get(key) {
            Some(entry) if entry.live(now) => Ok(entry.value.clone()),
            _ => Err(CacheError::NotFound),
        })
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        self.with_state(|entries, now| {
            let expires = self.expiry(ttl, now);
            entries.insert(key.to_owned(), Entry { value, expires });
            Ok(())
        })
    }

    async fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        self.with_state(|entries, now| {
            if entries.get(key).is_some_and(|e| e.live(now)) {
                return Err(CacheError::AlreadyExists);
            }
            let expires = self.expiry(ttl, now);
            entries.insert(key.to_owned(), Entry { value, expires });
            Ok(())
        })
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.with_state(|entries, _| {
            entries.remove(key);
            Ok(())
        })
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Arc<dyn Cache>> {
    let config: MemoryConfig = builder.config(node)?;
    let _ = config.shards;
    let now = Instant::now();
    let default_ttl = Some(config.default_ttl.0).filter(|d| !d.is_zero());
    let entries = config
        .init_values
        .into_iter()
        .map(|(k, v)| {
            let expires = default_ttl.map(|d| now + d);
            (
                k,
                Entry {
                    value: Bytes::from(v),
                    expires,
                },
            )
        })
        .collect();
    Ok(Arc::new(MemoryCache {
        state: Mutex::new(State {
            entries,
            last_compaction: now,
        }),
        default_ttl,
        compaction_interval: Some(config.compaction_interval.0).filter(|d| !d.is_zero()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(ttl: Duration) -> MemoryCache {
        MemoryCache {
            state: Mutex::new(State {
                entries: HashMap::new(),
                last_compaction: Instant::now(),
            }),
            default_ttl: Some(ttl),
            compaction_interval: Some(Duration::from_millis(1)),
        }
    }

    #[tokio::test]
    async fn set_get_add_delete_and_expiry() {
        let c = cache(Duration::from_secs(60));
        assert!(matches!(c.get("a").await, Err(CacheError::NotFound)));
        c.set("a", Bytes::from("1"), None).await.unwrap();
        assert_eq!(c.get("a").await.unwrap(), "1");
        assert!(matches!(
            c.add("a", Bytes::from("2"), None).await,
            Err(CacheError::AlreadyExists)
        ));
        c.delete("a").await.unwrap();
        c.add("a", Bytes::from("2"), None).await.unwrap();
        assert_eq!(c.get("a").await.unwrap(), "2");
        c.set("short", Bytes::from("x"), Some(Duration::from_millis(5)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(matches!(c.get("short").await, Err(CacheError::NotFound)));
        // An expired key can be added again.
        c.add("short", Bytes::from("y"), None).await.unwrap();
    }
}
