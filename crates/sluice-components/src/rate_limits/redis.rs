//! `redis` rate limit: at most `count` accesses per `interval` across every
//! sluice instance sharing the key, counted in a Redis server with the same
//! script as Benthos's (INCR, PEXPIRE on the first access of a window, the
//! key's PTTL as the wait once the count is spent).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::BoxError;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::rate_limit::RateLimit;

use crate::redis_client::{
    ClientFields, LazyConnection, TlsToggle, default_client_name, default_kind,
};

fn default_count() -> i64 {
    1000
}

fn default_interval() -> GoDuration {
    GoDuration::from_secs(1)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisRateLimitConfig {
    /// The server's URL (`redis://host:6379/1`, database as the path).
    url: String,
    /// Only `simple` is supported.
    #[serde(default = "default_kind")]
    kind: String,
    /// The master's name for the `failover` kind (not supported yet).
    #[serde(default)]
    master: String,
    /// The name the connection announces to the server.
    #[serde(default = "default_client_name")]
    client_name: String,
    /// TLS settings; only `enabled: false` is supported yet.
    #[serde(default)]
    tls: TlsToggle,
    /// How many accesses each interval allows.
    #[serde(default = "default_count")]
    count: i64,
    /// The length of each interval.
    #[serde(default = "default_interval")]
    interval: GoDuration,
    /// The key the accesses are counted under; instances with the same key share the limit.
    key: String,
}

const ACCESS: &str = r#"
local current = redis.call("INCR", KEYS[1])
if current == 1 then
    redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
end
if current > tonumber(ARGV[1]) then
    return redis.call("PTTL", KEYS[1])
end
return 0
"#;

struct RedisRateLimit {
    connection: LazyConnection,
    script: redis::Script,
    key: String,
    count: i64,
    interval_ms: u64,
}

#[async_trait]
impl RateLimit for RedisRateLimit {
    async fn access(&self) -> Result<Duration, BoxError> {
        let mut conn = self.connection.get().await?;
        let wait_ms: i64 = self
            .script
            .key(&self.key)
            .arg(self.count)
            .arg(self.interval_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| format!("accessing redis rate limit: {e}"))?;
        // PTTL is -1 for a key without expiry (it lost it somehow): wait a
        // whole interval rather than spin.
        Ok(match wait_ms {
            0 => Duration::ZERO,
            ms if ms < 0 => Duration::from_millis(self.interval_ms),
            ms => Duration::from_millis(ms.unsigned_abs()),
        })
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Arc<dyn RateLimit>> {
    let config: RedisRateLimitConfig = builder.config(node)?;
    let lint = |message: String| vec![Lint::error(node.mark, message)];
    if config.count <= 0 {
        return Err(lint("count must be larger than zero".to_owned()));
    }
    let client = crate::redis_client::open(&ClientFields {
        url: &config.url,
        kind: &config.kind,
        master: &config.master,
        tls: config.tls.enabled,
    })
    .map_err(lint)?;
    Ok(Arc::new(RedisRateLimit {
        connection: LazyConnection::new(client, config.client_name),
        script: redis::Script::new(ACCESS),
        key: config.key,
        count: config.count,
        interval_ms: u64::try_from(config.interval.0.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
    }))
}
