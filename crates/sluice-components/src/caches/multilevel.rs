//! `multilevel`: cache resources used as levels, read through and written
//! through in order, as Benthos's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};

/// One level: the cache and its label, for logs.
struct Level {
    label: String,
    cache: Arc<dyn Cache>,
}

pub(crate) struct MultilevelCache {
    levels: Vec<Level>,
}

#[async_trait]
impl Cache for MultilevelCache {
    /// The first level that has the key answers; the levels before it are
    /// given the value (failures there are only logged).
    async fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        for (index, level) in self.levels.iter().enumerate() {
            match level.cache.get(key).await {
                Ok(value) => {
                    for earlier in &self.levels[..index] {
                        if let Err(err) = earlier.cache.set(key, value.clone(), None).await {
                            tracing::error!(
                                cache = %earlier.label, error = %err,
                                "Unable to passively set key '{key}' for cache '{}': {err}",
                                earlier.label
                            );
                        }
                    }
                    return Ok(value);
                }
                Err(CacheError::NotFound) => {}
                Err(err) => return Err(err),
            }
        }
        Err(CacheError::NotFound)
    }

    /// Sets every level in order, stopping at the first failure.
    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        for level in &self.levels {
            level.cache.set(key, value.clone(), ttl).await?;
        }
        Ok(())
    }

    /// Fails if any level but the last has the key; otherwise adds to the
    /// last level, then to the others from the back.
    async fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        let (last, upper) = self
            .levels
            .split_last()
            .expect("a multilevel cache has at least two levels");
        for level in upper {
            match level.cache.get(key).await {
                Ok(_) => return Err(CacheError::AlreadyExists),
                Err(CacheError::NotFound) => {}
                Err(err) => return Err(err),
            }
        }
        last.cache.add(key, value.clone(), ttl).await?;
        for level in upper.iter().rev() {
            level.cache.add(key, value.clone(), ttl).await?;
        }
        Ok(())
    }

    /// Deletes from every level in order, stopping at the first failure.
    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        for level in &self.levels {
            match level.cache.delete(key).await {
                Ok(()) | Err(CacheError::NotFound) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Arc<dyn Cache>> {
    let labels: Vec<String> = builder.config(node)?;
    if labels.len() < 2 {
        return Err(vec![Lint::error(
            node.mark,
            format!("expected at least two cache levels, found {}", labels.len()),
        )]);
    }
    let marks = node.as_seq().unwrap_or_default();
    let mut levels = Vec::new();
    let mut lints = Vec::new();
    for (index, label) in labels.into_iter().enumerate() {
        let mark = marks.get(index).map_or(node.mark, |n| n.mark);
        match builder.cache_resource(&label, mark) {
            Ok(cache) => levels.push(Level { label, cache }),
            Err(l) => lints.extend(l),
        }
    }
    if !lints.is_empty() {
        return Err(lints);
    }
    Ok(Arc::new(MultilevelCache { levels }))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A level that records what it was asked, answering from a map.
    #[derive(Default)]
    struct Recorded {
        entries: Mutex<std::collections::HashMap<String, Bytes>>,
        calls: Mutex<Vec<String>>,
    }

    impl Recorded {
        fn with(key: &str, value: &str) -> Self {
            let level = Self::default();
            level
                .entries
                .lock()
                .unwrap()
                .insert(key.to_owned(), Bytes::from(value.to_owned()));
            level
        }

        fn log(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    #[async_trait]
    impl Cache for Recorded {
        async fn get(&self, key: &str) -> Result<Bytes, CacheError> {
            self.log(format!("get {key}"));
            self.entries
                .lock()
                .unwrap()
                .get(key)
                .cloned()
                .ok_or(CacheError::NotFound)
        }

        async fn set(
            &self,
            key: &str,
            value: Bytes,
            _: Option<Duration>,
        ) -> Result<(), CacheError> {
            self.log(format!("set {key}"));
            self.entries.lock().unwrap().insert(key.to_owned(), value);
            Ok(())
        }

        async fn add(
            &self,
            key: &str,
            value: Bytes,
            _: Option<Duration>,
        ) -> Result<(), CacheError> {
            self.log(format!("add {key}"));
            let mut entries = self.entries.lock().unwrap();
            if entries.contains_key(key) {
                return Err(CacheError::AlreadyExists);
            }
            entries.insert(key.to_owned(), value);
            Ok(())
        }

        async fn delete(&self, key: &str) -> Result<(), CacheError> {
            self.log(format!("delete {key}"));
            self.entries.lock().unwrap().remove(key);
            Ok(())
        }
    }

    fn multilevel(levels: &[&Arc<Recorded>]) -> MultilevelCache {
        MultilevelCache {
            levels: levels
                .iter()
                .enumerate()
                .map(|(i, cache)| Level {
                    label: format!("l{i}"),
                    cache: Arc::clone(cache) as Arc<dyn Cache>,
                })
                .collect(),
        }
    }

    fn calls(level: &Recorded) -> Vec<String> {
        std::mem::take(&mut *level.calls.lock().unwrap())
    }

    #[tokio::test]
    async fn a_hit_in_a_later_level_is_written_back_to_the_earlier_ones() {
        let (hot, warm, cold) = (
            Arc::new(Recorded::default()),
            Arc::new(Recorded::default()),
            Arc::new(Recorded::with("k", "v")),
        );
        let cache = multilevel(&[&hot, &warm, &cold]);
        assert_eq!(cache.get("k").await.unwrap(), "v");
        assert_eq!(calls(&hot), ["get k", "set k"]);
        assert_eq!(calls(&warm), ["get k", "set k"]);
        assert_eq!(calls(&cold), ["get k"]);
        assert_eq!(cache.get("k").await.unwrap(), "v");
        assert_eq!(calls(&hot), ["get k"]);
        assert!(calls(&warm).is_empty());
        assert!(matches!(cache.get("x").await, Err(CacheError::NotFound)));
    }

    #[tokio::test]
    async fn writes_go_to_every_level() {
        let (hot, cold) = (Arc::new(Recorded::default()), Arc::new(Recorded::default()));
        let cache = multilevel(&[&hot, &cold]);
        cache.set("a", Bytes::from("1"), None).await.unwrap();
        assert_eq!(calls(&hot), ["set a"]);
        assert_eq!(calls(&cold), ["set a"]);
        cache.add("b", Bytes::from("2"), None).await.unwrap();
        assert_eq!(calls(&hot), ["get b", "add b"]);
        assert_eq!(calls(&cold), ["add b"]);
        assert!(matches!(
            cache.add("b", Bytes::from("3"), None).await,
            Err(CacheError::AlreadyExists)
        ));
        assert_eq!(calls(&hot), ["get b"]);
        assert!(calls(&cold).is_empty(), "the first level already had it");
        cache.delete("a").await.unwrap();
        assert_eq!(calls(&hot), ["delete a"]);
        assert_eq!(calls(&cold), ["delete a"]);
    }
}
