//! `local` rate limit: at most `count` accesses per `interval`.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::component::BoxError;
use sluice_core::config::{GoDuration, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::rate_limit::RateLimit;
use tokio::time::Instant;

fn default_count() -> u64 {
    1000
}
fn default_interval() -> GoDuration {
    GoDuration(Duration::from_secs(1))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LocalConfig {
    /// How many accesses each interval allows.
    #[serde(default = "default_count")]
    count: u64,
    /// The length of each interval.
    #[serde(default = "default_interval")]
    interval: GoDuration,
    /// How many bytes each interval allows; 0 means no byte limit.
    #[serde(default)]
    byte_size: u64,
}

struct Window {
    started: Instant,
    used: u64,
}

/// A fixed window counter, as Benthos's local rate limit.
struct LocalRateLimit {
    count: u64,
    interval: Duration,
    window: Mutex<Window>,
}

#[async_trait]
impl RateLimit for LocalRateLimit {
    async fn access(&self) -> Result<Duration, BoxError> {
        let mut window = self.window.lock().expect("rate limit lock poisoned");
        let now = Instant::now();
        let elapsed = now.duration_since(window.started);
        if elapsed >= self.interval {
            window.started = now;
            window.used = 0;
        }
        if window.used < self.count {
            window.used += 1;
            return Ok(Duration::ZERO);
        }
        Ok(self.interval - now.duration_since(window.started))
    }
}

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Arc<dyn RateLimit>> {
    let config: LocalConfig = builder.config(node)?;
    if config.byte_size > 0 {
        return Err(vec![sluice_core::config::Lint::error(
            node.mark,
            "local rate limit field byte_size is not supported yet",
        )]);
    }
    Ok(Arc::new(LocalRateLimit {
        count: config.count.max(1),
        interval: config.interval.0,
        window: Mutex::new(Window {
            started: Instant::now(),
            used: 0,
        }),
    }))
}
