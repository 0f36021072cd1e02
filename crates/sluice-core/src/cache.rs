//! The cache contract (Benthos `cache_resources`): keys to bytes, with an
//! optional time to live per entry, shared by every component that names
//! the cache's label.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::component::BoxError;

/// Why a cache operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// `get` of a key that is not there (Benthos's `ErrKeyNotFound`).
    #[error("key does not exist")]
    NotFound,
    /// `add` of a key that is there already (`ErrKeyAlreadyExists`).
    #[error("key already exists")]
    AlreadyExists,
    /// The cache itself failed (a remote store unreachable, say).
    #[error(transparent)]
    Failed(BoxError),
}

/// A cache. One instance serves every user of its label, concurrently.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value under `key`.
    async fn get(&self, key: &str) -> Result<Bytes, CacheError>;
    /// Stores `value` under `key`, replacing what was there; `ttl` overrides
    /// the cache's default time to live.
    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Stores `value` only when `key` is absent.
    async fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Removes `key`; removing an absent key is no error.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
}
