//! `redis`: a cache in a Redis server, shared by every sluice instance that
//! points at it, with Benthos's fields (`url`, `prefix`, `default_ttl`,
//! `retries`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::runtime::backoff::Backoff;

use crate::redis_client::{
    ClientFields, LazyConnection, TlsToggle, default_client_name, default_kind,
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisConfig {
    /// The server's URL (`redis://host:6379/1`, database as the path).
    url: String,
    /// Only `simple` is supported.
    #[serde(default = "default_kind")]
    kind: String,
    /// The master's name for the `failover` kind (not supported yet).
    #[serde(default)]
    master: String,
    /// The name the connection announces to the server (`CLIENT SETNAME`
    /// when it is first made).
    #[serde(default = "default_client_name")]
    client_name: String,
    /// TLS settings; only `enabled: false` is supported yet.
    #[serde(default)]
    tls: TlsToggle,
    /// Prepended to every key, so several services can share a server.
    #[serde(default)]
    prefix: String,
    /// The time to live of a write that gives none; empty keeps entries.
    #[serde(default)]
    default_ttl: Option<GoDuration>,
    /// How a failed command is retried.
    #[serde(default)]
    retries: Retries,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct Retries {
    /// The first wait after a failed command.
    initial_interval: GoDuration,
    /// The longest wait between attempts.
    max_interval: GoDuration,
    /// How long one operation is retried in all; 0s tries once.
    max_elapsed_time: GoDuration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            initial_interval: GoDuration::from_millis(500),
            max_interval: GoDuration::from_secs(1),
            max_elapsed_time: GoDuration::from_secs(5),
        }
    }
}

pub(crate) struct RedisCache {
    connection: LazyConnection,
    prefix: String,
    default_ttl: Option<Duration>,
    retries: Retries,
}

impl RedisCache {
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `command` until it succeeds or the retries' time is spent,
    /// as Benthos's exponential backoff does.
    async fn run<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T, CacheError> {
        let started = Instant::now();
        let mut backoff =
            Backoff::new(self.retries.initial_interval.0, self.retries.max_interval.0)
                .with_factor(1.5)
                .with_jitter(0.5);
        loop {
            let attempt = match self.connection.get().await {
                Ok(mut conn) => command.query_async::<T>(&mut conn).await,
                Err(err) => Err(err),
            };
            let err = match attempt {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let wait = backoff.next_wait();
            if started.elapsed() + wait > self.retries.max_elapsed_time.0 {
                return Err(CacheError::Failed(Box::new(err)));
            }
            tracing::debug!(error = %err, "Redis command failed, retrying.");
            tokio::time::sleep(wait).await;
        }
    }

    fn ttl_millis(&self, ttl: Option<Duration>) -> Option<u64> {
        ttl.or(self.default_ttl)
            .filter(|d| !d.is_zero())
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
    }

    fn set_command(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> redis::Cmd {
        let mut command = redis::cmd("SET");
        command.arg(self.key(key)).arg(value);
        if let Some(ms) = self.ttl_millis(ttl) {
            command.arg("PX").arg(ms);
        }
        command
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Bytes, CacheError> {
        let mut command = redis::cmd("GET");
        command.arg(self.key(key));
        match self.run::<Option<Vec<u8>>>(command).await? {
            Some(value) => Ok(Bytes::from(value)),
            None => Err(CacheError::NotFound),
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        self.run::<()>(self.set_command(key, &value, ttl)).await
    }

    async fn add(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), CacheError> {
        let mut command = self.set_command(key, &value, ttl);
        command.arg("NX");
        // `SET .. NX` answers nil when the key was there.
        match self.run::<Option<String>>(command).await? {
            Some(_) => Ok(()),
            None => Err(CacheError::AlreadyExists),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.key(key));
        self.run::<i64>(command).await.map(drop)
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Arc<dyn Cache>> {
    let config: RedisConfig = builder.config(node)?;
    let client = crate::redis_client::open(&ClientFields {
        url: &config.url,
        kind: &config.kind,
        master: &config.master,
        tls: config.tls.enabled,
    })
    .map_err(|message| vec![Lint::error(node.mark, message)])?;
    Ok(Arc::new(RedisCache {
        connection: LazyConnection::new(client, config.client_name),
        prefix: config.prefix,
        default_ttl: config.default_ttl.map(|d| d.0),
        retries: config.retries,
    }))
}
